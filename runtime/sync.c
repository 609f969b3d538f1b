/* Locks and queues for programs.
 *
 * Their state is guarded by the interpreter's mutex, not by the GIL, because
 * waiters look at it while they have released the GIL. Values in a queue are
 * only moved under the mutex (ownership passes from putter to getter), never
 * increfed or decrefed there: touching refcounts needs the GIL.
 *
 * Every wait goes through gv_wait (runtime/wait.c): it releases the GIL and
 * can be interrupted by Ctrl-C, an asynchronous exception, a pending call or
 * finalization. */
#include "sync.h"

#include <math.h>
#include <stdlib.h>

#include "errors.h"
#include "wait.h"

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
    GvWaitSpec w = {.queue = &l->waiters, .ready = lock_free, .take = lock_take, .obj = l, .timeout = timeout,
                    .kind = "lock"};
    return gv_wait(ts, &w);
}

int gv_lock_release(GvThreadState *ts, GvObject *lock) {
    Lock *l = (Lock *)lock;
    pthread_mutex_t *m = &ts->interp->mutex;
    pthread_mutex_lock(m);
    bool was = l->locked;
    if (was) {
        l->locked = false;
        gv_wake_one(&l->waiters);
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
    gv_wake_one(&q->getters);
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
    if (q->size) gv_wake_one(&q->getters);
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
    GvWaitSpec w = {.queue = &q->getters, .ready = queue_nonempty, .take = queue_take, .obj = q, .out = out,
                    .timeout = timeout, .kind = "queue"};
    return gv_wait(ts, &w);
}

/* ---- sleep ---- */

static bool never(void *obj) {
    (void)obj;
    return false;
}

int gv_sleep(GvThreadState *ts, double seconds) {
    if (!(seconds > 0)) {
        /* sleep(0): let another thread run, as Python's does. */
        if (gv_gil_yield(ts->interp->gil, ts) < 0) gv_tstate_abandon(ts);
        return 0;
    }
    GvWaitSpec w = {.ready = never, .timeout = seconds, .kind = "sleep"};
    return gv_wait(ts, &w) < 0 ? -1 : 0;
}
