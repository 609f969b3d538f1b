/* Locks and queues for programs.
 *
 * Their state is guarded by the interpreter's mutex, not by the GIL, because
 * waiters look at it while they have released the GIL. Values in a queue are
 * only moved under the mutex (ownership passes from putter to getter), never
 * increfed or decrefed there: touching refcounts needs the GIL.
 *
 * Every wait releases the GIL, parks (runtime/thread.c) and can be
 * interrupted: by Ctrl-C, an asynchronous exception, or finalization. */
#include "sync.h"

#include <math.h>
#include <stdlib.h>

#include "errors.h"
#include "thread.h"

/* ---- deadlines ---- */

/* timeout in seconds: < 0 means forever (0 returned). */
static uint64_t deadline_from(double timeout) {
    if (timeout < 0) return 0;
    if (timeout > 1e9) timeout = 1e9; /* ~31 years: effectively forever, and no overflow */
    uint64_t d = gv_now_ns() + (uint64_t)(timeout * 1e9);
    return d ? d : 1;
}

/* The shape of every blocking wait: detach, park until ready() or the
 * deadline, reattach; an interruption is handled with the GIL and, unless
 * it raised, the wait goes on. Returns 1 when ready (with take() done under
 * the mutex), 0 on timeout, -1 with an exception. */
typedef bool (*ReadyFn)(void *obj);
typedef void (*TakeFn)(void *obj, void *out);

/* Under the deterministic schedule every decision is made while holding the
 * GIL, at a point the schedule chose: whether the object is ready, and taking
 * it. The thread queues itself as a waiter before it detaches, so whoever
 * makes the object ready (running only after the detach) wakes it; woken, it
 * takes the GIL back and looks again. Taking the item as soon as its OS
 * thread woke up instead would let OS timing decide which of two getters of
 * one queue gets it. */
static int wait_for_sched(GvThreadState *ts, GvWaitQueue *q, void *obj, ReadyFn ready, TakeFn take,
                          void *out, uint64_t deadline) {
    GvInterpreterState *interp = ts->interp;
    for (;;) {
        pthread_mutex_lock(&interp->mutex);
        if (ready(obj)) {
            take(obj, out);
            pthread_mutex_unlock(&interp->mutex);
            return 1;
        }
        gv_park_prepare(ts, q);
        pthread_mutex_unlock(&interp->mutex);
        gv_tstate_detach(ts);
        pthread_mutex_lock(&interp->mutex);
        GvParkResult r = gv_park_prepared(ts, q, deadline);
        pthread_mutex_unlock(&interp->mutex);
        gv_tstate_attach_or_exit(ts);
        if (r == GV_PARK_TIMEOUT) return 0;
        if (r == GV_PARK_INTERRUPTED && gv_tstate_check_interrupts(ts) < 0) return -1;
        if (deadline && gv_now_ns() >= deadline) return 0;
    }
}

static int wait_for(GvThreadState *ts, GvWaitQueue *q, void *obj, ReadyFn ready, TakeFn take,
                    void *out, uint64_t deadline) {
    GvInterpreterState *interp = ts->interp;
    if (interp->gil.mode == GV_GIL_SCHEDULE) return wait_for_sched(ts, q, obj, ready, take, out, deadline);
    for (;;) {
        gv_tstate_detach(ts);
        pthread_mutex_lock(&interp->mutex);
        GvParkResult r = GV_PARK_WOKEN;
        bool got = false;
        for (;;) {
            if (ready(obj)) {
                take(obj, out);
                got = true;
                break;
            }
            if (r == GV_PARK_TIMEOUT || r == GV_PARK_INTERRUPTED) break;
            r = gv_park(ts, q, deadline);
        }
        pthread_mutex_unlock(&interp->mutex);
        gv_tstate_attach_or_exit(ts);
        if (got) return 1;
        if (r == GV_PARK_TIMEOUT) return 0;
        /* Interrupted: an exception to raise, or nothing (go on waiting). */
        if (gv_tstate_check_interrupts(ts) < 0) return -1;
        if (deadline && gv_now_ns() >= deadline) return 0;
    }
}

/* ---- locks ---- */

typedef struct Lock {
    GvNative hdr;
    bool locked;         /* under interp->mutex */
    GvWaitQueue waiters; /* under interp->mutex */
} Lock;

static void lock_dealloc(GvObject *o) { (void)o; }
static const GvNativeType lock_type = {"lock", lock_dealloc, NULL}; /* holds no references */

bool gv_is_lock(GvValue v) { return gv_is_kind(v, GV_KNATIVE) && ((GvNative *)v.as.o)->type == &lock_type; }

GvObject *gv_lock_new(void) {
    return gv_native_new(&lock_type, sizeof(Lock));
}

static bool lock_free(void *obj) { return !((Lock *)obj)->locked; }
static void lock_take(void *obj, void *out) {
    (void)out;
    ((Lock *)obj)->locked = true;
}

