/* Threads: attaching to the GIL, parking, starting OS threads, shutdown.
 *
 * Parking
 * -------
 * Every blocking wait of the VM (sleep, a lock, a queue, a join) goes
 * through gv_park: the thread releases the GIL, then sleeps on its *own*
 * condition variable (ts->park_cond) under the interpreter's mutex, linked
 * into the wait queue of what it waits for. Whoever changes that thing
 * (lock_release, queue_put, a thread ending) wakes the first or every parked
 * thread. Because each thread sleeps on its own condition, anyone can wake a
 * particular thread without knowing what it waits for: an asynchronous
 * exception, Ctrl-C, or finalization sets ts->interrupted and signals
 * ts->park_cond, and the wait returns at once. No wait touches the object it
 * waits on after it was woken or interrupted, except under the mutex while
 * the waiter's frame still holds a reference to it.
 *
 * Lock order: interp->mutex is never held while taking the GIL.
 *
 * Shutdown
 * --------
 * Gv_Finalize first waits for the threads started by thread_start (not the
 * daemon ones). Then it marks the runtime finalizing and wakes every parked
 * thread and every GIL waiter. A thread that then tries to take the GIL gets
 * a refusal (gv_gil_take returns -1) and abandons itself: it marks its thread
 * state GV_TS_ABANDONED and ends its OS thread, touching nothing else. When
 * every other thread has ended or been abandoned, the finalizer (the only
 * thread left touching the VM) frees the abandoned thread states, frames and
 * all, and then the interpreter. If some thread does not come back in time
 * (an embedder's thread blocked in its own C code with the GIL released), the
 * finalizer frees nothing: a leak is better than that thread waking up in
 * freed memory. */
#include "thread.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "errors.h"
#include "exc.h"
#include "frame.h"
#include "str.h"

/* ---- attach / detach ---- */

int gv_tstate_attach(GvThreadState *ts) {
    if (gv_gil_take(&ts->interp->gil, ts) < 0) return -1;
    gv_tstate_set(ts);
    return 0;
}

void gv_tstate_detach(GvThreadState *ts) {
    gv_tstate_set(NULL);
    ts->gil_after_wait = true;
    gv_gil_drop(&ts->interp->gil, ts, false);
}

void gv_tstate_attach_or_exit(GvThreadState *ts) {
    if (gv_tstate_attach(ts) < 0) gv_thread_abandon(ts);
}

/* ---- binding a thread state to its OS thread ----
 *
 * A pthread key with a destructor tells us when an OS thread ends while it
 * still has a thread state (it returned or called pthread_exit, maybe holding
 * the GIL). The key points at a thread-local cell, and the thread state
 * points back at it, both under the runtime lock: so when Gv_Finalize frees
 * a thread state whose OS thread still lives, it clears the cell first, and
 * the destructor, running later, finds nothing to do. */

typedef struct GvBinding {
    GvThreadState *ts;
} GvBinding;

static _Thread_local GvBinding binding;
static pthread_key_t bound_key;
static pthread_once_t bound_once = PTHREAD_ONCE_INIT;
static void on_thread_exit(void *p);

static void make_key(void) {
    if (pthread_key_create(&bound_key, on_thread_exit) != 0) {
        fprintf(stderr, "gilvm: fatal error: pthread_key_create failed\n");
        abort();
    }
}

void gv_thread_bind(GvThreadState *ts) {
    pthread_once(&bound_once, make_key);
    gv_runtime_lock();
    if (binding.ts) binding.ts->binding = NULL;
    binding.ts = ts;
    ts->binding = &binding;
    gv_runtime_unlock();
    pthread_setspecific(bound_key, &binding);
}

GvThreadState *gv_thread_bound(void) {
    gv_runtime_lock();
    GvThreadState *ts = binding.ts;
    gv_runtime_unlock();
    return ts;
}

void gv_thread_unbind(void) {
    gv_runtime_lock();
    if (binding.ts) binding.ts->binding = NULL;
    binding.ts = NULL;
    gv_runtime_unlock();
}

