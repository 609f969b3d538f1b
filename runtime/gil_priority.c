/* The priority policy, and the FIFO policies built on it (spin, adaptive).
 *
 * CPython's GIL lets the dropper and every woken waiter race for it, and a
 * thread coming back from I/O waits a whole interval before it may ask the
 * holder to drop: the convoy effect. Here instead:
 *
 * - Direct handoff. Waiters queue; the dropper picks the next holder, makes
 *   it the holder (`locked` never goes to 0 in between) and signals that one
 *   thread on its own condition variable. Nobody barges in.
 * - Priority. A thread coming back from a blocking wait (sleep, lock, queue,
 *   join, an embedder's Gv_BEGIN_ALLOW_THREADS) or entering the VM from
 *   outside (a new thread state: GvGILState_Ensure) queues in `prio` and asks
 *   the holder to drop as soon as the holder has run GV_GIL_MIN_SLICE_NS.
 *   Threads forced to drop, and threads the VM starts, queue in `norm`, FIFO:
 *   round robin among CPU-bound threads. A forced dropper queues itself and
 *   hands over in one step (yield_handoff), so no other waiter can slip in
 *   ahead of it while it is preempted between the two.
 * - A request is not lost. A waiter asks once; the handoff it causes may go
 *   to another waiter (one further ahead), so whoever takes the GIL while
 *   `prio` (or a starving `norm` head) still waits is asked at once in its
 *   turn (took()). Without this the second of two threads back from I/O
 *   waited a whole interval.
 * - No starvation. A `norm` waiter that waits a whole switch interval with
 *   no CPU-bound turn served means the holder's turn is over: the head of
 *   `norm` asks the holder to drop and is marked starving (woken to ask, if
 *   the one that noticed is behind it: then it is awake for the handoff); a
 *   starving head is served before `prio`, and each new CPU-bound turn lets
 *   the others wait a fresh interval. The bound: the head of `norm` gets the GIL within one
 *   switch interval plus one minimum slice (plus the time the holder needs to
 *   reach an eval-breaker check), whatever stream of priority threads
 *   arrives; a thread behind it in `norm` within that much per thread ahead
 *   of it. A `prio` waiter waits at most for the starving `norm` heads ahead
 *   of it, one slice each. (Beazley's priority-request proposal had no such
 *   bound: an I/O thread that never really blocks could keep a CPU-bound one
 *   out forever. tests/unit/test_gil_modes.c checks the order by hand-built
 *   queues.)
 * The queues themselves, the grant and the handover are common (gil.c: the
 * FIFO); a refining policy adds a spin before a waiter sleeps
 * (gil_spin.c, gil_adaptive.c). */

#include <assert.h>

#include "breaker.h"
#include "gil_policy.h"

int gv_gil_priority_take(GvGIL *gil, GvThreadState *ts) {
    bool prio = ts->gil_after_wait;
    ts->gil_after_wait = false;
    uint64_t start = gv_now_ns();
    gv_gil_lock(gil);
    if (gv_gil_must_exit(ts)) {
        pthread_mutex_unlock(&gil->mutex);
        return -1;
    }
    if (!atomic_load_explicit(&gil->locked, memory_order_relaxed)) {
        gv_gil_make_holder(gil, ts, start);
    } else if (gv_gil_fifo_wait(gil, ts, prio ? GV_FIFO_PRIO : GV_FIFO_NORM) < 0) {
        pthread_mutex_unlock(&gil->mutex);
        return -1;
    }
    gv_gil_fifo_took(gil, ts, start);
    pthread_mutex_unlock(&gil->mutex);
    return 0;
}

void gv_gil_priority_drop(GvGIL *gil, GvThreadState *ts, bool forced) {
    gv_gil_lock(gil);
    assert(ts->holds_gil && gil->holder == ts); /* only the holder drops */
    ts->holds_gil = false;
    gv_gil_count_drop(gil, ts, forced);
    gv_gil_fifo_hand_over(gil);
    pthread_mutex_unlock(&gil->mutex);
}

/* A forced switch: the holder queues itself at the tail of `norm` and hands
 * over in one step under the mutex. Done as a drop and then a take, the
 * dropper could be preempted in between (three runnable threads on two
 * cores) and another waiter, asking meanwhile, would find it missing from the
 * queue: CPU-bound threads would lose turns. Returns 1 if nobody waits (the
 * request was stale: keep running), 0 once ts holds the GIL again, -1 if ts
 * must exit (not holding it). */
int gv_gil_priority_yield_handoff(GvGIL *gil, GvThreadState *ts) {
    uint64_t start = gv_now_ns();
    gv_gil_lock(gil);
    if (gv_gil_fifo_empty(gil)) {
        pthread_mutex_unlock(&gil->mutex);
        return 1;
    }
    /* Interrupted by a thread back from a wait (no starving waiter first),
     * the policy may let ts resume its turn after it. */
    GvThreadState *next = gv_gil_fifo_next(gil);
    GvFifoPlace place =
        gv_gil_policy_of(gil)->resume_after_prio && next == gil->prio_head ? GV_FIFO_NORM_FRONT : GV_FIFO_NORM;
    ts->holds_gil = false;
    gv_gil_count_drop(gil, ts, true);
    gv_gil_fifo_hand_over(gil);
    if (gv_gil_must_exit(ts) || gv_gil_fifo_wait(gil, ts, place) < 0) {
        pthread_mutex_unlock(&gil->mutex);
        return -1;
    }
    gv_gil_fifo_took(gil, ts, start);
    pthread_mutex_unlock(&gil->mutex);
    return 0;
}

int gv_gil_priority_yield(GvGIL *gil, GvThreadState *ts) {
    /* The minimum slice: keep the request (so the next checks come back
     * here) but run on until the holder has had GV_GIL_MIN_SLICE_NS. A
     * starving waiter does not wait for it, unless the holder is a thread
     * back from a wait: that one mostly blocks again within its slice, and
     * forced out now it would queue behind every CPU-bound thread (the I/O
     * thread's p99 behind 2 CPU threads: 4 ms, a whole turn each). */
    if (gv_now_ns() - ts->gil_since < GV_GIL_MIN_SLICE_NS) {
        gv_gil_lock(gil);
        bool starving = gil->norm_head && gil->norm_head->gil_starving && !gil->holder_after_wait;
        pthread_mutex_unlock(&gil->mutex);
        if (!starving) {
            GV_TL(gv_tl_deferred(ts));
            return 0;
        }
    }
    gv_eb_clear(ts, GV_EB_GIL_DROP_REQUEST);
    ts->gil_after_wait = false;
    int r = gv_gil_priority_yield_handoff(gil, ts);
    if (r == 0) GV_TL(gv_tl_running(ts));
    return r < 0 ? -1 : 0;
}

const GvGILPolicy gv_gil_policy_priority = {
    .name = "priority",
    .selectable = true,
    .take = gv_gil_priority_take,
    .drop = gv_gil_priority_drop,
    .yield = gv_gil_priority_yield,
};
