/* The verifier: proves a code object safe before anything runs, so that the
 * eval loop can trust it and check nothing itself.
 *
 * It works in three passes over a code object that may come from a corrupted
 * .gvc file, so every field is treated as hostile:
 *
 * 1. The shape: arrays present, counts sane, constants of a loadable kind,
 *    names and local names strs, every instruction's opcode known and its
 *    operand in range for its kind. This covers unreachable instructions too,
 *    so the disassembler and the loader can rely on it.
 * 2. The exception table: each range inside the function with its handler
 *    outside it; ranges nest or are disjoint; inner ranges come first (the
 *    eval loop takes the first entry that covers a pc). A sweep over the
 *    ranges sorted by start finds, for every pc, the innermost range that
 *    covers it, and for every range the one directly around it.
 * 3. Abstract interpretation. The abstract state at an instruction is the
 *    pair (stack depth, number of this frame's handlers running). The first
 *    path to reach an instruction sets its state; every later path must
 *    agree. Since states never widen, each instruction is queued at most once
 *    and the pass is linear. A range's handler is entered with the state at
 *    the range's start, plus the pushed exception and one more running
 *    handler: the eval loop cuts the stack back to that depth whichever
 *    instruction of the range raised (asynchronous exceptions can arrive
 *    anywhere), so afterwards every reachable instruction of a range must sit
 *    at or above its start's state, and one that can raise or jump must not
 *    take operands from below it either (it may have popped them when the
 *    exception arrives).
 *
 * Only when everything holds are max_stack, the entries' depth/exc_depth and
 * `verified` written: a rejected code object is left as it was. */
#include "verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/str.h"
#include "diag.h"
#include "opcodes.h"

/* Bounds on the stack depth, the handler nesting and counts: far above what
 * real code needs, low enough that no sum of them overflows. */
#define MAX_DEPTH 65535u
/* A jump target is a 24-bit operand: no function can usefully be longer. */
#define MAX_INSTRS (GV_ARG_MAX + 1u)

/* Who first reached an instruction (V.from): a pc >= 0, or one of these. */
#define FROM_ENTRY (-1)
#define FROM_EXC(e) (-2 - (int64_t)(e)) /* the handler of entry e */

typedef struct V {
    GvCode *code;
    GvDiag *diag;
    const char *file;  /* for diagnostics */
    const char *fname; /* the function's name, for diagnostics */
    uint32_t n;        /* instructions */
    uint32_t nexc;
    /* per instruction */
    int32_t *depth;   /* stack depth on entry; -1: not reached (yet) */
    uint32_t *hd;     /* handlers of this frame running on entry */
    int64_t *from;    /* who reached it first, to name both paths on a mismatch */
    int32_t *cover;   /* innermost entry whose range covers it, or -1 */
    int32_t *starts;  /* first entry whose range starts here, or -1 */
    uint32_t *work;   /* worklist of reached instructions not yet stepped */
    uint32_t nwork;
    /* per exception entry */
    int32_t *parent;     /* the entry directly around it, or -1 */
    int32_t *next_start; /* next entry with the same start, or -1 */
    uint32_t max_stack;
} V;

/* ---- diagnostics ---- */

