/* Thread-state services: the per-thread dict, asynchronous exceptions and
 * pending calls. Each is delivered through the eval breaker: the requester
 * sets a bit in the target's eval breaker (and interrupts its blocking wait,
 * if it is in one), and the target acts at its next check, with the GIL. */
#include <stdlib.h>

#include "dict.h"
#include "errors.h"
#include "exc.h"
#include "thread.h"
#include "tstate.h"

/* ---- the per-thread dict ---- */

GvObject *gv_tstate_dict(GvThreadState *ts) {
    if (!ts->dict) ts->dict = gv_dict_new();
    return ts->dict;
}

/* ---- asynchronous exceptions ---- */

/* A thread that can still receive one: in the list and not abandoned.
 * interp->mutex held. */
static GvThreadState *find_live(GvInterpreterState *interp, unsigned long id) {
    for (GvThreadState *t = interp->threads; t; t = t->next)
        if (t->id == id && t->status != GV_TS_ABANDONED) return t;
    return NULL;
}

/* Sets bits in ts's eval breaker and wakes its blocking wait.
 * interp->mutex held. */
static void notify(GvThreadState *ts, uint32_t bits) {
    atomic_fetch_or_explicit(&ts->eval_breaker, bits, memory_order_relaxed);
    atomic_store(&ts->interrupted, true);
    pthread_cond_signal(&ts->park_cond);
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
        notify(t, GV_EB_ASYNC_EXC);
    }
    pthread_mutex_unlock(&interp->mutex);
    gv_xdecref(old);
    return 1;
}

int gv_raise_async_exc(GvThreadState *ts) {
    atomic_fetch_and_explicit(&ts->eval_breaker, ~GV_EB_ASYNC_EXC, memory_order_relaxed);
    GvObject *pending = ts->async_exc;
    if (!pending || ts->async_mask > 0) return 0; /* masked: unmask re-arms the bit */
    ts->async_exc = NULL;
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
    if (ts->async_mask > 0 && --ts->async_mask == 0 && ts->async_exc)
        atomic_fetch_or_explicit(&ts->eval_breaker, GV_EB_ASYNC_EXC, memory_order_relaxed);
}

/* ---- pending calls ---- */

int gv_pending_add(GvInterpreterState *interp, unsigned long target, int (*fn)(void *), void *arg,
                   bool owns_object) {
    if (target) {
        /* A call for a thread that is not (or no longer) running would sit in
         * the queue until finalization, taking a place from the others. */
        pthread_mutex_lock(&interp->mutex);
        bool alive = find_live(interp, target) != NULL;
        pthread_mutex_unlock(&interp->mutex);
        if (!alive) return -1;
    }
    pthread_mutex_lock(&interp->pending_mutex);
    if (interp->pending_count == GV_PENDING_CALLS_MAX) {
        pthread_mutex_unlock(&interp->pending_mutex);
        return -1;
    }
    struct GvPendingCall *c =
        &interp->pending[(interp->pending_first + interp->pending_count) % GV_PENDING_CALLS_MAX];
    c->fn = fn;
    c->arg = arg;
    c->target = target;
    c->owns_object = owns_object;
    interp->pending_count++;
    pthread_mutex_unlock(&interp->pending_mutex);

    pthread_mutex_lock(&interp->mutex);
    GvThreadState *t = target ? find_live(interp, target) : interp->main_thread;
    if (t) notify(t, GV_EB_PENDING_CALLS);
    pthread_mutex_unlock(&interp->mutex);
    return 0;
}

/* Takes the first call due on ts out of the ring. */
static bool take_due(GvInterpreterState *interp, GvThreadState *ts, struct GvPendingCall *out) {
    bool is_main = ts == interp->main_thread;
    pthread_mutex_lock(&interp->pending_mutex);
    unsigned n = interp->pending_count, first = interp->pending_first;
    for (unsigned i = 0; i < n; i++) {
        struct GvPendingCall *c = &interp->pending[(first + i) % GV_PENDING_CALLS_MAX];
        if (c->target == ts->id || (c->target == 0 && is_main)) {
            *out = *c;
            /* Close the gap, keeping the others in order. */
            for (unsigned j = i; j + 1 < n; j++)
                interp->pending[(first + j) % GV_PENDING_CALLS_MAX] =
                    interp->pending[(first + j + 1) % GV_PENDING_CALLS_MAX];
            interp->pending_count--;
            pthread_mutex_unlock(&interp->pending_mutex);
            return true;
        }
    }
    pthread_mutex_unlock(&interp->pending_mutex);
    return false;
}

int gv_pending_run(GvThreadState *ts) {
    GvInterpreterState *interp = ts->interp;
    atomic_fetch_and_explicit(&ts->eval_breaker, ~GV_EB_PENDING_CALLS, memory_order_relaxed);
    /* Only the calls due now: one that adds another (or itself) must not
     * keep this thread here forever; those run at the next check. */
    bool is_main = ts == interp->main_thread;
    unsigned due = 0;
    pthread_mutex_lock(&interp->pending_mutex);
    for (unsigned i = 0; i < interp->pending_count; i++) {
        const struct GvPendingCall *p = &interp->pending[(interp->pending_first + i) % GV_PENDING_CALLS_MAX];
        due += p->target == ts->id || (p->target == 0 && is_main);
    }
    pthread_mutex_unlock(&interp->pending_mutex);
    struct GvPendingCall c;
    for (; due > 0 && take_due(interp, ts, &c); due--) {
        int rc = c.fn(c.arg);
        if (c.owns_object) gv_decref((GvObject *)c.arg);
        if (rc < 0) {
            if (!ts->current_exception)
                gv_err_format(&gv_type_RuntimeError, "a pending call failed without setting an exception");
            /* The rest run at the next check. */
            atomic_fetch_or_explicit(&ts->eval_breaker, GV_EB_PENDING_CALLS, memory_order_relaxed);
            return -1;
        }
    }
    /* Calls added meanwhile: at the next check. */
    pthread_mutex_lock(&interp->pending_mutex);
    bool more = false;
    for (unsigned i = 0; i < interp->pending_count && !more; i++) {
        const struct GvPendingCall *p = &interp->pending[(interp->pending_first + i) % GV_PENDING_CALLS_MAX];
        more = p->target == ts->id || (p->target == 0 && is_main);
    }
    pthread_mutex_unlock(&interp->pending_mutex);
    if (more) atomic_fetch_or_explicit(&ts->eval_breaker, GV_EB_PENDING_CALLS, memory_order_relaxed);
    return 0;
}

void gv_pending_drop_for(GvThreadState *ts) {
    GvInterpreterState *interp = ts->interp;
    struct GvPendingCall c;
    /* take_due would also take the main thread's calls if ts were main;
     * a thread that ends is never the main one. */
    while (ts != interp->main_thread && take_due(interp, ts, &c))
        if (c.owns_object) gv_decref((GvObject *)c.arg);
}

void gv_pending_clear(GvInterpreterState *interp) {
    pthread_mutex_lock(&interp->pending_mutex);
    unsigned n = interp->pending_count, first = interp->pending_first;
    struct GvPendingCall drop[GV_PENDING_CALLS_MAX];
    for (unsigned i = 0; i < n; i++) drop[i] = interp->pending[(first + i) % GV_PENDING_CALLS_MAX];
    interp->pending_count = 0;
    pthread_mutex_unlock(&interp->pending_mutex);
    for (unsigned i = 0; i < n; i++)
        if (drop[i].owns_object) gv_decref((GvObject *)drop[i].arg);
}