void gv_thread_forget_binding(GvThreadState *ts) {
    gv_runtime_lock();
    if (ts->binding) ts->binding->ts = NULL;
    ts->binding = NULL;
    gv_runtime_unlock();
}

static void uncount(GvThreadState *ts) {
    /* interp->mutex held */
    if (ts->counted) {
        ts->counted = false;
        ts->interp->threads_running--;
        if (ts->nondaemon) ts->interp->nondaemon_running--;
        pthread_cond_broadcast(&ts->interp->threads_cond);
    }
}

_Noreturn void gv_thread_abandon(GvThreadState *ts) {
    GvInterpreterState *interp = ts->interp;
    gv_tstate_set(NULL);
    gv_thread_unbind();
    pthread_mutex_lock(&interp->mutex);
    ts->status = GV_TS_ABANDONED;
    uncount(ts);
    pthread_mutex_unlock(&interp->mutex);
    pthread_exit(NULL);
}

/* The thread that owns ts (attached) is done with it for good. */
static void finish(GvThreadState *ts) {
    GvInterpreterState *interp = ts->interp;
    gv_pending_drop_for(ts);
    gv_tstate_clear(ts);
    gv_tstate_unlink(ts);
    gv_thread_unbind();
    gv_tstate_set(NULL);
    gv_gil_drop(&interp->gil, ts, false);
    gv_gil_forget(&interp->gil, ts);
    bool counted = ts->counted, nondaemon = ts->nondaemon;
    gv_tstate_free(ts);
    if (counted) {
        /* Last touch of the interpreter: once the count reaches zero the
         * finalizer may free it. */
        pthread_mutex_lock(&interp->mutex);
        interp->threads_running--;
        if (nondaemon) interp->nondaemon_running--;
        pthread_cond_broadcast(&interp->threads_cond);
        pthread_mutex_unlock(&interp->mutex);
    }
}

/* An OS thread ended while bound to a thread state: by returning from C
 * code that never gave the state back, by pthread_exit, or while holding the
 * GIL. Release what it held so the VM goes on. */
static void on_thread_exit(void *p) {
    GvBinding *b = p;
    gv_runtime_lock();
    GvThreadState *ts = b->ts;
    b->ts = NULL;
    if (ts) ts->binding = NULL;
    if (!ts || gv_runtime_finalizing() || ts->status == GV_TS_ABANDONED) {
        /* Nothing bound, or the finalizer owns (and may free) the state. */
        gv_runtime_unlock();
        return;
    }
    /* Counted, so the finalizer waits for us while we use ts below. */
    pthread_mutex_lock(&ts->interp->mutex);
    if (!ts->counted) {
        ts->counted = true;
        ts->interp->threads_running++;
    }
    pthread_mutex_unlock(&ts->interp->mutex);
    gv_runtime_unlock();
    if (!ts->runtime_owned) {
        /* Its creator deletes it; the thread only gives back the GIL. */
        if (ts->holds_gil) gv_gil_drop(&ts->interp->gil, ts, false);
        if (gv_tstate_get() == ts) gv_tstate_set(NULL);
        pthread_mutex_lock(&ts->interp->mutex);
        uncount(ts);
        pthread_mutex_unlock(&ts->interp->mutex);
        return;
    }
    if (!ts->holds_gil && gv_tstate_attach(ts) < 0) {
        /* Finalizing started meanwhile: leave it to the finalizer. */
        GvInterpreterState *interp = ts->interp;
        pthread_mutex_lock(&interp->mutex);
        ts->status = GV_TS_ABANDONED;
        uncount(ts);
        pthread_mutex_unlock(&interp->mutex);
        return;
    }
    gv_tstate_set(ts);
    finish(ts);
}

/* ---- parking ---- */

static void enqueue(GvWaitQueue *q, GvThreadState *ts) {
    ts->wait_next = NULL;
    if (q->tail)
        q->tail->wait_next = ts;
    else
        q->head = ts;
    q->tail = ts;
}

