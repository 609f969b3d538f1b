/* The classic policy: CPython's "new GIL" (3.2+), kept as the reference.
 *
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
 * Known weaknesses, measured in bench/: a thread coming back from I/O waits a
 * whole interval behind a CPU-bound holder (the convoy effect), and every
 * handoff is two trips through the kernel. The FIFO policies
 * (gil_priority.c, gil_spin.c, gil_adaptive.c) address them. */
#include <assert.h>
#include <errno.h>

#include "breaker.h"
#include "gil_policy.h"

static int take_classic(GvGIL *gil, GvThreadState *ts) {
    ts->gil_after_wait = false;
    uint64_t start = gv_now_ns();
    gv_gil_lock(gil);
    if (gv_gil_must_exit(ts)) {
        pthread_mutex_unlock(&gil->mutex);
        return -1;
    }
    while (atomic_load_explicit(&gil->locked, memory_order_relaxed)) {
        uint64_t seen = gil->switch_number;
        struct timespec deadline;
        gv_gil_deadline_after(&deadline, atomic_load_explicit(&gil->interval_ns, memory_order_relaxed));
        int rc = pthread_cond_timedwait(&gil->cond, &gil->mutex, &deadline);
        if (gv_gil_must_exit(ts)) {
            pthread_mutex_unlock(&gil->mutex);
            return -1;
        }
        if (rc == ETIMEDOUT && atomic_load_explicit(&gil->locked, memory_order_relaxed) &&
            gil->switch_number == seen && gil->holder) {
            /* A whole interval without a switch: ask the holder to drop. */
            gv_gil_request_drop(gil, ts, GV_TL_REASON_INTERVAL);
        }
    }
    uint64_t now = gv_now_ns();
    gv_gil_make_holder(gil, ts, now);
    gv_gil_count_take(gil, ts, start);
    /* A forced dropper waits for exactly this. */
    pthread_cond_signal(&gil->switch_cond);
    /* A request aimed at us while we waited is stale: we just got the GIL. */
    gv_eb_clear(ts, GV_EB_GIL_DROP_REQUEST);
    ts->holds_gil = true;
    pthread_mutex_unlock(&gil->mutex);
    return 0;
}

static void drop_classic(GvGIL *gil, GvThreadState *ts, bool forced) {
    gv_gil_lock(gil);
    assert(ts->holds_gil && gil->holder == ts); /* only the holder drops */
    ts->holds_gil = false;
    atomic_store_explicit(&gil->locked, 0, memory_order_relaxed);
    gv_gil_count_drop(gil, ts, forced);
    pthread_cond_signal(&gil->cond);
    if (forced) {
        /* Wait until another thread has taken it (the holder changed). The
         * waiter that asked is there to take it; on a loaded machine it may
         * need a while to be scheduled, so the bound (against a requester
         * that vanished) is generous, and finalization wakes us. */
        struct timespec deadline;
        gv_gil_deadline_after(&deadline, 1000000000);
        while (gil->holder == ts && !gv_gil_must_exit(ts)) {
            if (pthread_cond_timedwait(&gil->switch_cond, &gil->mutex, &deadline) == ETIMEDOUT) break;
        }
    }
    pthread_mutex_unlock(&gil->mutex);
}

const GvGILPolicy gv_gil_policy_classic = {
    .name = "classic",
    .selectable = true,
    .take = take_classic,
    .drop = drop_classic,
    .yield = gv_gil_yield_drop_take,
};
