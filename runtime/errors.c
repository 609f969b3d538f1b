/* Setting and taking the exception in flight. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "str.h"

/* A MemoryError to raise when even a small instance cannot be allocated.
 * Static: tracebacks and contexts are never attached to it. Shared by every
 * interpreter, so immortal: its count is never touched (object.h). */
static GvException static_memory_error = {
    .ob = {.refcnt = INT64_MAX / 2, .kind = GV_KEXC, .flags = GV_OBJ_STATIC},
    .type = &gv_type_MemoryError,
    .message = NULL,
    .arg = {GV_TNONE, 0, {.i = 0}},
    .context = NULL,
    .traceback = NULL,
};

int gv_err_nomemory(void) {
    GvThreadState *ts = gv_tstate_get();
    if (!ts) return -1;
    /* Past the memory limit too: raising MemoryError must not need room. */
    GvException *e = gv_mem_alloc(sizeof *e, GV_MEM_ZERO | GV_MEM_NO_LIMIT);
    if (e) {
        e->ob.refcnt = 1;
        e->ob.kind = GV_KEXC;
        e->type = &gv_type_MemoryError;
        gv_err_set_exc(ts, &e->ob);
    } else {
        gv_incref(&static_memory_error.ob);
        gv_xdecref(ts->current_exception);
        ts->current_exception = &static_memory_error.ob;
    }
    return -1;
}

/* How far a raise walks the handled exception's chain to find its root.
 * Chains built here are at most GV_CONTEXT_CHAIN_MAX long; a longer one
 * exists only when an exception from the middle of a chain was raised again
 * (and got a new context), and such a chain loses its tail instead. */
enum { CHAIN_WALK_MAX = 2 * GV_CONTEXT_CHAIN_MAX };

static uint64_t add_sat(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* Makes handled e's context. Never makes a cycle: if e is already in the
 * handled exception's chain, the chain is cut there. And the chain is kept
 * to GV_CONTEXT_CHAIN_MAX exceptions, so that this walk, done on every raise
 * inside a handler, costs a bounded time (a program that re-raises its last
 * exception in a loop grows the chain by one a round: without a cap, raising
 * became quadratic). What goes is the middle: the newest exceptions and the
 * root, the first cause and the one a reader needs, stay, and the link
 * before the root counts what was left out. */
static void chain_context(GvException *e, GvException *handled) {
    GvException *keep = NULL; /* the last link kept before the root */
    GvException *o = handled;
    for (int pos = 2;; pos++) { /* o's place in e's chain: e is 1 */
        GvException *next = (GvException *)o->context;
        if (!next) break; /* o is the root */
        if (next == e) {
            o->context = NULL;
            o->context_omitted = 0;
            gv_decref(&next->ob); /* not freed: the caller holds e */
            break;
        }
        if (pos == GV_CONTEXT_CHAIN_MAX - 1) keep = o;
        if (pos == CHAIN_WALK_MAX) {
            /* The root is too far to find in bounded time: drop the tail. */
            GvObject *tail = keep->context;
            keep->context = NULL;
            keep->context_omitted = GV_CONTEXT_OMITTED_UNKNOWN;
            gv_decref(tail); /* frees an old tail (iteratively, see exc.c) */
            keep = NULL;
            break;
        }
        o = next;
    }
    if (keep && keep->context != &o->ob) {
        /* o is the root: link keep to it, counting the links in between and
         * what earlier cuts left out of them. */
        uint64_t omitted = keep->context_omitted;
        for (GvException *m = (GvException *)keep->context; m != o; m = (GvException *)m->context)
            omitted = add_sat(omitted, add_sat(m->context_omitted, 1));
        gv_incref(&o->ob);
        GvObject *middle = keep->context;
        keep->context = &o->ob;
        keep->context_omitted = omitted;
        gv_decref(middle); /* frees the middle (iteratively, see exc.c) */
    }
    gv_incref(&handled->ob);
    gv_xdecref(e->context);
    e->context = &handled->ob;
    e->context_omitted = 0;
}

void gv_err_set_exc(GvThreadState *ts, GvObject *exc) {
    GvObject *handled = gv_excinfo_top(ts);
    if (handled && handled != exc && !(exc->flags & GV_OBJ_STATIC))
        chain_context((GvException *)exc, (GvException *)handled);
    GvObject *old = ts->current_exception;
    ts->current_exception = exc;
    gv_xdecref(old);
}

int gv_err_format(GvType *type, const char *fmt, ...) {
    GvThreadState *ts = gv_tstate_get();
    if (!ts) return -1;
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    GvObject *msg;
    if (n >= 0 && (size_t)n < sizeof small) {
        msg = gv_str_new(small, (size_t)n);
    } else if (n >= 0) {
        char *big = malloc((size_t)n + 1);
        if (!big) return gv_err_nomemory();
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        msg = gv_str_new(big, (size_t)n);
        free(big);
    } else {
        msg = gv_str_new("", 0);
    }
    if (!msg) {
        /* Messages quote program data; if it is not valid UTF-8 say so
         * rather than lose the error. */
        gv_err_clear(ts);
        msg = gv_str_from_cstr("(message is not valid UTF-8)");
        if (!msg) return gv_err_nomemory();
    }
    GvObject *exc = gv_exc_new(type, msg, gv_obj(msg));
    gv_decref(msg);
    if (!exc) return -1;
    gv_err_set_exc(ts, exc);
    return -1;
}

GvObject *gv_err_take(GvThreadState *ts) {
    GvObject *e = ts->current_exception;
    ts->current_exception = NULL;
    return e;
}

bool gv_err_occurred(GvThreadState *ts) { return ts->current_exception != NULL; }

void gv_err_clear(GvThreadState *ts) {
    GvObject *e = ts->current_exception;
    ts->current_exception = NULL;
    gv_xdecref(e);
}
