/* Setting and taking the exception in flight. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "str.h"

/* A MemoryError to raise when even a small instance cannot be allocated.
 * Static: tracebacks and contexts are never attached to it. */
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

void gv_err_set_exc(GvThreadState *ts, GvObject *exc) {
    GvException *e = (GvException *)exc;
    GvObject *handled = gv_excinfo_top(ts);
    if (handled && handled != exc && !(exc->flags & GV_OBJ_STATIC)) {
        /* Never make a cycle: if exc is already somewhere in the handled
         * exception's context chain, cut the chain there. The chain is also
         * cut after GV_CONTEXT_CHAIN_MAX exceptions, so that this walk, done
         * on every raise inside a handler, costs a bounded time: a program
         * that re-raises its last exception in a loop would otherwise grow
         * the chain by one per round and make raising quadratic. */
        GvException *o = (GvException *)handled;
        for (int n = 1; o; n++) {
            GvObject *next = o->context;
            if (next == exc || (next && n >= GV_CONTEXT_CHAIN_MAX - 1)) {
                o->context = NULL;
                gv_decref(next); /* frees an old tail (iteratively, see exc.c) */
                break;
            }
            o = (GvException *)next;
        }
        gv_incref(handled);
        gv_xdecref(e->context);
        e->context = handled;
    }
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
