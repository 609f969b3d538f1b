/* Resuming generators, and the builtins that do it: next, send, throw,
 * close, set_asyncgen_hooks, get_asyncgen_hooks (the contract is
 * docs/LANGUAGE.md, "Generators"; the objects are runtime/gen.h).
 *
 * A resume is a nested entry into the eval loop from C, like gv_eval_call:
 * the generator's saved frame moves onto the resuming thread's data stack
 * (gv_saved_frame_resume, which also links the generator's handled
 * exceptions onto that thread's chain and counts the call toward its
 * recursion limit), runs until YIELD_VALUE, RETURN_VALUE or an exception
 * leaves it, and at a yield moves back (gv_saved_frame_suspend). */
#include "gen.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "../runtime/dict.h"
#include "../runtime/errors.h"
#include "../runtime/exc.h"
#include "../runtime/gen.h"
#include "../runtime/list.h"
#include "../runtime/str.h"
#include "eval.h"

enum { YIELDED = 1, RETURNED = 0, RAISED = -1 };

static const char *kind_name(const GvGen *g) { return g->is_async ? "async_generator" : "generator"; }

/* StopIteration for a generator that returned v: its message is str(v),
 * empty for none. Steals v. -1. */
static int stop_iteration(GvValue v) {
    GvObject *msg = NULL;
    if (!gv_is_none(v) && !(msg = gv_str(v))) {
        gv_vdecref(v);
        return -1;
    }
    GvObject *e = gv_exc_new(&gv_type_StopIteration, msg, v);
    gv_xdecref(msg);
    gv_vdecref(v);
    if (!e) return -1;
    gv_err_set_exc(gv_tstate_get(), e);
    return -1;
}

/* PEP 479: a StopIteration that leaves a generator's body would look like
 * the generator's end to whoever drives it; it comes out as RuntimeError
 * with the StopIteration as its context. */
static void stop_iteration_to_runtime_error(GvThreadState *ts) {
    GvObject *cur = ts->current_exception;
    if (!cur || !gv_type_is_subtype(((GvException *)cur)->type, &gv_type_StopIteration)) return;
    GvObject *si = gv_err_take(ts);
    GvObject *msg = gv_str_from_cstr("generator raised StopIteration");
    GvObject *e = msg ? gv_exc_new(&gv_type_RuntimeError, msg, gv_none()) : NULL;
    gv_xdecref(msg);
    if (!e) {
        gv_decref(si);
        return; /* MemoryError is set */
    }
    ((GvException *)e)->context = si; /* the reference we took */
    ts->current_exception = e;
}

/* Runs g from where it is (CREATED or SUSPENDED): with `send` pushed as the
 * suspended YIELD_VALUE's result, or raising `throw_exc` (borrowed) at it.
 * YIELDED (*out: the value), RETURNED (*out: the return value; g finished)
 * or RAISED (g finished). */
static int resume(GvThreadState *ts, GvGen *g, GvValue send, GvObject *throw_exc, GvValue *out) {
    assert(g->state == GV_GEN_CREATED || g->state == GV_GEN_SUSPENDED);
    if (gv_eval_check_c_recursion(ts) < 0) return RAISED;
    GvValue owner = gv_obj(&g->nat.ob);
    GvFrame *f = gv_saved_frame_resume(ts, &g->frame, g->func, owner);
    if (!f) return RAISED;
    bool started = g->state == GV_GEN_SUSPENDED;
    g->state = GV_GEN_RUNNING;
    if (throw_exc) {
        gv_incref(throw_exc);
        gv_err_set_exc(ts, throw_exc); /* its context: the generator's handled one, else ours */
    } else if (started) {
        *f->sp++ = gv_vincref(send);
    }
    GvValue r;
    int rc = gv_eval_resume(ts, f, throw_exc != NULL, &r);
    if (rc == YIELDED) {
        gv_saved_frame_suspend(ts, f, f->sp, &g->frame);
        g->state = GV_GEN_SUSPENDED;
        gv_frame_entry_done(owner); /* the caller still holds g */
        *out = r;
        return YIELDED;
    }
    gv_frame_entry_done(owner);
    gv_gen_drop_frame(g);
    if (rc == 0) {
        *out = r;
        return RETURNED;
    }
    stop_iteration_to_runtime_error(ts);
    return RAISED;
}

