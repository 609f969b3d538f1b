/* The global interpreter lock.
 *
 * What it is for
 * --------------
 * Objects are refcounted with plain (non-atomic) counters and nothing else in
 * the object model is locked. That is safe because only one thread at a time
 * runs VM code: the one holding the GIL. Every other thread either waits for
 * the GIL or is "detached", doing something that touches no VM object (a
 * blocking wait, a system call, C code of an embedder).
 *
 * How it is handed over (CPython's "new GIL", 3.2+)
 * -------------------------------------------------
 * The GIL is a flag, `locked`, guarded by a mutex, plus a condition variable
 * that waiters sleep on. A thread that wants the GIL and finds it taken waits
 * on the condition for at most the switch interval (5 ms by default). If it
 * wakes up by timeout and no switch has happened in the meantime (the
 * `switch_number` is unchanged), the holder has been running for a whole
 * interval while others wait: the waiter sets GV_EB_GIL_DROP_REQUEST in the
 * holder's eval breaker. The holder's eval loop checks its eval breaker at
 * every backward jump and function entry, so within one loop iteration it
 * sees the request, drops the GIL (signalling the condition) and asks for it
 * again.
 *
 * Forced switching: after a drop that a waiter requested, the dropper waits
 * on `switch_cond` until some other thread has actually taken the GIL.
 * Without this the dropper, already running, would usually win the race for
 * the mutex and take the GIL straight back, and the waiter would starve.
 *
 * Voluntary drops (a blocking call releasing the GIL, a thread ending) just
 * drop: there is no need to wait for a successor.
 *
 * Known weaknesses, measured in bench/ and addressed by later work: a thread
 * coming back from I/O waits a whole interval behind a CPU-bound holder (the
 * convoy effect), and every handoff is two trips through the kernel.
 *
 * Finalization: once the interpreter is finalizing, a thread other than the
 * finalizing one must not run VM code again. gv_gil_take checks before and
 * after every wait and returns -1 instead of taking the GIL; the caller ends
 * the thread (or reports the failure, for GvEval_AcquireThreadOrFail). */
#include "gil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tstate.h"

uint64_t gv_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void check(int rc, const char *what) {
    if (rc != 0) {
        fprintf(stderr, "gilvm: fatal error: %s failed (error %d)\n", what, rc);
        abort();
    }
}

void gv_gil_init(GvGIL *gil) {
    check(pthread_mutex_init(&gil->mutex, NULL), "GIL mutex init");
    pthread_condattr_t attr;
    check(pthread_condattr_init(&attr), "condattr init");
    /* Timed waits measure the interval on the monotonic clock: a wall-clock
     * jump must not stretch or skip a switch. */
    check(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC), "condattr setclock");
    check(pthread_cond_init(&gil->cond, &attr), "GIL cond init");
    check(pthread_cond_init(&gil->switch_cond, &attr), "GIL switch cond init");
    pthread_condattr_destroy(&attr);
    atomic_store(&gil->locked, 0);
    gil->holder = NULL;
    gil->switch_number = 0;
    atomic_store(&gil->interval_ns, 5000000);
    memset(&gil->stats, 0, sizeof gil->stats);
}

static void deadline_after(struct timespec *ts, int64_t ns) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ns / 1000000000);
    ts->tv_nsec += (long)(ns % 1000000000);
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static void count_wait(GvGILCounters *c, uint64_t waited) {
    c->wait_ns_total += waited;
    if (waited > c->wait_ns_max) c->wait_ns_max = waited;
    uint64_t us = waited / 1000;
    unsigned b = 0;
    while (us > 1 && b + 1 < GV_GIL_HIST_BUCKETS) {
        us >>= 1;
        b++;
    }
    c->wait_hist[b]++;
}

/* Called with gil->mutex held. */
static bool must_exit(GvThreadState *ts) { return gv_tstate_must_exit(ts); }

int gv_gil_take(GvGIL *gil, GvThreadState *ts) {
    uint64_t start = gv_now_ns();
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    if (must_exit(ts)) {
        pthread_mutex_unlock(&gil->mutex);
        return -1;
    }
    while (atomic_load_explicit(&gil->locked, memory_order_relaxed)) {
        uint64_t seen = gil->switch_number;
        struct timespec deadline;
        deadline_after(&deadline, atomic_load_explicit(&gil->interval_ns, memory_order_relaxed));
        int rc = pthread_cond_timedwait(&gil->cond, &gil->mutex, &deadline);
        if (must_exit(ts)) {
            pthread_mutex_unlock(&gil->mutex);
            return -1;
        }
        if (rc == ETIMEDOUT && atomic_load_explicit(&gil->locked, memory_order_relaxed) &&
            gil->switch_number == seen && gil->holder) {
            /* A whole interval without a switch: ask the holder to drop. */
            atomic_fetch_or_explicit(&gil->holder->eval_breaker, GV_EB_GIL_DROP_REQUEST,
                                     memory_order_relaxed);
            gil->stats.drop_requests++;
            ts->gil_stats.drop_requests++;
        }
    }
    atomic_store_explicit(&gil->locked, 1, memory_order_relaxed);
    if (gil->holder != ts) {
        gil->holder = ts;
        gil->switch_number++;
        gil->stats.switches++;
        ts->gil_stats.switches++;
    }
    gil->stats.acquisitions++;
    ts->gil_stats.acquisitions++;
    uint64_t waited = gv_now_ns() - start;
    count_wait(&gil->stats, waited);
    count_wait(&ts->gil_stats, waited);
    /* A forced dropper waits for exactly this. */
    pthread_cond_signal(&gil->switch_cond);
    /* A request aimed at us while we waited is stale: we just got the GIL. */
    atomic_fetch_and_explicit(&ts->eval_breaker, ~GV_EB_GIL_DROP_REQUEST, memory_order_relaxed);
    ts->holds_gil = true;
    pthread_mutex_unlock(&gil->mutex);
    return 0;
}

void gv_gil_drop(GvGIL *gil, GvThreadState *ts, bool forced) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    ts->holds_gil = false;
    atomic_store_explicit(&gil->locked, 0, memory_order_relaxed);
    if (forced) {
        gil->stats.forced_drops++;
        ts->gil_stats.forced_drops++;
    } else {
        gil->stats.voluntary_drops++;
        ts->gil_stats.voluntary_drops++;
    }
    pthread_cond_signal(&gil->cond);
    if (forced) {
        /* Wait until another thread has taken it (the holder changed), unless
         * nobody is left to take it: the wait is bounded by the interval. */
        struct timespec deadline;
        deadline_after(&deadline, atomic_load_explicit(&gil->interval_ns, memory_order_relaxed));
        while (gil->holder == ts) {
            if (pthread_cond_timedwait(&gil->switch_cond, &gil->mutex, &deadline) == ETIMEDOUT) break;
        }
    }
    pthread_mutex_unlock(&gil->mutex);
}

int gv_gil_yield(GvGIL *gil, GvThreadState *ts) {
    atomic_fetch_and_explicit(&ts->eval_breaker, ~GV_EB_GIL_DROP_REQUEST, memory_order_relaxed);
    gv_gil_drop(gil, ts, true);
    return gv_gil_take(gil, ts);
}

void gv_gil_forget(GvGIL *gil, GvThreadState *ts) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    if (gil->holder == ts) gil->holder = NULL;
    pthread_mutex_unlock(&gil->mutex);
}

void gv_gil_get_stats(GvGIL *gil, GvGILCounters *out) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    *out = gil->stats;
    pthread_mutex_unlock(&gil->mutex);
}
