/* The eval loop.
 *
 * How it runs
 * -----------
 * run() executes frames on one thread until the frame it was entered with
 * returns. A call from bytecode to bytecode does not recurse in C: CALL pushes
 * the callee's frame on the thread's data stack (runtime/frame.h owns frames
 * and writes down the calling convention: the callee's locals are the
 * argument slots the caller pushed) and the loop goes
 * on with the new frame; RETURN_VALUE pops it and goes on with the caller.
 * Only C code that calls back into bytecode (gv_eval_call) nests run(), and
 * that nesting is bounded (GV_C_RECURSION_LIMIT).
 *
 * The verifier has proven every operand in range, every jump target valid and
 * every stack access within the frame's reserved area, so the loop checks
 * none of that. It does check types, since values are dynamic.
 *
 * Registers and the sync rule
 * ---------------------------
 * The current frame `f`, its instruction pointer `pc`, operand stack pointer
 * `sp` and `locals` live in C locals. They are written back to the frame
 * (SAVE_FRAME) before anything that can leave the loop or look at the frame
 * from outside: calling a builtin, the eval breaker's slow path, a push of a
 * new frame. After a frame change the locals are reloaded (LOAD_FRAME).
 *
 * Exceptions
 * ----------
 * An instruction that fails jumps to `error` with the exception set on the
 * thread. The unwinder adds the frame to the traceback, looks for the
 * innermost handler covering the failing instruction in the code's exception
 * table (zero cost: nothing runs when a try range is entered), and either
 * lands there (stack cut back, the exception pushed and entered on the
 * thread's handled-exception stack) or pops the frame and repeats in the
 * caller.
 *
 * The eval breaker
 * ----------------
 * One relaxed atomic load at backward jumps and at function entry: so a loop
 * that never calls still notices a request within one iteration, and the
 * fast path pays one load and a predictable branch. */
#include "eval.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../runtime/breaker.h"
#include "../runtime/dict.h"
#include "../runtime/errors.h"
#include "../runtime/exc.h"
#include "../runtime/func.h"
#include "../runtime/gen.h"
#include "../runtime/list.h"
#include "../runtime/str.h"
#include "../runtime/thread.h"
#include "opcodes.h"

GV_COLD _Noreturn static void fatal(const char *msg) {
    fflush(stdout);
    fprintf(stderr, "gilvm: fatal error: %s\n", msg);
    exit(134);
}

/* ---- calls that do not push a frame ---- */

static int call_builtin(GvThreadState *ts, GvBuiltin *b, int argc, GvValue *argv, GvValue *out) {
    if (argc < b->min_args || (b->max_args >= 0 && argc > b->max_args)) {
        if (b->min_args == b->max_args)
            return gv_err_format(&gv_type_TypeError, "%s() takes %d argument%s (%d given)", b->name,
                                 b->min_args, b->min_args == 1 ? "" : "s", argc);
        if (argc < b->min_args)
            return gv_err_format(&gv_type_TypeError, "%s() takes at least %d argument%s (%d given)",
                                 b->name, b->min_args, b->min_args == 1 ? "" : "s", argc);
        return gv_err_format(&gv_type_TypeError, "%s() takes at most %d argument%s (%d given)",
                             b->name, b->max_args, b->max_args == 1 ? "" : "s", argc);
    }
    return b->fn(ts, argc, argv, out);
}

/* Calling an exception type makes an instance: ValueError("bad"). */
static int call_type(GvType *t, int argc, GvValue *argv, GvValue *out) {
    if (argc > 1)
        return gv_err_format(&gv_type_TypeError, "%s() takes at most 1 argument (%d given)", t->name,
                             argc);
    GvObject *msg = NULL;
    if (argc == 1) {
        /* A KeyError shows its key as a repr, as Python's does: KeyError: 'k'. */
        msg = gv_type_is_subtype(t, &gv_type_KeyError) ? gv_repr(argv[0]) : gv_str(argv[0]);
        if (!msg) return -1;
    }
    GvObject *e = gv_exc_new(t, msg, argc == 1 ? argv[0] : gv_none());
    gv_xdecref(msg);
    if (!e) return -1;
    *out = gv_obj(e);
    return 0;
}

/* Any callable but a bytecode function. */
static int call_other(GvThreadState *ts, GvValue callable, int argc, GvValue *argv, GvValue *out) {
    if (gv_is_kind(callable, GV_KBUILTIN))
        return call_builtin(ts, (GvBuiltin *)callable.as.o, argc, argv, out);
    if (gv_is_kind(callable, GV_KTYPE)) return call_type((GvType *)callable.as.o, argc, argv, out);
    if (gv_is_kind(callable, GV_KGENFUNC)) {
        /* A generator function: bind the arguments, run nothing. */
        GvObject *g = gv_gen_new((GvFunction *)callable.as.o, argc, argv);
        if (!g) return -1;
        *out = gv_obj(g);
        return 0;
    }
    return gv_err_format(&gv_type_TypeError, "'%s' object is not callable", gv_type_name(callable));
}

/* ---- tracing ---- */

/* The traced copy of code: every word a TRACE that reports, then runs the
 * original instruction. Made the first time a traced thread runs the code. */
GV_COLD static const GvInstr *traced_array(GvCode *code) {
    if (!code->traced) {
        GvInstr *t = gv_malloc((code->ninstrs ? code->ninstrs : 1) * sizeof *t);
        if (!t) return NULL; /* MemoryError */
        for (uint32_t i = 0; i < code->ninstrs; i++) t[i] = GV_MAKE_INSTR(GV_OP_TRACE, 0);
        code->traced = t;
    }
    return code->traced;
}