static void dequeue(GvWaitQueue *q, GvThreadState *ts) {
    GvThreadState *prev = NULL;
    for (GvThreadState *t = q->head; t; prev = t, t = t->wait_next) {
        if (t != ts) continue;
        if (prev)
            prev->wait_next = t->wait_next;
        else
            q->head = t->wait_next;
        if (q->tail == t) q->tail = prev;
        t->wait_next = NULL;
        return;
    }
}

static void to_timespec(uint64_t ns, struct timespec *t) {
    t->tv_sec = (time_t)(ns / 1000000000u);
    t->tv_nsec = (long)(ns % 1000000000u);
}

/* Something the thread must handle before it may sleep: an interruption, or
 * a due pending call, asynchronous exception or signal (these can be due
 * without an interruption: re-armed after a failed call, or at an unmask). */
static bool must_wake(GvThreadState *ts) {
    return atomic_load(&ts->interrupted) ||
           (atomic_load_explicit(&ts->eval_breaker, memory_order_relaxed) &
            (GV_EB_PENDING_CALLS | GV_EB_ASYNC_EXC | GV_EB_SIGNAL));
}

GvParkResult gv_park(GvThreadState *ts, GvWaitQueue *q, uint64_t deadline_ns) {
    if (must_wake(ts)) return GV_PARK_INTERRUPTED;
    gv_park_prepare(ts, q);
    return gv_park_prepared(ts, q, deadline_ns);
}

void gv_park_prepare(GvThreadState *ts, GvWaitQueue *q) {
    ts->wake = false;
    if (q) enqueue(q, ts);
}

GvParkResult gv_park_prepared(GvThreadState *ts, GvWaitQueue *q, uint64_t deadline_ns) {
    pthread_mutex_t *m = &ts->interp->mutex;
    ts->parked = true;
    GvParkResult r = GV_PARK_WOKEN;
    if (ts->interp->gil.mode == GV_GIL_PRIORITY_SPIN) {
        /* Spin mode: whoever wakes us is likely running on the other core
         * right now; a short spin saves the futex round trip. */
        pthread_mutex_unlock(m);
        gv_gil_spin_until(&ts->interp->gil, ts, &ts->wake, &ts->interrupted);
        pthread_mutex_lock(m);
    }
    while (!ts->wake) {
        if (must_wake(ts)) {
            r = GV_PARK_INTERRUPTED;
            break;
        }
        if (deadline_ns) {
            struct timespec t;
            to_timespec(deadline_ns, &t);
            if (pthread_cond_timedwait(&ts->park_cond, m, &t) == ETIMEDOUT && !ts->wake) {
                r = GV_PARK_TIMEOUT;
                break;
            }
        } else {
            pthread_cond_wait(&ts->park_cond, m);
        }
    }
    if (ts->wake) r = GV_PARK_WOKEN;
    else if (q) dequeue(q, ts);
    ts->parked = false;
    return r;
}

void gv_unpark_one(GvWaitQueue *q) {
    GvThreadState *t = q->head;
    if (!t) return;
    dequeue(q, t);
    /* Schedule mode: runnable now, at this deterministic point, whenever its
     * OS thread gets to wake up. */
    if (t->interp->gil.mode == GV_GIL_SCHEDULE) gv_gil_sched_runnable(&t->interp->gil, t);
    t->wake = true;
    pthread_cond_signal(&t->park_cond);
}

void gv_unpark_all(GvWaitQueue *q) {
    while (q->head) gv_unpark_one(q);
}

void gv_thread_interrupt(GvThreadState *ts) {
    atomic_store(&ts->interrupted, true);
    pthread_mutex_lock(&ts->interp->mutex);
    pthread_cond_signal(&ts->park_cond);
    pthread_mutex_unlock(&ts->interp->mutex);
}

/* ---- thread handles ---- */