/* The first resume of an async generator (not close): remembers the
 * thread's finalizer, then calls its firstiter. Once per generator. 0 or -1. */
static int asyncgen_first(GvThreadState *ts, GvGen *g) {
    if (!g->is_async || g->first_done) return 0;
    g->first_done = true;
    if (ts->asyncgen_finalizer) {
        gv_incref(ts->asyncgen_finalizer);
        g->finalizer = ts->asyncgen_finalizer;
    }
    GvObject *fi = ts->asyncgen_firstiter;
    if (!fi) return 0;
    gv_incref(fi); /* the hook may replace itself */
    GvValue arg = gv_obj(&g->nat.ob), r;
    int rc = gv_eval_call(ts, gv_obj(fi), 1, &arg, &r);
    gv_decref(fi);
    if (rc < 0) return -1;
    gv_vdecref(r);
    return 0;
}

static int already_executing(void) {
    return gv_err_format(&gv_type_ValueError, "generator already executing");
}

static int need_gen(const char *fn, GvValue v) {
    if (gv_is_gen(v)) return 0;
    return gv_err_format(&gv_type_TypeError, "%s() argument must be a generator, not %s", fn,
                         gv_type_name(v));
}

/* next and send: resume with `send`; the next value, or StopIteration. */
static int next_or_send(GvThreadState *ts, GvGen *g, GvValue send, GvValue *out) {
    if (g->state == GV_GEN_RUNNING) return already_executing();
    if (g->state == GV_GEN_FINISHED) return gv_err_format(&gv_type_StopIteration, "%s", "");
    if (asyncgen_first(ts, g) < 0) return -1;
    if (g->state == GV_GEN_RUNNING) return already_executing(); /* firstiter resumed it */
    if (g->state == GV_GEN_FINISHED) return gv_err_format(&gv_type_StopIteration, "%s", "");
    GvValue r;
    int rc = resume(ts, g, send, NULL, &r);
    if (rc == YIELDED) {
        *out = r;
        return 0;
    }
    if (rc == RETURNED) return stop_iteration(r);
    return -1;
}

static int bi_next(GvThreadState *ts, int argc, GvValue *argv, GvValue *out) {
    if (need_gen("next", argv[0]) < 0) return -1;
    int rc = next_or_send(ts, gv_as_gen(argv[0]), gv_none(), out);
    if (rc < 0 && argc == 2 && ts->current_exception &&
        ((GvException *)ts->current_exception)->type == &gv_type_StopIteration) {
        /* The generator's end (PEP 479 made any other StopIteration a
         * RuntimeError): the default instead. */
        gv_err_clear(ts);
        *out = gv_vincref(argv[1]);
        return 0;
    }
    return rc;
}

static int bi_send(GvThreadState *ts, int argc, GvValue *argv, GvValue *out) {
    (void)argc;
    if (need_gen("send", argv[0]) < 0) return -1;
    GvGen *g = gv_as_gen(argv[0]);
    if (g->state == GV_GEN_CREATED && !gv_is_none(argv[1]))
        return gv_err_format(&gv_type_TypeError, "can't send non-None value to a just-started generator");
    return next_or_send(ts, g, argv[1], out);
}

/* An exception instance from throw's argument (a type or an instance). */
static GvObject *exception_of(GvValue v) {
    if (gv_is_kind(v, GV_KEXC)) {
        gv_incref(v.as.o);
        return v.as.o;
    }
    if (gv_is_kind(v, GV_KTYPE)) return gv_exc_new((GvType *)v.as.o, NULL, gv_none());
    gv_err_format(&gv_type_TypeError, "exceptions must derive from BaseException, not %s",
                  gv_type_name(v));
    return NULL;
}