/* A new frame of a traced thread runs the traced copy. 0 or -1. */
GV_COLD static int trace_setup_frame(GvFrame *f) {
    const GvInstr *t = traced_array(f->code);
    if (!t) return -1;
    f->base = t;
    f->trace_line = 0;
    f->trace_last = 0;
    return 0;
}

void gv_eval_retarget(GvThreadState *t) {
    for (GvFrame *f = t->current_frame; f; f = f->prev) {
        const GvInstr *want = t->trace_active ? traced_array(f->code) : f->code->quick;
        if (!want) {
            gv_err_clear(t); /* out of memory: this frame stays as it is */
            continue;
        }
        if (want == f->base) continue;
        f->pc = want + (f->pc - f->base);
        f->base = want;
        f->trace_line = 0;
        f->trace_last = (uint32_t)(f->pc - f->base);
    }
}

/* Calls the hooks for one event. 0, or -1 with the hook's exception. */
GV_COLD static int trace_event(GvThreadState *ts, GvFrame *f, GvValue *sp, GvTraceWhat what, uint32_t at,
                       GvObject *arg);

/* RETURN of a frame an exception unwinds: no instruction, no value. */
GV_COLD static int trace_unwind_return(GvThreadState *ts, GvFrame *f, GvValue *sp, uint32_t at) {
    return trace_event(ts, f, sp, GV_TRACE_RETURN, at | 0x80000000u, NULL);
}

GV_COLD static int trace_event(GvThreadState *ts, GvFrame *f, GvValue *sp, GvTraceWhat what, uint32_t at,
                       GvObject *arg) {
    bool unwinding = (at & 0x80000000u) != 0; /* flag bit: instructions never reach 2^31 */
    at &= 0x7fffffffu;
    if (ts->tracing) return 0;
    GvTraceFunc tf = ts->c_tracefunc, pf = ts->c_profilefunc;
    bool profile_event = what == GV_TRACE_CALL || what == GV_TRACE_RETURN;
    if (!tf && !(pf && profile_event)) return 0;
    GvCode *code = f->code;
    GvTraceEvent ev = {
        .what = what,
        .thread_id = ts->id,
        .function = code->name ? gv_str_cstr(code->name) : "?",
        .filename = code->filename ? gv_str_cstr(code->filename) : "?",
        .line = gv_code_line(code, at),
        .offset = at,
        .opname = !unwinding && at < code->ninstrs ? gv_opinfo[GV_OP(code->instrs[at])].name : "",
        .depth = ts->recursion_depth,
        .stack_size = (int)(sp - gv_frame_stack_base(f)),
        .arg = arg,
    };
    int rc = 0;
    ts->tracing++;
    if (tf) rc = tf(ts->c_traceobj, &ev);
    if (rc == 0 && pf && profile_event) rc = pf(ts->c_profileobj, &ev);
    ts->tracing--;
    if (rc < 0 && !ts->current_exception)
        gv_err_format(&gv_type_RuntimeError, "a trace hook failed without setting an exception");
    return rc < 0 ? -1 : 0;
}

/* Before instruction `at` of a traced frame: LINE, OPCODE and RETURN events. */
GV_COLD static int trace_instruction(GvThreadState *ts, GvFrame *f, GvValue *sp, uint32_t at) {
    if (ts->tracing) return 0;
    GvCode *code = f->code;
    uint32_t line = gv_code_line(code, at);
    bool jumped_back = at < f->trace_last || (at == f->trace_last && at == 0 && f->trace_line);
    if (ts->c_tracefunc && (line != f->trace_line || jumped_back)) {
        f->trace_line = line;
        if (trace_event(ts, f, sp, GV_TRACE_LINE, at, NULL) < 0) return -1;
    }
    f->trace_last = at;
    if (ts->c_tracefunc && ts->trace_opcodes && trace_event(ts, f, sp, GV_TRACE_OPCODE, at, NULL) < 0)
        return -1;
    unsigned op = GV_OP(code->instrs[at]);
    if ((op == GV_OP_RETURN_VALUE || op == GV_OP_YIELD_VALUE) &&
        trace_event(ts, f, sp, GV_TRACE_RETURN, at, NULL) < 0)
        return -1;
    return 0;
}

/* The innermost handler covering instruction `at`, or NULL. */
static const GvExcEntry *find_handler(const GvCode *code, uint32_t at) {
    for (uint32_t i = 0; i < code->nexc; i++) {
        const GvExcEntry *e = &code->exc[i];
        if (at >= e->start && at < e->end) return e;
    }
    return NULL;
}

/* ---- the eval breaker's slow path ---- */

GV_COLD static int handle_eval_breaker(GvThreadState *ts) {
    if (gv_breaker_handle(ts) < 0) return -1;
    /* The budget bit stays set, so every checkpoint comes here while a
     * budget is active: the count costs the fast path nothing. */
    if (gv_eb_test(ts, GV_EB_BUDGET)) {
        if (ts->budget_left <= 0) {
            ts->budget_left = -1; /* spent: see budget_spent */
            return gv_err_format(&gv_type_RuntimeError, "instruction budget exhausted");
        }
        ts->budget_left--;
    }
    return 0;
}

/* Once the budget is spent no handler may catch anything: a handler that
 * caught the RuntimeError and looped (or called) would run forever, since
 * every checkpoint only raises again. Read on the error path only. */