typedef struct Handle {
    GvNative hdr;
    unsigned long id;
    bool daemon;
    bool done;            /* under interp->mutex */
    GvValue result;       /* strong; written (with the GIL) before done is set */
    GvWaitQueue joiners;  /* under interp->mutex */
    GvThreadState *ts;    /* borrowed; NULL once the thread is done */
} Handle;

/* Also its destructor: the result is all it holds. */
static void handle_clear(GvObject *o) {
    Handle *h = (Handle *)o;
    GvValue r = h->result;
    h->result = gv_none();
    gv_vdecref(r);
}

static const GvNativeType handle_type = {"thread", handle_clear, handle_clear};

bool gv_is_thread_handle(GvValue v) {
    return gv_is_kind(v, GV_KNATIVE) && ((GvNative *)v.as.o)->type == &handle_type;
}

unsigned long gv_thread_handle_id(GvObject *handle) { return ((Handle *)handle)->id; }

/* What a new thread runs, owned by its thread state until it starts. */
typedef struct StartArgs {
    GvValue callable; /* strong */
    int argc;
    GvValue argv[];   /* strong */
} StartArgs;

static void start_args_free(StartArgs *a) {
    gv_vdecref(a->callable);
    for (int i = 0; i < a->argc; i++) gv_vdecref(a->argv[i]);
    free(a);
}

static void report_exception(GvThreadState *ts) {
    GvObject *exc = gv_err_take(ts);
    if (!exc) return;
    GvException *e = (GvException *)exc;
    if (!gv_type_is_subtype(e->type, &gv_type_SystemExit)) {
        fflush(stdout);
        fprintf(stderr, "Exception in thread %lu:\n", ts->id);
        gv_exc_print(exc, stderr);
    }
    gv_decref(exc);
}

static void *thread_main(void *p) {
    GvThreadState *ts = p;
    StartArgs *a = ts->start_args;
    gv_thread_bind(ts);
    gv_tstate_attach_or_exit(ts);
    GvValue result;
    if (ts->interp->eval_call(ts, a->callable, a->argc, a->argv, &result) < 0) {
        report_exception(ts);
        result = gv_none();
    }
    /* Kept on ts until now: if the thread is abandoned while it runs, the
     * finalizer frees them. */
    ts->start_args = NULL;
    start_args_free(a);
    Handle *h = (Handle *)ts->handle;
    h->result = result;
    pthread_mutex_lock(&ts->interp->mutex);
    h->done = true;
    h->ts = NULL;
    gv_unpark_all(&h->joiners);
    pthread_mutex_unlock(&ts->interp->mutex);
    finish(ts);
    return NULL;
}

GvObject *gv_thread_start(GvThreadState *ts, GvValue callable, int argc, GvValue *argv, bool daemon) {
    GvInterpreterState *interp = ts->interp;
    if (gv_runtime_finalizing()) {
        gv_err_format(&gv_type_RuntimeError, "can't create new thread at interpreter shutdown");
        return NULL;
    }
    Handle *h = (Handle *)gv_native_new(&handle_type, sizeof(Handle));
    if (!h) return NULL;
    h->daemon = daemon;
    StartArgs *a = malloc(sizeof *a + (size_t)argc * sizeof(GvValue));
    GvThreadState *nts = a ? gv_tstate_new(interp) : NULL;
    if (!nts) {
        free(a);
        gv_decref(&h->hdr.ob);
        gv_err_nomemory();
        return NULL;
    }
    a->callable = gv_vincref(callable);
    a->argc = argc;
    for (int i = 0; i < argc; i++) a->argv[i] = gv_vincref(argv[i]);
    h->id = nts->id;
    h->ts = nts;
    nts->daemon = daemon;
    nts->gil_after_wait = false; /* a new VM thread queues with the CPU-bound ones */
    nts->runtime_owned = true;
    nts->handle = &h->hdr.ob;
    nts->nondaemon = !daemon;
    gv_incref(&h->hdr.ob);
    nts->start_args = a;
    pthread_mutex_lock(&interp->mutex);
    nts->counted = true;
    interp->threads_running++;
    if (!daemon) interp->nondaemon_running++;
    pthread_mutex_unlock(&interp->mutex);

    if (interp->gil.mode == GV_GIL_SCHEDULE) gv_gil_sched_runnable(&interp->gil, nts);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, thread_main, nts);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_lock(&interp->mutex);
        nts->counted = false;
        interp->threads_running--;
        if (!daemon) interp->nondaemon_running--;
        pthread_mutex_unlock(&interp->mutex);
        nts->start_args = NULL;
        start_args_free(a);
        gv_tstate_delete(nts); /* drops its reference to the handle */
        gv_decref(&h->hdr.ob);
        gv_err_format(&gv_type_RuntimeError, "can't start new thread (error %d)", rc);
        return NULL;
    }
    return &h->hdr.ob;
}