int gv_lock_acquire(GvThreadState *ts, GvObject *lock, double timeout) {
    Lock *l = (Lock *)lock;
    pthread_mutex_t *m = &ts->interp->mutex;
    pthread_mutex_lock(m);
    bool got = !l->locked;
    if (got) l->locked = true;
    pthread_mutex_unlock(m);
    if (got) return 1;
    if (timeout == 0) return 0;
    return wait_for(ts, &l->waiters, l, lock_free, lock_take, NULL, deadline_from(timeout));
}

int gv_lock_release(GvThreadState *ts, GvObject *lock) {
    Lock *l = (Lock *)lock;
    pthread_mutex_t *m = &ts->interp->mutex;
    pthread_mutex_lock(m);
    bool was = l->locked;
    if (was) {
        l->locked = false;
        gv_unpark_one(&l->waiters);
    }
    pthread_mutex_unlock(m);
    if (!was) return gv_err_format(&gv_type_RuntimeError, "release unlocked lock");
    return 0;
}

/* ---- queues ---- */

typedef struct Queue {
    GvNative hdr;
    GvValue *items;     /* ring buffer, strong references; under interp->mutex */
    size_t head, size, cap;
    GvWaitQueue getters;
} Queue;

/* Empties the queue before dropping the items: an item's destructor may
 * reach this queue again (it may be the queue itself). Also its destructor. */
static void queue_clear(GvObject *o) {
    Queue *q = (Queue *)o;
    GvValue *items = q->items;
    size_t head = q->head, size = q->size, cap = q->cap;
    q->items = NULL;
    q->head = q->size = q->cap = 0;
    for (size_t i = 0; i < size; i++) gv_vdecref(items[(head + i) % cap]);
    gv_free(items);
}
static const GvNativeType queue_type = {"queue", queue_clear, queue_clear};

bool gv_is_queue(GvValue v) { return gv_is_kind(v, GV_KNATIVE) && ((GvNative *)v.as.o)->type == &queue_type; }

GvObject *gv_queue_new(void) {
    return gv_native_new(&queue_type, sizeof(Queue));
}

int gv_queue_put(GvThreadState *ts, GvObject *queue, GvValue v) {
    Queue *q = (Queue *)queue;
    pthread_mutex_t *m = &ts->interp->mutex;
    pthread_mutex_lock(m);
    if (q->size == q->cap) {
        /* Grow by moving the ring into a larger array: nothing else is
         * touched, so this is safe under the mutex alone. */
        size_t ncap = q->cap ? q->cap * 2 : 8;
        GvValue *ni = ncap < SIZE_MAX / sizeof(GvValue) ? gv_mem_alloc(ncap * sizeof(GvValue), 0) : NULL;
        if (!ni) {
            pthread_mutex_unlock(m);
            return gv_err_nomemory();
        }
        for (size_t i = 0; i < q->size; i++) ni[i] = q->items[(q->head + i) % q->cap];
        gv_free(q->items);
        q->items = ni;
        q->head = 0;
        q->cap = ncap;
    }
    q->items[(q->head + q->size) % q->cap] = gv_vincref(v);
    q->size++;
    gv_unpark_one(&q->getters);
    pthread_mutex_unlock(m);
    return 0;
}

static bool queue_nonempty(void *obj) { return ((Queue *)obj)->size > 0; }
static void queue_take(void *obj, void *out) {
    Queue *q = obj;
    *(GvValue *)out = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->size--;
    /* Another getter may be parked behind us with items still left. */
    if (q->size) gv_unpark_one(&q->getters);
}

int gv_queue_get(GvThreadState *ts, GvObject *queue, double timeout, GvValue *out) {
    Queue *q = (Queue *)queue;
    pthread_mutex_t *m = &ts->interp->mutex;
    pthread_mutex_lock(m);
    bool got = q->size > 0;
    if (got) queue_take(q, out);
    pthread_mutex_unlock(m);
    if (got) return 1;
    if (timeout == 0) return 0;
    return wait_for(ts, &q->getters, q, queue_nonempty, queue_take, out, deadline_from(timeout));
}

/* ---- sleep ---- */

static bool never(void *obj) {
    (void)obj;
    return false;
}
static void nothing(void *obj, void *out) {
    (void)obj;
    (void)out;
}

int gv_sleep(GvThreadState *ts, double seconds) {
    if (!(seconds > 0) || ts->interp->gil.mode == GV_GIL_SCHEDULE) {
        /* sleep(0): let another thread run, as Python's does. Under the
         * deterministic schedule every sleep is such a yield: time must not
         * decide the interleaving. */
        if (gv_gil_yield(&ts->interp->gil, ts) < 0) gv_thread_abandon(ts);
        return 0;
    }
    return wait_for(ts, NULL, NULL, never, nothing, NULL, deadline_from(seconds)) < 0 ? -1 : 0;
}