static bool budget_spent(GvThreadState *ts) {
    return (gv_eb_test(ts, GV_EB_BUDGET)) &&
           ts->budget_left < 0;
}

void Gv_SetInstructionBudget(long long n) {
    GvThreadState *ts = gv_tstate_get();
    if (!ts) return;
    if (n < 0) {
        gv_eb_clear(ts, GV_EB_BUDGET);
        return;
    }
    ts->budget_left = n;
    gv_eb_set(ts, GV_EB_BUDGET);
}

/* ---- indexing ---- */

/* Python's wording differs between the two: "list indices must be integers
 * or slices, not str" but "string indices must be integers, not 'str'". */
static int index_of(GvValue key, bool is_list, int64_t *out) {
    if (!gv_is_intlike(key)) {
        if (is_list)
            return gv_err_format(&gv_type_TypeError, "list indices must be integers or slices, not %s",
                                 gv_type_name(key));
        return gv_err_format(&gv_type_TypeError, "string indices must be integers, not '%s'",
                             gv_type_name(key));
    }
    *out = key.as.i;
    return 0;
}

GV_COLD static int key_error(GvValue key) {
    GvThreadState *ts = gv_tstate_get();
    GvObject *msg = gv_repr(key);
    if (!msg) return -1;
    GvObject *e = gv_exc_new(&gv_type_KeyError, msg, key);
    gv_decref(msg);
    if (!e) return -1;
    gv_err_set_exc(ts, e);
    return -1;
}

static int load_index(GvValue c, GvValue key, GvValue *out) {
    int64_t i = 0;
    if (gv_is_kind(c, GV_KLIST)) {
        if (index_of(key, true, &i) < 0) return -1;
        return gv_list_get(gv_as_list(c), i, out);
    }
    if (gv_is_kind(c, GV_KDICT)) {
        int found = gv_dict_get(gv_as_dict(c), key, out);
        if (found < 0) return -1;
        return found ? 0 : key_error(key);
    }
    if (gv_is_kind(c, GV_KSTR)) {
        GvStr *s = gv_as_str(c);
        if (index_of(key, false, &i) < 0) return -1;
        if (i < 0) i += (int64_t)s->length;
        if (i < 0 || (uint64_t)i >= s->length)
            return gv_err_format(&gv_type_IndexError, "string index out of range");
        GvObject *ch = gv_str_char_at(s, (size_t)i);
        if (!ch) return -1;
        *out = gv_obj(ch);
        return 0;
    }
    return gv_err_format(&gv_type_TypeError, "'%s' object is not subscriptable", gv_type_name(c));
}

static int store_index(GvValue c, GvValue key, GvValue v) {
    int64_t i = 0;
    if (gv_is_kind(c, GV_KLIST)) {
        if (index_of(key, true, &i) < 0) return -1;
        return gv_list_set(gv_as_list(c), i, v);
    }
    if (gv_is_kind(c, GV_KDICT)) return gv_dict_set(gv_as_dict(c), key, v);
    return gv_err_format(&gv_type_TypeError, "'%s' object does not support item assignment",
                         gv_type_name(c));
}

GV_COLD static int load_global(GvThreadState *ts, GvObject *name, GvValue *out) {
    int found = gv_dict_get_str((GvDict *)ts->interp->globals, name, out);
    if (found == 0) found = gv_dict_get_str((GvDict *)ts->interp->builtins, name, out);
    if (found < 0) return -1;
    if (found == 0)
        return gv_err_format(&gv_type_NameError, "name '%s' is not defined", gv_str_cstr(name));
    return 0;
}

static int check_exc_match(GvValue exc, GvValue type, bool *out) {
    if (!gv_is_kind(type, GV_KTYPE))
        return gv_err_format(&gv_type_TypeError,
                             "catching classes that do not inherit from BaseException is not allowed");
    *out = gv_is_kind(exc, GV_KEXC) &&
           gv_type_is_subtype(gv_as_exc(exc)->type, (GvType *)type.as.o);
    return 0;
}

/* RAISE's operand: an instance is raised as it is, a type as a new instance. */
static int raise_value(GvThreadState *ts, GvValue v) {
    GvObject *exc;
    if (gv_is_kind(v, GV_KEXC)) {
        exc = v.as.o;
        gv_incref(exc);
    } else if (gv_is_kind(v, GV_KTYPE)) {
        exc = gv_exc_new((GvType *)v.as.o, NULL, gv_none());
        if (!exc) return -1;
    } else {
        return gv_err_format(&gv_type_TypeError, "exceptions must derive from BaseException");
    }
    gv_err_set_exc(ts, exc);
    return -1;
}

/* ---- the loop ---- */

/* Runs from `entry` until it returns (0, *result its value) or raises out of
 * it (-1), or, for a generator's frame, until it yields (1, *result the value
 * yielded; the frame stays current for the caller to suspend). `throwing`:
 * the exception set on ts is raised at the instruction before entry->pc (a
 * generator's suspension point) instead of running. */
