/* Thread-state services: asynchronous exceptions and pending calls (see
 * services.h; the per-thread dict is tstate.c's). */
#include "services.h"

#include <assert.h>
#include <stdlib.h>

#include "breaker.h"
#include "errors.h"
#include "exc.h"
#include "timeline.h"
#include "wait.h"

/* ---- asynchronous exceptions ---- */

/* A thread that can still receive one: in the list and not abandoned.
 * interp->mutex held. */
static GvThreadState *find_live(GvInterpreterState *interp, unsigned long id) {
    for (GvThreadState *t = interp->threads; t; t = t->next)
        if (t->id == id && t->status != GV_TS_ABANDONED) return t;
    return NULL;
}

int gv_set_async_exc(GvInterpreterState *interp, unsigned long id, GvObject *exc) {
    /* The caller holds the GIL, so a thread found in the list stays there
     * (threads leave the list only while they hold the GIL) and its
     * async_exc, which is only touched with the GIL, is ours to set. */
    pthread_mutex_lock(&interp->mutex);
    GvThreadState *t = find_live(interp, id);
    if (!t) {
        pthread_mutex_unlock(&interp->mutex);
        return 0;
    }
    GvObject *old = t->async_exc;
    t->async_exc = exc;
    if (exc) {
        gv_incref(exc);
        gv_thread_interrupt_locked(t, GV_EB_ASYNC_EXC);
    }
    pthread_mutex_unlock(&interp->mutex);
    gv_xdecref(old);
    if (exc) GV_TL(gv_tl_instant(gv_tstate_get(), "async exception set", id));
    return 1;
}

int gv_raise_async_exc(GvThreadState *ts) {
    gv_eb_clear(ts, GV_EB_ASYNC_EXC);
    GvObject *pending = ts->async_exc;
    if (!pending || ts->async_mask > 0) return 0; /* masked: unmask re-arms the bit */
    ts->async_exc = NULL;
    GV_TL(gv_tl_instant(ts, "async exception delivered", 0));
    GvObject *exc = pending;
    if (pending->kind == GV_KTYPE) {
        exc = gv_exc_new((GvType *)pending, NULL, gv_none());
        gv_decref(pending);
        if (!exc) return -1;
    }
    gv_err_set_exc(ts, exc);
    return -1;
}

void gv_async_mask(GvThreadState *ts) { ts->async_mask++; }

void gv_async_unmask(GvThreadState *ts) {
    if (ts->async_mask > 0 && --ts->async_mask == 0 && ts->async_exc) gv_eb_set(ts, GV_EB_ASYNC_EXC);
}

/* ---- pending calls ----
 * Each thread state has its own ring (ts->pending), so the room of one
 * target never depends on what is queued for another. An adder finds its
 * target under interp->mutex and queues while still holding it; a thread
 * state being deleted is unlinked under the same mutex first, so once it is
 * gone from the list nothing new can be queued for it and its ring can be
 * dropped safely. */

int gv_pending_add(GvInterpreterState *interp, unsigned long target, int (*fn)(void *), void *arg,
                   bool owns_object) {
    pthread_mutex_lock(&interp->mutex);
    GvThreadState *t = target ? find_live(interp, target) : interp->main_thread;
    unsigned long tid = t ? t->id : 0;
    int rc = -1;
    if (t) {
        pthread_mutex_lock(&interp->pending_mutex);
        if (t->pending_count < GV_PENDING_CALLS_MAX) {
            GvPendingCall *c = &t->pending[(t->pending_first + t->pending_count) % GV_PENDING_CALLS_MAX];
            c->fn = fn;
            c->arg = arg;
            c->owns_object = owns_object;
            t->pending_count++;
            rc = 0;
        }
        assert(t->pending_count <= GV_PENDING_CALLS_MAX);
        pthread_mutex_unlock(&interp->pending_mutex);
        if (rc == 0) gv_thread_interrupt_locked(t, GV_EB_PENDING_CALLS);
    }
    pthread_mutex_unlock(&interp->mutex);
    if (rc == 0) GV_TL(gv_tl_instant(gv_tstate_get(), "pending call queued", tid));
    return rc;
}

/* Takes the oldest call queued for ts. */
static bool take_first(GvThreadState *ts, GvPendingCall *out) {
    pthread_mutex_t *m = &ts->interp->pending_mutex;
    pthread_mutex_lock(m);
    bool any = ts->pending_count > 0;
    if (any) {
        *out = ts->pending[ts->pending_first];
        ts->pending_first = (ts->pending_first + 1) % GV_PENDING_CALLS_MAX;
        ts->pending_count--;
    }
    pthread_mutex_unlock(m);
    return any;
}

static unsigned queued(GvThreadState *ts) {
    pthread_mutex_lock(&ts->interp->pending_mutex);
    unsigned n = ts->pending_count;
    pthread_mutex_unlock(&ts->interp->pending_mutex);
    return n;
}

int gv_pending_run(GvThreadState *ts) {
    gv_eb_clear(ts, GV_EB_PENDING_CALLS);
    /* Only the calls due now: one that adds another (or itself) must not
     * keep this thread here forever; those run at the next check. */
    GvPendingCall c;
    for (unsigned due = queued(ts); due > 0 && take_first(ts, &c); due--) {
        GV_TL(gv_tl_instant(ts, "pending call run", 0));
        int rc = c.fn(c.arg);
        if (c.owns_object) gv_decref((GvObject *)c.arg);
        if (rc < 0) {
            if (!ts->current_exception)
                gv_err_format(&gv_type_RuntimeError, "a pending call failed without setting an exception");
            /* The rest run at the next check. */
            if (queued(ts)) gv_eb_set(ts, GV_EB_PENDING_CALLS);
            return -1;
        }
    }
    /* Calls added meanwhile: at the next check. */
    if (queued(ts)) gv_eb_set(ts, GV_EB_PENDING_CALLS);
    return 0;
}

void gv_pending_drop_for(GvThreadState *ts) {
    GvPendingCall c;
    while (take_first(ts, &c))
        if (c.owns_object) gv_decref((GvObject *)c.arg);
}