static void vfail(V *v, unsigned line, unsigned col, const char *where, const char *fmt,
                  va_list ap) {
    char msg[400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    gv_diag_set(v->diag, v->file, line, col, "in function '%s'%s: %s", v->fname, where, msg);
}

/* An error at instruction pc, at its source position. Returns -1. */
__attribute__((format(printf, 3, 4))) static int fail_at(V *v, uint32_t pc, const char *fmt,
                                                         ...) {
    unsigned line = 0, col = 0;
    if (v->code->pos && pc < v->n) {
        line = v->code->pos[pc].line;
        col = v->code->pos[pc].col;
    }
    char where[32];
    snprintf(where, sizeof where, " at offset %u", pc);
    va_list ap;
    va_start(ap, fmt);
    vfail(v, line, col, where, fmt, ap);
    va_end(ap);
    return -1;
}

/* An error in exception entry e, at its .try line. Returns -1. */
__attribute__((format(printf, 3, 4))) static int fail_exc(V *v, uint32_t e, const char *fmt,
                                                          ...) {
    const GvExcEntry *x = &v->code->exc[e];
    char where[96];
    snprintf(where, sizeof where, ", try range %u [%u, %u) with handler at %u", e, x->start,
             x->end, x->handler);
    va_list ap;
    va_start(ap, fmt);
    vfail(v, x->pos.line, x->pos.col, where, fmt, ap);
    va_end(ap);
    return -1;
}

/* An error about the function as a whole, at its .func line. Returns -1. */
__attribute__((format(printf, 2, 3))) static int fail_func(V *v, const char *fmt, ...) {
    unsigned line = v->code->firstline;
    va_list ap;
    va_start(ap, fmt);
    vfail(v, line, line ? 1 : 0, "", fmt, ap);
    va_end(ap);
    return -1;
}

static bool is_str(const GvObject *o) { return o && o->kind == GV_KSTR; }

/* "coming from offset 5", "at function entry", ... for mismatch messages. */
static void describe(const V *v, int64_t from, char *buf, size_t size) {
    if (from >= 0) {
        snprintf(buf, size, "coming from offset %u", (uint32_t)from);
    } else if (from == FROM_ENTRY) {
        snprintf(buf, size, "at function entry");
    } else {
        uint32_t e = (uint32_t)(-2 - from);
        const GvExcEntry *x = &v->code->exc[e];
        snprintf(buf, size, "when an exception in [%u, %u) enters this handler", x->start,
                 x->end);
    }
}

/* ---- pass 1: the shape of the code object ---- */

static int check_const(V *v, uint32_t i) {
    GvValue c = v->code->consts[i];
    switch (c.tag) {
    case GV_TNONE:
    case GV_TINT:
    case GV_TFLOAT:
        return 0;
    case GV_TBOOL:
        if (c.as.i == 0 || c.as.i == 1) return 0;
        return fail_func(v, "constant %u is a bool with the invalid value %lld", i,
                         (long long)c.as.i);
    case GV_TOBJ:
        if (is_str(c.as.o)) return 0;
        return fail_func(v, "constant %u is %s; constants are int, float, bool, none or str", i,
                         c.as.o ? "an object that is not a str" : "a null object");
    default:
        return fail_func(v, "constant %u has the invalid tag %u", i, (unsigned)c.tag);
    }
}

static int check_shape(V *v) {
    GvCode *c = v->code;
    if (c->ninstrs == 0) return fail_func(v, "function has no instructions");
    if (c->ninstrs > MAX_INSTRS)
        return fail_func(v, "function has %u instructions; at most %u are allowed", c->ninstrs,
                         MAX_INSTRS);
    if (!c->instrs) return fail_func(v, "instruction array is missing");
    if (c->nconsts && !c->consts) return fail_func(v, "constant array is missing");
    if (c->nnames && !c->names) return fail_func(v, "name array is missing");
    if (c->nlocals && !c->localnames) return fail_func(v, "local name array is missing");
    if (c->nexc && !c->exc) return fail_func(v, "exception table is missing");
    if (c->filename && !is_str(c->filename)) return fail_func(v, "file name is not a str");
    if (c->nparams > c->nlocals)
        return fail_func(v, "%u parameters but only %u locals (parameters are locals)",
                         c->nparams, c->nlocals);
    for (uint32_t i = 0; i < c->nconsts; i++)
        if (check_const(v, i) < 0) return -1;
    for (uint32_t i = 0; i < c->nnames; i++)
        if (!is_str(c->names[i])) return fail_func(v, "global name %u is not a str", i);
    for (uint32_t i = 0; i < c->nlocals; i++)
        if (!is_str(c->localnames[i])) return fail_func(v, "local name %u is not a str", i);
    return 0;
}

static int check_operand(V *v, uint32_t pc) {
    const GvCode *c = v->code;
    GvInstr ins = c->instrs[pc];
    unsigned op = GV_OP(ins);
    uint32_t arg = GV_ARG(ins);
    if (op >= GV_NUM_OPCODES) return fail_at(v, pc, "unknown opcode %u", op);
    const GvOpInfo *oi = &gv_opinfo[op];
    /* Superinstructions exist only in the quickened copy the VM makes itself;
     * input that names one is forged. */
    if (oi->flags & GV_OPF_INTERNAL)
        return fail_at(v, pc, "internal opcode %s is not allowed in a program", oi->name);
    if (oi->flags & GV_OPF_JUMP || oi->kind == GV_OPK_LABEL) {
        if (arg >= c->ninstrs)
            return fail_at(v, pc, "%s jumps to offset %u, outside the function (%u instructions)",
                           oi->name, arg, c->ninstrs);
        return 0;
    }
    switch (oi->kind) {
    case GV_OPK_NONE:
        if (arg) return fail_at(v, pc, "%s takes no operand but has %u", oi->name, arg);
        return 0;
    case GV_OPK_CONST:
        if (arg >= c->nconsts)
            return fail_at(v, pc, "%s uses constant %u, but the function has %u constants",
                           oi->name, arg, c->nconsts);
        return 0;
    case GV_OPK_LOCAL:
        if (arg >= c->nlocals)
            return fail_at(v, pc, "%s uses local %u, but the function has %u locals", oi->name,
                           arg, c->nlocals);
        return 0;
    case GV_OPK_NAME:
        if (arg >= c->nnames)
            return fail_at(v, pc, "%s uses name %u, but the function has %u names", oi->name, arg,
                           c->nnames);
        return 0;
    case GV_OPK_COUNT:
        if (arg > MAX_DEPTH)
            return fail_at(v, pc, "%s count %u is too large (at most %u)", oi->name, arg,
                           MAX_DEPTH);
        return 0;
    case GV_OPK_LABEL:
        break; /* handled above */
    }
    return 0;
}

/* ---- pass 2: the exception table ---- */

typedef struct Range {
    uint32_t start, end, idx;
} Range;

/* By start; among equal starts the outer (longer) range first; among equal
 * ranges the later entry first, so the earlier one counts as the inner. */
static int range_cmp(const void *pa, const void *pb) {
    const Range *a = pa, *b = pb;
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    if (a->end != b->end) return a->end > b->end ? -1 : 1;
    if (a->idx != b->idx) return a->idx > b->idx ? -1 : 1;
    return 0;
}

static int check_table(V *v) {
    GvCode *c = v->code;
    uint32_t m = v->nexc;
    for (uint32_t e = 0; e < m; e++) {
        const GvExcEntry *x = &c->exc[e];
        if (x->start >= x->end) return fail_exc(v, e, "the range is empty or reversed");
        if (x->end > v->n)
            return fail_exc(v, e, "the range ends past the function's %u instructions", v->n);
        if (x->handler >= v->n)
            return fail_exc(v, e, "the handler is past the function's %u instructions", v->n);
        if (x->handler >= x->start && x->handler < x->end)
            return fail_exc(v, e, "the handler lies inside its own range");
    }
    for (uint32_t pc = 0; pc < v->n; pc++) {
        v->cover[pc] = -1;
        v->starts[pc] = -1;
    }
    if (m == 0) return 0;

    Range *sorted = malloc(m * sizeof *sorted);
    uint32_t *open = malloc(m * sizeof *open); /* the ranges around pc, innermost on top */
    if (!sorted || !open) {
        free(sorted);
        free(open);
        return fail_func(v, "out of memory while verifying");
    }
    for (uint32_t e = 0; e < m; e++)
        sorted[e] = (Range){c->exc[e].start, c->exc[e].end, e};
    qsort(sorted, m, sizeof *sorted, range_cmp);

    /* Link entries by start, keeping table order within one start. */
    for (uint32_t e = m; e-- > 0;) {
        v->next_start[e] = v->starts[c->exc[e].start];
        v->starts[c->exc[e].start] = (int32_t)e;
    }

    int rc = 0;
    uint32_t nopen = 0, k = 0;
    for (uint32_t pc = 0; pc < v->n && rc == 0; pc++) {
        while (nopen && c->exc[open[nopen - 1]].end <= pc) nopen--;
        for (; k < m && sorted[k].start == pc; k++) {
            uint32_t e = sorted[k].idx;
            int32_t top = nopen ? (int32_t)open[nopen - 1] : -1;
            if (top >= 0 && c->exc[top].end < sorted[k].end) {
                const GvExcEntry *t = &c->exc[top];
                rc = fail_exc(v, e,
                              "the range overlaps try range %d [%u, %u) (line %u) without "
                              "nesting in it",
                              top, t->start, t->end, t->pos.line);
                break;
            }
            v->parent[e] = top;
            if (top >= 0 && (uint32_t)top < e) {
                rc = fail_exc(v, e,
                              "the range is nested in try range %d [%u, %u) (line %u) but comes "
                              "after it; inner ranges must come first",
                              top, c->exc[top].start, c->exc[top].end, c->exc[top].pos.line);
                break;
            }
            open[nopen++] = e;
        }
        if (rc == 0) v->cover[pc] = nopen ? (int32_t)open[nopen - 1] : -1;
    }
    free(sorted);
    free(open);
    return rc;
}

/* ---- pass 3: abstract interpretation ---- */

/* Path `from` reaches `pc` with state (depth, hd). */
static int reach(V *v, uint32_t pc, uint32_t depth, uint32_t hd, int64_t from) {
    if (v->depth[pc] < 0) {
        v->depth[pc] = (int32_t)depth;
        v->hd[pc] = hd;
        v->from[pc] = from;
        v->work[v->nwork++] = pc;
        if (depth > v->max_stack) v->max_stack = depth;
        return 0;
    }
    if ((uint32_t)v->depth[pc] == depth && v->hd[pc] == hd) return 0;
    char first[96], second[96];
    describe(v, v->from[pc], first, sizeof first);
    describe(v, from, second, sizeof second);
    if ((uint32_t)v->depth[pc] != depth)
        return fail_at(v, pc, "stack depth differs where paths meet: %d %s, %u %s",
                       v->depth[pc], first, depth, second);
    return fail_at(v, pc,
                   "exception handler nesting differs where paths meet: %u running %s, %u "
                   "running %s",
                   v->hd[pc], first, hd, second);
}

static int step(V *v, uint32_t pc) {
    const GvCode *c = v->code;
    uint32_t d = (uint32_t)v->depth[pc], h = v->hd[pc];

    /* Entering at a range's start makes its handler reachable. */
    for (int32_t e = v->starts[pc]; e >= 0; e = v->next_start[e]) {
        if (d + 1 > MAX_DEPTH)
            return fail_at(v, pc, "stack depth would exceed %u in the handler at offset %u",
                           MAX_DEPTH, c->exc[e].handler);
        if (h + 1 > MAX_DEPTH)
            return fail_at(v, pc, "more than %u nested exception handlers", MAX_DEPTH);
        if (reach(v, c->exc[e].handler, d + 1, h + 1, FROM_EXC(e)) < 0) return -1;
    }

    GvInstr ins = c->instrs[pc];
    unsigned op = GV_OP(ins);
    uint32_t arg = GV_ARG(ins);
    const GvOpInfo *oi = &gv_opinfo[op];
    /* pass 1 bounded counts by MAX_DEPTH, so these are small */
    uint32_t pops = (uint32_t)gv_op_pops(op, arg), pushes = (uint32_t)gv_op_pushes(op, arg);
    if (pops > d)
        return fail_at(v, pc, "stack underflow (%s needs %u value%s, %u on the stack)", oi->name,
                       pops, pops == 1 ? "" : "s", d);
    uint32_t nd = d - pops + pushes;
    if (nd > MAX_DEPTH)
        return fail_at(v, pc, "stack depth exceeds %u after %s", MAX_DEPTH, oi->name);
    if (nd > v->max_stack) v->max_stack = nd;
    uint32_t nh = h;
    if (op == GV_OP_POP_EXCEPT) {
        if (h == 0) return fail_at(v, pc, "POP_EXCEPT outside an exception handler");
        nh = h - 1;
    }
    if (oi->flags & GV_OPF_JUMP)
        if (reach(v, arg, nd, nh, pc) < 0) return -1;
    if (!(oi->flags & GV_OPF_NOFALL)) {
        if (pc + 1 >= v->n)
            return fail_at(v, pc,
                           "control falls off the end of function (%s is not a jump, return or "
                           "raise)",
                           oi->name);
        if (reach(v, pc + 1, nd, nh, pc) < 0) return -1;
    }
    return 0;
}

/* Every reachable instruction of a range must sit at or above the state at
 * the range's start: the eval loop cuts back to that state on an exception. */
static int check_ranges(V *v) {
    const GvCode *c = v->code;
    for (uint32_t pc = 0; pc < v->n; pc++) {
        int32_t e = v->cover[pc];
        if (e < 0 || v->depth[pc] < 0) continue;
        uint32_t s = c->exc[e].start;
        if (v->depth[s] < 0)
            return fail_at(v, pc,
                           "reachable inside try range [%u, %u) whose start is never reached",
                           s, c->exc[e].end);
        if (v->depth[pc] < v->depth[s])
            return fail_at(v, pc,
                           "stack below the try range's entry depth (%d here, %d at its start, "
                           "offset %u)",
                           v->depth[pc], v->depth[s], s);
        if (v->hd[pc] < v->hd[s])
            return fail_at(v, pc,
                           "fewer exception handlers running than at the start of the try range "
                           "(%u here, %u at offset %u)",
                           v->hd[pc], v->hd[s], s);
        /* An instruction that raises or jumps (the eval breaker runs at
         * backward jumps) may have taken its operands off the stack when the
         * exception arrives: RAISE, a CALL whose callee raised, a conditional
         * jump. Those must not reach below the range's entry depth either. */
        unsigned op = GV_OP(c->instrs[pc]);
        const GvOpInfo *oi = &gv_opinfo[op];
        if (oi->flags & (GV_OPF_RAISES | GV_OPF_JUMP)) {
            int32_t left = v->depth[pc] - gv_op_pops(op, GV_ARG(c->instrs[pc]));
            if (left < v->depth[s])
                return fail_at(v, pc,
                               "stack below the try range's entry depth (%s takes %d of the %d "
                               "values on the stack, but the range started at depth %d, offset "
                               "%u)",
                               oi->name, gv_op_pops(op, GV_ARG(c->instrs[pc])), v->depth[pc],
                               v->depth[s], s);
        }
    }
    /* Per pc only the innermost range was checked; chaining each reached
     * start to the start of the range around it covers the outer ones. */
    for (uint32_t e = 0; e < v->nexc; e++) {
        int32_t p = v->parent[e];
        uint32_t s = c->exc[e].start;
        if (p < 0 || v->depth[s] < 0) continue;
        uint32_t ps = c->exc[p].start;
        if (v->depth[ps] < 0)
            return fail_at(v, s,
                           "reachable inside try range [%u, %u) whose start is never reached",
                           ps, c->exc[p].end);
        if (v->depth[s] < v->depth[ps])
            return fail_at(v, s,
                           "stack below the try range's entry depth (%d here, %d at its start, "
                           "offset %u)",
                           v->depth[s], v->depth[ps], ps);
        if (v->hd[s] < v->hd[ps])
            return fail_at(v, s,
                           "fewer exception handlers running than at the start of the try range "
                           "(%u here, %u at offset %u)",
                           v->hd[s], v->hd[ps], ps);
    }
    return 0;
}

static int flow(V *v) {
    for (uint32_t pc = 0; pc < v->n; pc++) v->depth[pc] = -1;
    v->max_stack = 0;
    v->nwork = 0;
    if (reach(v, 0, 0, 0, FROM_ENTRY) < 0) return -1;
    while (v->nwork > 0)
        if (step(v, v->work[--v->nwork]) < 0) return -1;
    return check_ranges(v);
}

static void free_state(V *v) {
    free(v->depth);
    free(v->hd);
    free(v->from);
    free(v->cover);
    free(v->starts);
    free(v->work);
    free(v->parent);
    free(v->next_start);
}

static int verify(GvCode *code, const char *file, GvDiag *diag) {
    V v;
    memset(&v, 0, sizeof v);
    v.code = code;
    v.diag = diag;
    v.fname = is_str(code->name) ? gv_str_cstr(code->name) : "?";
    v.file = is_str(code->filename) ? gv_str_cstr(code->filename) : file;
    if (!is_str(code->name)) return fail_func(&v, "function name is missing or not a str");
    if (check_shape(&v) < 0) return -1;
    v.n = code->ninstrs;
    v.nexc = code->nexc;
    bool has_yield = false;
    for (uint32_t pc = 0; pc < v.n; pc++) {
        if (check_operand(&v, pc) < 0) return -1;
        if (GV_OP(code->instrs[pc]) == GV_OP_YIELD_VALUE) has_yield = true;
    }
    /* A generator function is one with YIELD_VALUE anywhere, even where no
     * path reaches; only .async comes from outside (and needs a yield). */
    if (code->flags & ~(GV_CODE_GENERATOR | GV_CODE_ASYNC))
        return fail_func(&v, "unknown function flags 0x%x", (unsigned)code->flags);
    if ((code->flags & GV_CODE_ASYNC) && !has_yield)
        return fail_func(&v, "an async generator function must contain YIELD_VALUE");

    size_t n = v.n, m = v.nexc ? v.nexc : 1;
    v.depth = malloc(n * sizeof *v.depth);
    v.hd = malloc(n * sizeof *v.hd);
    v.from = malloc(n * sizeof *v.from);
    v.cover = malloc(n * sizeof *v.cover);
    v.starts = malloc(n * sizeof *v.starts);
    v.work = malloc(n * sizeof *v.work);
    v.parent = malloc(m * sizeof *v.parent);
    v.next_start = malloc(m * sizeof *v.next_start);
    int rc;
    if (!v.depth || !v.hd || !v.from || !v.cover || !v.starts || !v.work || !v.parent ||
        !v.next_start) {
        rc = fail_func(&v, "out of memory while verifying");
    } else {
        for (uint32_t e = 0; e < v.nexc; e++) v.parent[e] = -1;
        rc = check_table(&v);
        if (rc == 0) rc = flow(&v);
    }
    if (rc == 0) {
        for (uint32_t e = 0; e < v.nexc; e++) {
            GvExcEntry *x = &code->exc[e];
            int32_t d = v.depth[x->start];
            x->depth = d < 0 ? 0 : (uint32_t)d;     /* an unreachable start: a dead entry */
            x->exc_depth = d < 0 ? 0 : v.hd[x->start];
        }
        code->max_stack = v.max_stack;
        code->flags = (uint8_t)((code->flags & ~GV_CODE_GENERATOR) | (has_yield ? GV_CODE_GENERATOR : 0));
        code->verified = true;
    }
    free_state(&v);
    return rc;
}

int gv_verify_code(GvCode *code, GvDiag *diag) {
    GvDiag scratch;
    if (!diag) {
        memset(&scratch, 0, sizeof scratch);
        diag = &scratch;
    }
    if (!code || code->ob.kind != GV_KCODE) {
        gv_diag_set(diag, "<code>", 0, 0, "no code object to verify");
        return -1;
    }
    return verify(code, "<code>", diag);
}

int gv_verify_program(GvProgram *p, GvDiag *diag) {
    GvDiag scratch;
    if (!diag) {
        memset(&scratch, 0, sizeof scratch);
        diag = &scratch;
    }
    const char *file = p && is_str(p->filename) ? gv_str_cstr(p->filename) : "<program>";
    if (!p || (p->ncode && !p->code)) {
        gv_diag_set(diag, file, 0, 0, "no program to verify");
        return -1;
    }
    for (uint32_t i = 0; i < p->ncode; i++) {
        if (!p->code[i] || p->code[i]->ob.kind != GV_KCODE) {
            gv_diag_set(diag, file, 0, 0, "function %u of the program is missing", i);
            return -1;
        }
        if (verify(p->code[i], file, diag) < 0) return -1;
        GvCode *c = p->code[i];
        if ((c->flags & GV_CODE_GENERATOR) && strcmp(gv_str_cstr(c->name), "main") == 0) {
            /* Located at its first YIELD_VALUE: that is what makes it one. */
            uint32_t at = 0;
            while (GV_OP(c->instrs[at]) != GV_OP_YIELD_VALUE) at++;
            GvSrcPos pos = c->pos ? c->pos[at] : (GvSrcPos){0, 0};
            gv_diag_set(diag, file, pos.line, pos.col,
                        "function 'main' may not be a generator (it contains YIELD_VALUE)");
            return -1;
        }
    }
    return 0;
}