static int bi_throw(GvThreadState *ts, int argc, GvValue *argv, GvValue *out) {
    (void)argc;
    if (need_gen("throw", argv[0]) < 0) return -1;
    GvGen *g = gv_as_gen(argv[0]);
    if (!gv_is_kind(argv[1], GV_KEXC) && !gv_is_kind(argv[1], GV_KTYPE))
        return gv_err_format(&gv_type_TypeError, "exceptions must derive from BaseException, not %s",
                             gv_type_name(argv[1]));
    if (g->state == GV_GEN_RUNNING) return already_executing();
    if (g->state != GV_GEN_FINISHED && asyncgen_first(ts, g) < 0) return -1;
    if (g->state == GV_GEN_RUNNING) return already_executing();
    GvObject *exc = exception_of(argv[1]);
    if (!exc) return -1;
    if (g->state != GV_GEN_SUSPENDED) {
        /* Not started, or finished: raised at once, and it is finished. */
        if (g->state == GV_GEN_CREATED) gv_gen_drop_frame(g);
        gv_err_set_exc(ts, exc);
        return -1;
    }
    GvValue r;
    int rc = resume(ts, g, gv_none(), exc, &r);
    gv_decref(exc);
    if (rc == YIELDED) {
        *out = r;
        return 0;
    }
    if (rc == RETURNED) return stop_iteration(r);
    return -1;
}

/* close(g): 0 (none) or -1. */
static int gen_close(GvThreadState *ts, GvGen *g) {
    if (g->state == GV_GEN_RUNNING) return already_executing();
    if (g->state == GV_GEN_CREATED) {
        gv_gen_drop_frame(g); /* finished without running its body */
        return 0;
    }
    if (g->state == GV_GEN_FINISHED) return 0;
    GvObject *exit = gv_exc_new(&gv_type_GeneratorExit, NULL, gv_none());
    if (!exit) return -1;
    GvValue r;
    int rc = resume(ts, g, gv_none(), exit, &r);
    gv_decref(exit);
    if (rc == YIELDED) {
        gv_vdecref(r);
        /* The contract's words for both kinds ("the same rules"). */
        return gv_err_format(&gv_type_RuntimeError, "generator ignored GeneratorExit");
    }
    if (rc == RETURNED) {
        gv_vdecref(r);
        return 0;
    }
    if (gv_type_is_subtype(((GvException *)ts->current_exception)->type, &gv_type_GeneratorExit)) {
        gv_err_clear(ts);
        return 0;
    }
    return -1;
}

static int bi_close(GvThreadState *ts, int argc, GvValue *argv, GvValue *out) {
    (void)argc;
    if (need_gen("close", argv[0]) < 0) return -1;
    if (gen_close(ts, gv_as_gen(argv[0])) < 0) return -1;
    *out = gv_none();
    return 0;
}

/* ---- async-generator hooks ---- */

int gv_set_asyncgen_hooks(GvThreadState *ts, GvValue firstiter, GvValue finalizer) {
    if (!gv_is_none(firstiter) && !gv_is_callable(firstiter))
        return gv_err_format(&gv_type_TypeError, "callable firstiter expected, got %s",
                             gv_type_name(firstiter));
    if (!gv_is_none(finalizer) && !gv_is_callable(finalizer))
        return gv_err_format(&gv_type_TypeError, "callable finalizer expected, got %s",
                             gv_type_name(finalizer));
    GvObject *old_fi = ts->asyncgen_firstiter, *old_fz = ts->asyncgen_finalizer;
    ts->asyncgen_firstiter = gv_is_none(firstiter) ? NULL : firstiter.as.o;
    ts->asyncgen_finalizer = gv_is_none(finalizer) ? NULL : finalizer.as.o;
    if (ts->asyncgen_firstiter) gv_incref(ts->asyncgen_firstiter);
    if (ts->asyncgen_finalizer) gv_incref(ts->asyncgen_finalizer);
    gv_xdecref(old_fi); /* last: a destructor may run code */
    gv_xdecref(old_fz);
    return 0;
}

static int bi_set_asyncgen_hooks(GvThreadState *ts, int argc, GvValue *argv, GvValue *out) {
    (void)argc;
    if (gv_set_asyncgen_hooks(ts, argv[0], argv[1]) < 0) return -1;
    *out = gv_none();
    return 0;
}

static int bi_get_asyncgen_hooks(GvThreadState *ts, int argc, GvValue *argv, GvValue *out) {
    (void)argc;
    (void)argv;
    GvObject *l = gv_list_new(2);
    if (!l) return -1;
    GvObject *hooks[2] = {ts->asyncgen_firstiter, ts->asyncgen_finalizer};
    for (int i = 0; i < 2; i++) {
        GvValue h = hooks[i] ? gv_obj(hooks[i]) : gv_none();
        if (gv_list_append((GvList *)l, h) < 0) {
            gv_decref(l);
            return -1;
        }
    }
    *out = gv_obj(l);
    return 0;
}