int gv_thread_join(GvThreadState *ts, GvObject *handle, GvValue *result) {
    Handle *h = (Handle *)handle;
    GvInterpreterState *interp = ts->interp;
    if (h->ts == ts) return gv_err_format(&gv_type_RuntimeError, "cannot join current thread");
    for (;;) {
        pthread_mutex_lock(&interp->mutex);
        bool done = h->done;
        pthread_mutex_unlock(&interp->mutex);
        if (done) break;
        gv_tstate_detach(ts);
        pthread_mutex_lock(&interp->mutex);
        GvParkResult r = GV_PARK_WOKEN;
        while (!h->done && r != GV_PARK_INTERRUPTED) r = gv_park(ts, &h->joiners, 0);
        pthread_mutex_unlock(&interp->mutex);
        gv_tstate_attach_or_exit(ts);
        if (r == GV_PARK_INTERRUPTED && gv_tstate_check_interrupts(ts) < 0) return -1;
    }
    *result = gv_vincref(h->result);
    return 0;
}

/* ---- shutdown ---- */

void gv_threads_wait_nondaemon(GvThreadState *ts) {
    GvInterpreterState *interp = ts->interp;
    pthread_mutex_lock(&interp->mutex);
    bool any = interp->nondaemon_running > 0;
    pthread_mutex_unlock(&interp->mutex);
    if (!any) return;
    gv_tstate_detach(ts);
    pthread_mutex_lock(&interp->mutex);
    while (interp->nondaemon_running > 0) pthread_cond_wait(&interp->threads_cond, &interp->mutex);
    pthread_mutex_unlock(&interp->mutex);
    gv_tstate_attach_or_exit(ts);
}

bool gv_threads_shutdown(GvThreadState *ts, uint64_t timeout_ns) {
    GvInterpreterState *interp = ts->interp;
    interp->finalizer = ts;
    gv_runtime_set_finalizing(true);
    /* Wake every parked thread and every GIL waiter: each will find it may
     * not run and abandon itself. */
    pthread_mutex_lock(&interp->mutex);
    for (GvThreadState *t = interp->threads; t; t = t->next) {
        if (t == ts) continue;
        atomic_store(&t->interrupted, true);
        pthread_cond_signal(&t->park_cond);
    }
    pthread_mutex_unlock(&interp->mutex);
    gv_gil_wake_all(&interp->gil);

    struct timespec deadline;
    to_timespec(gv_now_ns() + timeout_ns, &deadline);
    pthread_mutex_lock(&interp->mutex);
    while (interp->threads_running > 0)
        if (pthread_cond_timedwait(&interp->threads_cond, &interp->mutex, &deadline) == ETIMEDOUT) break;
    bool all_gone = interp->threads_running == 0;
    pthread_mutex_unlock(&interp->mutex);
    if (!all_gone) return false;

    /* Only the abandoned (and this thread, and states no thread uses) remain. */
    GvThreadState *t = interp->threads;
    while (t) {
        GvThreadState *next = t->next;
        if (t != ts && t->status == GV_TS_ABANDONED) {
            gv_frame_teardown_all(t);
            if (t->start_args) start_args_free(t->start_args);
            t->start_args = NULL;
            gv_tstate_delete(t);
        }
        t = next;
    }
    return true;
}