static int run(GvThreadState *ts, GvFrame *entry, GvValue *result, bool throwing) {
    GvFrame *f = entry;
    const GvInstr *pc;
    const GvInstr *base; /* f->base: the array pc points into */
    GvValue *sp;
    GvValue *locals;
    GvInstr ins;
    GvDict *const globals = (GvDict *)ts->interp->globals;
    GvDict *const builtins = (GvDict *)ts->interp->builtins;
    bool reraise = false; /* the error being unwound keeps its traceback here */
    GvValue retval;       /* RETURN_VALUE's value, also set by LF_RETURN */

#define LOAD_FRAME()                 \
    do {                             \
        pc = f->pc;                  \
        base = f->base;              \
        sp = f->sp;                  \
        locals = f->locals;          \
    } while (0)
#define SAVE_FRAME()  \
    do {              \
        f->pc = pc;   \
        f->sp = sp;   \
    } while (0)
#define ARG() GV_ARG(ins)
#define PUSH(v) (*sp++ = (v))
#define POP() (*--sp)
#define TOP() (sp[-1])
#define SECOND() (sp[-2])
/* A jump checks the eval breaker when it goes backward, before it moves, so
 * an error raised there is located at the jump. */
#define JUMP_TO(target)                                      \
    do {                                                     \
        uint32_t to_ = (target);                             \
        if (base + to_ < pc) CHECK_EVAL_BREAKER();           \
        pc = base + to_; /* base may have changed (tracing) */ \
    } while (0)
#define CHECK_EVAL_BREAKER()                                                     \
    do {                                                                         \
        if (gv_eb_test(ts, ~0u)) {                                             \
            SAVE_FRAME();                                                        \
            if (handle_eval_breaker(ts) < 0) goto error;                         \
            SWITCH_TRACING();                                                    \
        }                                                                        \
    } while (0)
/* After the slow path: a hook set or removed moves this frame to the other
 * instruction array, at the same index. */
#define SWITCH_TRACING()                                                         \
    do {                                                                         \
        const GvInstr *want_ = ts->trace_active ? traced_array(f->code) : f->code->quick; \
        if (!want_) goto error;                                                  \
        if (want_ != base) {                                                     \
            pc = want_ + (pc - base);                                            \
            base = want_;                                                        \
            f->base = base;                                                      \
            f->trace_line = 0;                                                   \
            f->trace_last = (uint32_t)(pc - base);                               \
        }                                                                        \
    } while (0)

#if GV_COMPUTED_GOTO
    static const void *const dispatch_table[GV_NUM_OPCODES] = {
#define GV_OP_LABEL(name, kind, pops, pushes, flags, doc) &&op_##name,
        GV_OPCODES(GV_OP_LABEL)
#undef GV_OP_LABEL
    };
#define DISPATCH()                               \
    do {                                         \
        ins = *pc++;                             \
        goto *dispatch_table[GV_OP(ins)];        \
    } while (0)
#define CASE(name) op_##name:
#define EXECUTE() goto *dispatch_table[GV_OP(ins)] /* run `ins`, already fetched */
#define LOOP_BEGIN DISPATCH();
#define LOOP_END
#define RESUME() DISPATCH() /* continue at pc from outside the loop */
#else
#define DISPATCH() continue
/* Each case also gets the label computed goto uses, so that a superinstruction
 * can fall back with `goto op_NAME` in both modes; most go unused here. */
#pragma GCC diagnostic ignored "-Wunused-label"
#define CASE(name) case GV_OP_##name: op_##name:
#define RESUME() goto dispatch_top
#define EXECUTE() goto dispatch_ins
#define LOOP_BEGIN       \
    dispatch_top:        \
    for (;;) {           \
        ins = *pc++;     \
    dispatch_ins:        \
        switch (GV_OP(ins)) {
#define LOOP_END \
        }        \
        fatal("unknown opcode"); \
    }
#endif

    LOAD_FRAME();
    if (__builtin_expect(ts->trace_active, 0)) {
        SWITCH_TRACING();
        if (trace_event(ts, f, sp, GV_TRACE_CALL, 0, NULL) < 0) goto error;
    }
    if (__builtin_expect(throwing, 0)) goto error;
    CHECK_EVAL_BREAKER();

    LOOP_BEGIN

    CASE(NOP) { DISPATCH(); }

    CASE(LOAD_CONST) {
        PUSH(gv_vincref(f->consts[ARG()]));
        DISPATCH();
    }

    CASE(LOAD_SMALL_INT) {
        PUSH(gv_int(GV_SARG(ins)));
        DISPATCH();
    }

    CASE(POP_TOP) {
        GvValue v = POP();
        gv_vdecref(v);
        DISPATCH();
    }

    CASE(DUP_TOP) {
        GvValue v = TOP();
        PUSH(gv_vincref(v));
        DISPATCH();
    }

    CASE(ROT_TWO) {
        GvValue a = SECOND();
        SECOND() = TOP();
        TOP() = a;
        DISPATCH();
    }

    CASE(ROT_THREE) {
        /* a b c -> c a b */
        GvValue c = sp[-1];
        sp[-1] = sp[-2];
        sp[-2] = sp[-3];
        sp[-3] = c;
        DISPATCH();
    }

    CASE(LOAD_FAST) {
        GvValue v = locals[ARG()];
        PUSH(gv_vincref(v));
        DISPATCH();
    }

    CASE(STORE_FAST) {
        GvValue old = locals[ARG()];
        locals[ARG()] = POP();
        gv_vdecref(old);
        DISPATCH();
    }

    CASE(LOAD_GLOBAL) {
        /* The cache holds what this name meant when both dicts had the
         * versions it recorded; a borrowed value, held by the dict. */
        GvGlobalCache *c = &f->code->gcache[ARG()];
        if (c->globals_version == globals->version && c->builtins_version == builtins->version) {
            PUSH(gv_vincref(c->value));
            DISPATCH();
        }
        GvValue v;
        if (load_global(ts, f->code->names[ARG()], &v) < 0) goto error;
        c->value = v;
        c->globals_version = globals->version;
        c->builtins_version = builtins->version;
        PUSH(v);
        DISPATCH();
    }

    CASE(STORE_GLOBAL) {
        GvValue v = TOP();
        int rc = gv_dict_set((GvDict *)ts->interp->globals, gv_obj(f->code->names[ARG()]), v);
        if (rc < 0) goto error;
        sp--;
        gv_vdecref(v);
        DISPATCH();
    }

/* Binary arithmetic: an inline path for two ints, the general one otherwise. */
#define BINARY_OP(opname, binop, int_expr)                                 \
    CASE(opname) {                                                         \
        GvValue b = sp[-1], a = sp[-2];                                    \
        if (a.tag == GV_TINT && b.tag == GV_TINT) {                        \
            int64_t r;                                                     \
            if (!int_expr) {                                               \
                sp[-2] = gv_int(r);                                        \
                sp--;                                                      \
                DISPATCH();                                                \
            }                                                              \
        }                                                                  \
        GvValue r2;                                                        \
        if (gv_binary_op(binop, a, b, &r2) < 0) goto error;                \
        gv_vdecref(a);                                                     \
        gv_vdecref(b);                                                     \
        sp[-2] = r2;                                                       \
        sp--;                                                              \
        DISPATCH();                                                        \
    }

    BINARY_OP(BINARY_ADD, GV_OP_ADD, __builtin_add_overflow(a.as.i, b.as.i, &r))
    BINARY_OP(BINARY_SUB, GV_OP_SUB, __builtin_sub_overflow(a.as.i, b.as.i, &r))
    BINARY_OP(BINARY_MUL, GV_OP_MUL, __builtin_mul_overflow(a.as.i, b.as.i, &r))
#undef BINARY_OP

    {
        GvBinop binop;
    CASE(BINARY_DIV) { binop = GV_OP_DIV; goto binary_generic; }
    CASE(BINARY_FLOORDIV) { binop = GV_OP_FLOORDIV; goto binary_generic; }
    CASE(BINARY_MOD) { binop = GV_OP_MOD; goto binary_generic; }
    binary_generic: {
        GvValue b = sp[-1], a = sp[-2], r;
        if (gv_binary_op(binop, a, b, &r) < 0) goto error;
        gv_vdecref(a);
        gv_vdecref(b);
        sp[-2] = r;
        sp--;
        DISPATCH();
    }
    }

    CASE(UNARY_NEG) {
        GvValue a = TOP(), r;
        if (gv_negate(a, &r) < 0) goto error;
        gv_vdecref(a);
        TOP() = r;
        DISPATCH();
    }

    CASE(UNARY_NOT) {
        GvValue a = TOP();
        bool t = gv_truthy(a);
        gv_vdecref(a);
        TOP() = gv_bool(!t);
        DISPATCH();
    }

    {
        bool want_equal;
    CASE(COMPARE_EQ) { want_equal = true; goto compare_equality; }
    CASE(COMPARE_NE) { want_equal = false; goto compare_equality; }
    compare_equality: {
        GvValue b = sp[-1], a = sp[-2];
        int eq;
        if (a.tag == GV_TINT && b.tag == GV_TINT)
            eq = a.as.i == b.as.i;
        else if ((eq = gv_equal(a, b)) < 0)
            goto error;
        gv_vdecref(a);
        gv_vdecref(b);
        sp[-2] = gv_bool(eq == want_equal);
        sp--;
        DISPATCH();
    }
    }

/* Ordering: an inline path for two ints. */
#define COMPARE_OP(opname, cop, opchar)                                   \
    CASE(opname) {                                                        \
        GvValue b = sp[-1], a = sp[-2];                                   \
        int r;                                                            \
        if (a.tag == GV_TINT && b.tag == GV_TINT) {                       \
            r = a.as.i cop b.as.i;                                        \
        } else {                                                          \
            if ((r = gv_compare(a, b, opchar)) < 0) goto error;           \
            gv_vdecref(a);                                                \
            gv_vdecref(b);                                                \
        }                                                                 \
        sp[-2] = gv_bool(r);                                              \
        sp--;                                                             \
        DISPATCH();                                                       \
    }

    COMPARE_OP(COMPARE_LT, <, '<')
    COMPARE_OP(COMPARE_LE, <=, 'l')
    COMPARE_OP(COMPARE_GT, >, '>')
    COMPARE_OP(COMPARE_GE, >=, 'g')
#undef COMPARE_OP

    CASE(JUMP) {
        JUMP_TO(ARG());
        DISPATCH();
    }

    CASE(POP_JUMP_IF_FALSE) {
        GvValue v = POP();
        bool t = v.tag == GV_TBOOL ? v.as.i != 0 : gv_truthy(v);
        gv_vdecref(v);
        if (!t) JUMP_TO(ARG());
        DISPATCH();
    }

    CASE(POP_JUMP_IF_TRUE) {
        GvValue v = POP();
        bool t = v.tag == GV_TBOOL ? v.as.i != 0 : gv_truthy(v);
        gv_vdecref(v);
        if (t) JUMP_TO(ARG());
        DISPATCH();
    }

    /* ---- superinstructions (vm/quicken.c) ----
     * Operands come from the words that follow, which hold the original
     * sequence; pc points at the second word. Any case off the int fast
     * path runs the first original instruction (same operand) instead. */
#define NEXT_ARG(k) GV_ARG(pc[(k)])
/* The LOAD_SMALL_INT at pc[k] (see GV_SUPERINSTRUCTIONS): an int the compiler
 * knows is one, so the fast path's type test on it folds away. */
#define SMALL_INT(k) gv_int(GV_SARG(pc[(k)]))

/* LOAD_FAST a; LOAD_x b; BINARY_op [; STORE_FAST d [; JUMP L]] */
#define SUPER_ARITH(name, second, overflow_op, store, jump, fallback)            \
    CASE(name) {                                                                 \
        GvValue a = locals[ARG()];                                               \
        GvValue b = second;                                                      \
        int64_t r;                                                               \
        if (a.tag != GV_TINT || b.tag != GV_TINT || overflow_op(a.as.i, b.as.i, &r)) \
            goto fallback;                                                       \
        if (store) {                                                             \
            GvValue *dst = &locals[NEXT_ARG(2)];                                 \
            GvValue old = *dst;                                                  \
            *dst = gv_int(r);                                                    \
            gv_vdecref(old);                                                     \
            if (jump) {                                                          \
                GvInstr jump_ = pc[3];                                           \
                pc += 4; /* past the jump, where the breaker locates an error */ \
                JUMP_TO(GV_ARG(jump_));                                          \
            } else {                                                             \
                pc += 3;                                                         \
            }                                                                    \
        } else {                                                                 \
            PUSH(gv_int(r));                                                     \
            pc += 2;                                                             \
        }                                                                        \
        DISPATCH();                                                              \
    }

    SUPER_ARITH(LFLC_ADD, SMALL_INT(0), __builtin_add_overflow, 0, 0, op_LOAD_FAST)
    SUPER_ARITH(LFLC_SUB, SMALL_INT(0), __builtin_sub_overflow, 0, 0, op_LOAD_FAST)
    SUPER_ARITH(LFLF_ADD, locals[NEXT_ARG(0)], __builtin_add_overflow, 0, 0, op_LOAD_FAST)
    SUPER_ARITH(LFLC_ADD_STORE, SMALL_INT(0), __builtin_add_overflow, 1, 0, op_LOAD_FAST)
    SUPER_ARITH(LFLC_SUB_STORE, SMALL_INT(0), __builtin_sub_overflow, 1, 0, op_LOAD_FAST)
    SUPER_ARITH(LFLF_ADD_STORE, locals[NEXT_ARG(0)], __builtin_add_overflow, 1, 0, op_LOAD_FAST)
    SUPER_ARITH(LFLC_ADD_STORE_JUMP, SMALL_INT(0), __builtin_add_overflow, 1, 1, op_LOAD_FAST)
    SUPER_ARITH(LFLC_SUB_STORE_JUMP, SMALL_INT(0), __builtin_sub_overflow, 1, 1, op_LOAD_FAST)
#undef SUPER_ARITH

/* LOAD_FAST a; LOAD_x b; COMPARE_op; POP_JUMP_IF_FALSE L */
#define SUPER_CMP_JF(name, second, cop)                                          \
    CASE(name) {                                                                 \
        GvValue a = locals[ARG()];                                               \
        GvValue b = second;                                                      \
        if (a.tag != GV_TINT || b.tag != GV_TINT) goto op_LOAD_FAST;             \
        GvInstr jump = pc[2];                                                    \
        pc += 3; /* past the jump: an error in the breaker is located there */  \
        if (!(a.as.i cop b.as.i)) JUMP_TO(GV_ARG(jump));                         \
        DISPATCH();                                                              \
    }

    SUPER_CMP_JF(LFLC_LT_JF, SMALL_INT(0), <)
    SUPER_CMP_JF(LFLC_LE_JF, SMALL_INT(0), <=)
    SUPER_CMP_JF(LFLC_GT_JF, SMALL_INT(0), >)
    SUPER_CMP_JF(LFLC_GE_JF, SMALL_INT(0), >=)
    SUPER_CMP_JF(LFLC_EQ_JF, SMALL_INT(0), ==)
    SUPER_CMP_JF(LFLC_NE_JF, SMALL_INT(0), !=)
    SUPER_CMP_JF(LFLF_LT_JF, locals[NEXT_ARG(0)], <)
    SUPER_CMP_JF(LFLF_LE_JF, locals[NEXT_ARG(0)], <=)
    SUPER_CMP_JF(LFLF_GT_JF, locals[NEXT_ARG(0)], >)
    SUPER_CMP_JF(LFLF_GE_JF, locals[NEXT_ARG(0)], >=)
    SUPER_CMP_JF(LFLF_EQ_JF, locals[NEXT_ARG(0)], ==)
    SUPER_CMP_JF(LFLF_NE_JF, locals[NEXT_ARG(0)], !=)
#undef SUPER_CMP_JF

    CASE(LF_RETURN) {
        retval = gv_vincref(locals[ARG()]);
        goto return_retval;
    }

    CASE(ADD_RETURN) {
        /* `return a + b`: the sum goes straight to the caller. */
        GvValue b = sp[-1], a = sp[-2];
        int64_t r;
        if (a.tag != GV_TINT || b.tag != GV_TINT || __builtin_add_overflow(a.as.i, b.as.i, &r))
            goto op_BINARY_ADD;
        sp -= 2; /* two ints: nothing to release */
        retval = gv_int(r);
        goto return_retval;
    }

    CASE(TRACE) {
        /* Report, then run the original (unfused) instruction at this index. */
        uint32_t at = (uint32_t)(pc - base - 1);
        SAVE_FRAME();
        if (ts->interp->gil->mode == GV_GIL_SCHEDULE && --ts->sched_left <= 0 &&
            gv_gil_yield(ts->interp->gil, ts) < 0)
            gv_tstate_abandon(ts);
        if (trace_instruction(ts, f, sp, at) < 0) goto error;
        ins = f->code->instrs[at];
        EXECUTE();
    }
#undef NEXT_ARG
#undef SMALL_INT

    CASE(CALL) {
        int argc = (int)ARG();
        GvValue *callee = sp - argc - 1;
        if (gv_is_kind(*callee, GV_KFUNC)) {
            SAVE_FRAME();
            f->sp = callee; /* on return the result replaces the callee */
            GvFrame *nf = gv_frame_push(ts, (GvFunction *)callee->as.o, callee + 1, argc);
            if (!nf) goto error;
            /* LOAD_FRAME, from what gv_frame_push just wrote. */
            f = nf;
            pc = base = nf->base;
            sp = gv_frame_stack_base(nf);
            locals = nf->locals;
            if (__builtin_expect(ts->trace_active, 0)) {
                if (trace_setup_frame(f) < 0) goto error;
                pc = base = f->base;
                if (trace_event(ts, f, sp, GV_TRACE_CALL, 0, NULL) < 0) goto error;
            }
            CHECK_EVAL_BREAKER();
            DISPATCH();
        }
        SAVE_FRAME();
        GvValue r;
        int rc = call_other(ts, *callee, argc, callee + 1, &r);
        if (__builtin_expect(base != f->base, 0)) {
            /* A hook was set or removed meanwhile (gv_eval_retarget). */
            pc = f->base + (pc - base);
            base = f->base;
        }
        if (rc < 0) goto error;
        while (sp > callee) gv_vdecref(*--sp);
        PUSH(r);
        DISPATCH();
    }

    CASE(RETURN_VALUE) {
        retval = POP();
    return_retval: {
        bool was_entry = f->is_entry;
        GvFrame *caller = f->prev;
        gv_frame_pop(ts, f, sp);
        if (was_entry) {
            *result = retval;
            return 0;
        }
        f = caller;
        LOAD_FRAME();
        /* sp is the callee's slot: the function, which the result replaces. */
        gv_vdecref(*sp);
        PUSH(retval);
        DISPATCH();
    }
    }

    CASE(BUILD_LIST) {
        uint32_t n = ARG();
        GvObject *l = gv_list_new(n);
        if (!l) goto error;
        GvValue *items = sp - n;
        for (uint32_t i = 0; i < n; i++) gv_list_append_steal((GvList *)l, items[i]);
        sp = items;
        PUSH(gv_obj(l));
        DISPATCH();
    }

    CASE(BUILD_DICT) {
        uint32_t n = ARG();
        GvObject *d = gv_dict_new();
        if (!d) goto error;
        GvValue *items = sp - 2 * n;
        for (uint32_t i = 0; i < n; i++) {
            if (gv_dict_set((GvDict *)d, items[2 * i], items[2 * i + 1]) < 0) {
                gv_decref(d);
                goto error;
            }
        }
        while (sp > items) gv_vdecref(*--sp);
        PUSH(gv_obj(d));
        DISPATCH();
    }

    CASE(LOAD_INDEX) {
        GvValue key = sp[-1], c = sp[-2], v;
        if (load_index(c, key, &v) < 0) goto error;
        gv_vdecref(key);
        gv_vdecref(c);
        sp[-2] = v;
        sp--;
        DISPATCH();
    }

    CASE(STORE_INDEX) {
        GvValue key = sp[-1], c = sp[-2], v = sp[-3];
        if (store_index(c, key, v) < 0) goto error;
        gv_vdecref(key);
        gv_vdecref(c);
        gv_vdecref(v);
        sp -= 3;
        DISPATCH();
    }

    CASE(RAISE) {
        GvValue v = POP();
        raise_value(ts, v);
        gv_vdecref(v);
        goto error;
    }

    CASE(RERAISE) {
        GvValue v = POP();
        if (!gv_is_kind(v, GV_KEXC)) {
            gv_vdecref(v);
            gv_err_format(&gv_type_TypeError, "exceptions must derive from BaseException");
            goto error;
        }
        /* As it is: no new context, no new traceback entry for this frame. */
        GvObject *old = ts->current_exception;
        ts->current_exception = v.as.o;
        gv_xdecref(old);
        reraise = true;
        goto error;
    }

    CASE(CHECK_EXC_MATCH) {
        bool m = false;
        if (check_exc_match(sp[-2], sp[-1], &m) < 0) goto error;
        GvValue t = POP();
        gv_vdecref(t);
        PUSH(gv_bool(m));
        DISPATCH();
    }

    CASE(YIELD_VALUE) {
        /* Only a generator's code has one, and a generator's frame is
         * always the entry frame of a resume (vm/gen.c), which suspends it. */
        assert(f == entry && f->is_entry);
        *result = POP();
        SAVE_FRAME();
        return 1;
    }

    CASE(POP_EXCEPT) {
        assert(ts->exc_depth > f->exc_base); /* the verifier pairs it with a handler of f */
        gv_excinfo_pop(ts);
        DISPATCH();
    }

    LOOP_END

error: {
    /* The failing instruction is the one before pc (pc == instrs only when
     * the eval breaker raised at function entry). */
    uint32_t at = pc > base ? (uint32_t)(pc - base - 1) : 0;
    if (!ts->current_exception) fatal("an instruction failed without setting an exception");
    if (!reraise) gv_exc_add_traceback((GvException *)ts->current_exception, f->code, at);
    reraise = false;
    for (;;) {
        if (__builtin_expect(ts->trace_active, 0) && ts->c_tracefunc && !ts->tracing) {
            /* The hook sees the exception in each frame it reaches; if the
             * hook itself fails, its exception replaces this one. */
            GvObject *exc = gv_err_take(ts); /* the hook runs with none in flight */
            if (trace_event(ts, f, sp, GV_TRACE_EXCEPTION, at, exc) < 0) {
                gv_decref(exc);
                gv_exc_add_traceback((GvException *)ts->current_exception, f->code, at);
            } else {
                ts->current_exception = exc;
            }
        }
        const GvExcEntry *h = budget_spent(ts) ? NULL : find_handler(f->code, at);
        if (h) {
            GvValue *keep = gv_frame_stack_base(f) + h->depth;
            while (sp > keep) gv_vdecref(*--sp);
            gv_excinfo_pop_to(ts, f->exc_base + h->exc_depth);
            GvObject *exc = gv_err_take(ts);
            if (gv_excinfo_push(ts, exc) < 0) {
                /* Out of memory entering the handler: unwind with that. */
                gv_decref(exc);
                gv_exc_add_traceback((GvException *)ts->current_exception, f->code, at);
                goto unwind_frame;
            }
            PUSH(gv_obj(exc)); /* the stack takes the reference we took */
            pc = base + h->handler;
            if (h->handler <= at && gv_eb_test(ts, ~0u)) {
                /* Landing back on an earlier handler is a backward jump: a
                 * loop through it must still notice GIL requests, Ctrl-C,
                 * async exceptions. An error raised here is located at the
                 * handler's first instruction. */
                pc++;
                SAVE_FRAME();
                if (handle_eval_breaker(ts) < 0) goto error;
                pc--;
                SWITCH_TRACING();
            }
            RESUME();
        }
    unwind_frame: {
        if (__builtin_expect(ts->trace_active, 0) && !ts->tracing) {
            /* RETURN with no value: the frame ends by an exception. */
            GvObject *exc = gv_err_take(ts);
            trace_unwind_return(ts, f, sp, at);
            gv_err_clear(ts); /* an exception while unwinding is dropped */
            ts->current_exception = exc;
        }
        bool was_entry = f->is_entry;
        GvFrame *caller = f->prev;
        gv_frame_pop(ts, f, sp);
        if (was_entry) return -1;
        f = caller;
        LOAD_FRAME();
        /* The caller stopped at its CALL; sp is the callee's slot. */
        gv_vdecref(*sp);
        at = (uint32_t)(pc - base - 1);
        gv_exc_add_traceback((GvException *)ts->current_exception, f->code, at);
    }
    }
}

#undef LOAD_FRAME
#undef SAVE_FRAME
#undef ARG
#undef PUSH
#undef POP
#undef TOP
#undef SECOND
#undef CHECK_EVAL_BREAKER
#undef JUMP_TO
#undef SWITCH_TRACING
#undef EXECUTE
#undef DISPATCH
#undef CASE
#undef LOOP_BEGIN
#undef LOOP_END
#undef RESUME
}

