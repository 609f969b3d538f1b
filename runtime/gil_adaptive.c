/* The adaptive policy: priority's FIFO and direct handoff (gil_priority.c),
 * spinning only where it pays.
 *
 * Spinning saves a futex wake-up (several µs) per handoff, but costs a core
 * for as long as it lasts, and on a core the holder or another waiter needs it
 * costs more than it saves (spin mode loses countdown at 4 threads that way).
 * So a waiter spins for its grant only when
 * - another core can run the holder meanwhile (gil->spin_ns is 0 on one
 *   core, and at most ncpus - 1 threads spin at once), and
 * - the handoff is imminent and will come to it: it is the next to be served
 *   (gv_gil_fifo_next) and the holder has been asked to drop (by this waiter,
 *   back from a blocking wait or starving after an interval, or by one it
 *   follows), so it drops at its next eval-breaker check after its minimum
 *   slice (GV_GIL_MIN_SLICE_NS) or sooner when it blocks (ping-pong: it has
 *   just woken the waiter and blocks), and
 * - spins for grants have been hitting lately (a budget halved by a miss,
 *   doubled by a hit): when every core is busy with other work, none is
 *   idle to spin on.
 * (Tried and dropped: spinning behind a holder back from a blocking wait in
 * its first slice, expecting it to block again soon. In ping-pong the
 * displaced thread's spins took the core the holder needed: twice the forced
 * drops, half the round trips.)
 * And CPU-bound threads take turns of a whole interval each: once a starving
 * waiter is served, the others wait a fresh interval behind it (priority
 * mode gives each of them a minimum slice then; gv_gil_fifo_hand_over).
 * A forced dropper queueing behind a fresh holder does not spin: that holder
 * runs a whole interval. A parked wait spins for its wake-up as in spin mode
 * (gil_spin.c): it waits for an event from the running holder, so it and the
 * holder are the two threads on the cores (capping these spins as well made
 * ping-pong's two threads miss each other: a third of spin mode's round
 * trips); the per-thread adaptive budget shrinks fast for a thread whose waits
 * are long (timers, sleeps) to 0.5 us. */
#include "breaker.h"
#include "gil_policy.h"

/* How long a due handoff may take once the holder's slice is over: a few
 * eval-breaker checks and the handover under the mutex. */
#define GV_GIL_DUE_SPIN_NS 5000

static int spin_for_grant(GvGIL *gil, GvThreadState *ts) {
    if (gv_gil_fifo_next(gil) != ts || !gil->holder) return -1;
    /* Asked by us (back from a wait, or starving) or by whoever we follow:
     * the holder drops at its first eval-breaker check once its minimum
     * slice is over, or sooner when it blocks. */
    if (!gv_eb_test(gil->holder, GV_EB_GIL_DROP_REQUEST)) return -1;
    /* Spin for what is left of that slice and a few checks more, within the
     * budget that spins for grants have earned lately: on a machine whose
     * cores are all busy, spins miss, and a spin that misses only takes the
     * holder's core away from it (measured: ping-pong at load 20 on 2 cores,
     * 2.5x slower with a fixed budget). */
    int64_t left = (int64_t)(gil->holder_since + GV_GIL_MIN_SLICE_NS) - (int64_t)gv_now_ns();
    int64_t ns = (left > 0 ? left : 0) + GV_GIL_DUE_SPIN_NS;
    if (gil->grant_spin_ns <= 0 || gil->grant_spin_ns > gil->spin_ns) gil->grant_spin_ns = gil->spin_ns;
    if (ns > gil->grant_spin_ns) ns = gil->grant_spin_ns;
    int hit = gv_gil_spin_capped_for(gil, ts, ns);
    if (hit > 0) gil->grant_spin_ns = gil->grant_spin_ns * 2 > gil->spin_ns ? gil->spin_ns : gil->grant_spin_ns * 2;
    else if (hit == 0) gil->grant_spin_ns = gil->grant_spin_ns / 2 < 500 ? 500 : gil->grant_spin_ns / 2;
    return hit;
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
};