/* ---- a generator's end of life ---- */

static void report_ignored(GvThreadState *ts, GvGen *g) {
    GvObject *exc = gv_err_take(ts);
    if (!exc) return;
    fflush(stdout);
    fprintf(stderr, "Exception ignored in: <%s %s>\n", kind_name(g), gv_gen_name(g));
    gv_exc_print(exc, stderr);
    gv_decref(exc);
}

/* What a generator's last reference going does (and the program's end):
 * an async generator past its first step goes to the finalizer remembered
 * then, if any (once); a suspended generator is closed. The exception in
 * flight, if any, is put back as it was; one the close raises is reported. */
static void finalize_gen(GvGen *g) {
    GvThreadState *ts = gv_tstate_get();
    /* No thread, or the interpreter is being torn down (globals gone): run
     * nothing; the frame is just dropped. */
    if (!ts || !ts->interp->globals || !ts->holds_gil) return;
    if (g->state == GV_GEN_FINISHED || g->state == GV_GEN_RUNNING) return;
    /* Handed to its finalizer once (which kept it alive): that was its end
     * of life, as a PEP 442 finalizer runs once. */
    if (g->finalizer_called) return;
    bool to_finalizer = g->is_async && g->first_done && g->finalizer && !g->finalizer_called;
    if (!to_finalizer && g->state != GV_GEN_SUSPENDED) return;
    GvObject *in_flight = gv_err_take(ts);
    if (to_finalizer) {
        g->finalizer_called = true;
        GvObject *fz = g->finalizer;
        g->finalizer = NULL; /* our reference now */
        GvValue arg = gv_obj(&g->nat.ob), r;
        if (gv_eval_call(ts, gv_obj(fz), 1, &arg, &r) < 0)
            report_ignored(ts, g);
        else
            gv_vdecref(r);
        gv_decref(fz);
    } else if (gen_close(ts, g) < 0) {
        report_ignored(ts, g);
    }
    gv_err_clear(ts);
    ts->current_exception = in_flight;
}

void gv_gen_close_all(GvThreadState *ts) {
    GvTracked *head = &ts->interp->containers;
    size_t n = 0;
    for (GvTracked *l = head->next; l != head; l = l->next) n++;
    if (n == 0) return;
    GvObject **gens = malloc(n * sizeof *gens);
    if (!gens) return; /* out of memory at exit: they are dropped unclosed */
    size_t k = 0;
    for (GvTracked *l = head->next; l != head; l = l->next) {
        GvObject *o = (GvObject *)((char *)l - offsetof(GvNative, link));
        if (o->kind == GV_KGEN) {
            gv_incref(o);
            gens[k++] = o;
        }
    }
    for (size_t i = 0; i < k; i++) {
        finalize_gen((GvGen *)gens[i]);
        gv_decref(gens[i]);
    }
    free(gens);
}

static const struct {
    const char *name;
    GvBuiltinFn fn;
    int min_args, max_args;
} table[] = {
    {"next", bi_next, 1, 2},
    {"send", bi_send, 2, 2},
    {"throw", bi_throw, 2, 2},
    {"close", bi_close, 1, 1},
    {"set_asyncgen_hooks", bi_set_asyncgen_hooks, 2, 2},
    {"get_asyncgen_hooks", bi_get_asyncgen_hooks, 0, 0},
};

int gv_gen_builtins_install(GvInterpreterState *interp) {
    GvDict *builtins = (GvDict *)interp->builtins;
    interp->gen_finalize = finalize_gen;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        GvObject *b = gv_builtin_new(table[i].name, table[i].fn, table[i].min_args, table[i].max_args);
        if (!b) return -1;
        GvObject *key = gv_str_from_cstr(table[i].name);
        int rc = key ? gv_dict_set(builtins, gv_obj(key), gv_obj(b)) : -1;
        gv_xdecref(key);
        gv_decref(b);
        if (rc < 0) return -1;
    }
    return 0;
}
