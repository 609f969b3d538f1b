/* The adaptive policy, the default: priority's FIFO and direct handoff
 * (gil_priority.c), spinning only where it pays, and CPU-bound turns that
 * threads back from waits interrupt without ending.
 *
 * Spinning saves a futex wake-up (13-20 us on the VM bench/ ran on) per
 * handoff, but costs a core for as long as it lasts, and on a core the
 * holder or another waiter needs it costs more than it saves (spin mode loses
 * countdown at 4 threads that way). So a waiter spins for its grant only when
 * - another core can run the holder meanwhile (gil->spin_ns is 0 on one
 *   core, and at most ncpus - 1 threads spin at once), and
 * - the handoff is imminent and will come to it: it is the next to be served
 *   (gv_gil_fifo_next), and either
 *   - the holder has been asked to drop (by this waiter, back from a blocking
 *     wait or starving after an interval, or by one it follows;
 *     gil->holder_asked: the holder's eval-breaker bit is no witness, a holder
 *     on its way to drop has cleared it) and runs on another core than ours:
 *     it drops at its next eval-breaker check after its minimum slice
 *     (GV_GIL_MIN_SLICE_NS), or sooner when it blocks; or
 *   - the holder is a thread back from a blocking wait that was spinning for
 *     the GIL when it got it (so it runs on another core): such a thread (the
 *     I/O thread, the other side of a ping-pong, the one that sent us a
 *     pending call) mostly runs a little and blocks again, handing the GIL
 *     straight back. Behind one that was still to be woken we do not spin:
 *     the kernel often wakes it on our core, with the other one idle, and it
 *     would wait for our spin to end;
 * - and spins of that kind have been hitting lately (credits a hit earns and
 *   a miss loses): when every core is busy with other work, spins miss.
 * CPU-bound threads take turns of a whole interval each: once a starving
 * waiter is served, the others wait a fresh interval behind it (priority
 * mode gives each of them a minimum slice then; gv_gil_fifo_hand_over). A
 * holder forced to drop for a thread back from a wait keeps its turn: it
 * queues at the front of `norm` and resumes once that thread blocks again
 * (resume_after_prio; waiters starve on CPU-bound turns, gil->turns, so the
 * others still get theirs after an interval). Rotating the CPU-bound threads
 * at every I/O event instead wakes a parked one each time, often on the core
 * the I/O thread has just left, where the kernel may then queue the I/O
 * thread's next wake-up behind it for up to a tick (4 ms) with the other core
 * idle (perf sched). The rotations once per interval still do that now and
 * then: the I/O thread's p99 behind 2-4 CPU threads (bench/README.md).
 * A parked wait spins for its wake-up as in spin mode (gil_spin.c): it waits
 * for an event from the running holder, so it and the holder are the two
 * threads on the cores (capping these spins as well made ping-pong's two
 * threads miss each other: a third of spin mode's round trips); the
 * per-thread adaptive budget shrinks fast for a thread whose waits are long
 * (timers, sleeps) to 0.5 us; a thread that has just woken a sleeping one
 * yields its core first (runtime/wait.c, park). The mutex is glibc's
 * adaptive one (gil.c, init_mutex). */
#include "breaker.h"
#include "gil_policy.h"

/* How long a due handoff may take once the holder's slice is over: a few
 * eval-breaker checks and the handover under the mutex. */
#define GV_GIL_DUE_SPIN_NS 5000

/* Spins for the grant for at most ns, if spins of its kind have been
 * hitting lately: a hit earns a credit (up to 8), a miss costs two, and with
 * none left only every 16th chance spins, to learn whether spins pay again.
 * On a machine whose cores are all busy, spins miss, and a spin that misses
 * only takes the holder's core away from it (measured: ping-pong at load 20
 * on 2 cores, 2.5x slower when every waiter spun). */
static int spin_if_credit(GvGIL *gil, GvThreadState *ts, int64_t ns, int *credit) {
    if (*credit <= 0 && (++gil->spin_probe & 15) != 0) return -1;
    int hit = gv_gil_spin_capped_for(gil, ts, ns);
    if (hit > 0) *credit = *credit < 0 ? 1 : (*credit < 8 ? *credit + 1 : 8);
    else if (hit == 0) *credit = *credit > -8 ? *credit - 2 : -8;
    return hit;
}

static int spin_for_grant(GvGIL *gil, GvThreadState *ts) {
    if (gv_gil_fifo_next(gil) != ts || !gil->holder) return -1;
    /* Behind a thread just back from a blocking wait (the I/O thread, the
     * other side of a ping-pong, the thread that sent us a pending call):
     * such a thread mostly runs a little and blocks again, handing the GIL
     * straight back. Parked, we would pay a futex wake-up (13-20 us on this
     * VM) for it. */
    if (gil->holder_after_wait) {
        /* Only behind one that was spinning for the GIL, so running on
         * another core: a holder still to be woken may well be put on ours
         * (the kernel often does, with the other core idle), and would wait
         * for our spin to end. */
        if (!gil->holder_was_spinning) return -1;
        return spin_if_credit(gil, ts, gil->spin_ns, &gil->after_wait_spin_credit);
    }
    /* Asked by us (back from a wait, or starving) or by whoever we follow:
     * the holder drops at its first eval-breaker check once its minimum
     * slice is over, or sooner when it blocks. Spin for what is left of
     * that slice and a few checks more. (The holder's eval-breaker bit is
     * no witness: a holder on its way to drop has cleared it and may be
     * waiting for the mutex.) */
    if (!gil->holder_asked) return -1;
    /* Not on the holder's core: the holder could not run while we spin
     * (a thread woken by its timer is often put there). */
    if (gil->holder_cpu >= 0 && gil->holder_cpu == gv_current_cpu()) return -1;
    int64_t left = (int64_t)(gil->holder_since + GV_GIL_MIN_SLICE_NS) - (int64_t)gv_now_ns();
    return spin_if_credit(gil, ts, (left > 0 ? left : 0) + GV_GIL_DUE_SPIN_NS, &gil->due_spin_credit);
}

const GvGILPolicy gv_gil_policy_adaptive = {
    .name = "adaptive",
    .selectable = true,
    .take = gv_gil_priority_take,
    .drop = gv_gil_priority_drop,
    .yield = gv_gil_priority_yield,
    .spin_for_grant = spin_for_grant,
    .spin_for_wake = gv_gil_spin,
    .fresh_interval_after_starving = true,
    .resume_after_prio = true,
    .adaptive_mutex = true,
};
