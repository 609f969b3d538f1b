/* The spin policy: priority (gil_priority.c), and a waiter spins for a
 * bounded time (spin_ns, with a pause instruction) on its grant before it
 * sleeps: on a multi-core machine a handoff then costs a cache-line transfer
 * instead of a futex wake-up. Parked waits (runtime/wait.c) spin the same way
 * first. Never on one core (gil->spin_ns is 0 there). */
#include "gil_policy.h"

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spins until *flag (1), or *interrupted or the clock passes `until` (0). */
static int spin_loop(_Atomic bool *flag, _Atomic bool *interrupted, uint64_t until) {
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(flag, memory_order_acquire)) return 1;
        if (interrupted && atomic_load_explicit(interrupted, memory_order_relaxed)) return 0;
        cpu_relax();
        /* Read the clock only every few dozen spins: it costs more than a pause. */
        if ((i & 63) == 63 && gv_now_ns() >= until) return 0;
    }
}

int gv_gil_spin(GvGIL *gil, GvThreadState *ts, _Atomic bool *flag, _Atomic bool *interrupted) {
    /* Adaptive, per thread: a spin that ends in sleeping anyway halves the
     * next budget, one that succeeds doubles it (up to gil->spin_ns). On a
     * machine whose cores are busy with other work, spinning only steals
     * the time the other thread needs to hand over; this backs off. */
    if (ts->spin_ns <= 0 || ts->spin_ns > gil->spin_ns) ts->spin_ns = gil->spin_ns;
    if (spin_loop(flag, interrupted, gv_now_ns() + (uint64_t)ts->spin_ns)) {
        ts->spin_ns = ts->spin_ns * 2 > gil->spin_ns ? gil->spin_ns : ts->spin_ns * 2;
        return 1;
    }
    ts->spin_ns = ts->spin_ns / 2 < 500 ? 500 : ts->spin_ns / 2;
    return 0;
}

/* A place among the spinners for ts (mutex held): at most ncpus - 1 threads
 * spin for the GIL at once, the cores besides the holder's. A holder that
 * has just been granted the GIL while spinning does not count: it is about
 * to run, not spin (without this, a dropper handing over to a spinner could
 * not spin for the GIL's return itself). */
static bool spin_slot_take(GvGIL *gil, GvThreadState *ts) {
    int others = atomic_load_explicit(&gil->spinners, memory_order_relaxed);
    if (gil->holder && gil->holder != ts && atomic_load_explicit(&gil->holder->gil_spinning, memory_order_relaxed))
        others--;
    if (others >= gil->ncpus - 1) return false;
    atomic_fetch_add_explicit(&gil->spinners, 1, memory_order_relaxed);
    atomic_store_explicit(&ts->gil_spinning, true, memory_order_relaxed);
    return true;
}

/* No longer spinning (before ts takes the mutex again): a waiter the holder
 * is handing over to right now may spin in its place. */
static void spin_slot_give(GvGIL *gil, GvThreadState *ts) {
    atomic_store_explicit(&ts->gil_spinning, false, memory_order_relaxed);
    atomic_fetch_sub_explicit(&gil->spinners, 1, memory_order_relaxed);
}

/* A spin for the grant: a place among the spinners, the mutex released
 * meanwhile, the spin's CPU time read outside it and counted. ns < 0: for the
 * thread's adaptive budget (gv_gil_spin), else for ns. */
static int spin_for_grant_counted(GvGIL *gil, GvThreadState *ts, int64_t ns) {
    if (!spin_slot_take(gil, ts)) return -1;
    pthread_mutex_unlock(&gil->mutex);
    uint64_t t0 = gv_thread_cpu_ns();
    int r = ns < 0 ? gv_gil_spin(gil, ts, &ts->gil_granted, NULL)
                   : spin_loop(&ts->gil_granted, NULL, gv_now_ns() + (uint64_t)ns);
    spin_slot_give(gil, ts);
    uint64_t spun = gv_thread_cpu_ns() - t0;
    gv_gil_lock(gil);
    gv_gil_count_spin(gil, ts, r, spun);
    return r;
}

int gv_gil_spin_capped_for(GvGIL *gil, GvThreadState *ts, int64_t ns) { return spin_for_grant_counted(gil, ts, ns); }

/* A waiter for the GIL spins only while fewer threads spin for it than there
 * are cores besides the holder's: with more waiters than that (4 CPU-bound
 * threads on 2 cores) spinners would take the holder's core away from it
 * (measured: countdown, 4 threads at a 100 us interval, 1.22x -> 1.59x the
 * sequential time). Waits in gv_park spin without this cap: they wait for an
 * event from the running holder, as in ping-pong, where the two threads'
 * spins overlap only while neither holds the GIL. */
int gv_gil_spin_for_grant_capped(GvGIL *gil, GvThreadState *ts) { return spin_for_grant_counted(gil, ts, -1); }

/* The first spin only: a waiter that asks the holder after an interval
 * sleeps again (as it always has in this mode). */
static int spin_for_grant(GvGIL *gil, GvThreadState *ts) {
    if (ts->gil_starving) return -1;
    return gv_gil_spin_for_grant_capped(gil, ts);
}

const GvGILPolicy gv_gil_policy_spin = {
    .name = "spin",
    .selectable = true,
    .take = gv_gil_priority_take,
    .drop = gv_gil_priority_drop,
    .yield = gv_gil_priority_yield,
    .spin_for_grant = spin_for_grant,
    .spin_for_wake = gv_gil_spin,
};