int gv_eval_call(GvThreadState *ts, GvValue callable, int argc, GvValue *argv, GvValue *result) {
    if (!gv_is_kind(callable, GV_KFUNC)) return call_other(ts, callable, argc, argv, result);
    if (ts->c_recursion_depth >= GV_C_RECURSION_LIMIT) {
        if (ts->c_recursion_depth >= GV_C_RECURSION_LIMIT + GV_RECURSION_HEADROOM)
            fatal("C stack overflow: too many nested calls from C into bytecode");
        return gv_err_format(&gv_type_RecursionError, "maximum recursion depth exceeded (nested calls from C)");
    }
    GvFunction *fn = (GvFunction *)callable.as.o;
    GvCode *code = fn->code;
    if (!code->verified || !code->quick)
        return gv_err_format(&gv_type_RuntimeError, "%s(): code object was not verified and quickened",
                             code->name ? gv_str_cstr(code->name) : "?");
    GvFrame *f = gv_frame_push_entry(ts, fn, callable, argc, argv);
    if (!f) return -1;
    ts->c_recursion_depth++;
    int rc = run(ts, f, result, false); /* pops f, however it ends */
    ts->c_recursion_depth--;
    gv_frame_entry_done(callable);
    return rc;
}

int gv_eval_check_c_recursion(GvThreadState *ts) {
    if (ts->c_recursion_depth < GV_C_RECURSION_LIMIT) return 0;
    if (ts->c_recursion_depth >= GV_C_RECURSION_LIMIT + GV_RECURSION_HEADROOM)
        fatal("C stack overflow: too many nested calls from C into bytecode");
    return gv_err_format(&gv_type_RecursionError, "maximum recursion depth exceeded (nested calls from C)");
}

int gv_eval_resume(GvThreadState *ts, GvFrame *f, bool throwing, GvValue *result) {
    ts->c_recursion_depth++;
    int rc = run(ts, f, result, throwing);
    ts->c_recursion_depth--;
    return rc;
}
