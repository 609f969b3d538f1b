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
 * Known weaknesses of this classic mode, measured in bench/: a thread coming
 * back from I/O waits a whole interval behind a CPU-bound holder (the convoy
 * effect), and every handoff is two trips through the kernel. The priority
 * and spin modes further down in this file address them ("the handoff
 * modes").
 *
 * Finalization: once the interpreter is finalizing, a thread other than the
 * finalizing one must not run VM code again. gv_gil_take checks before and
 * after every wait and returns -1 instead of taking the GIL; the caller ends
 * the thread (or reports the failure, for GvEval_AcquireThreadOrFail). */
#include "gil.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "breaker.h"
#include "timeline.h"
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

static int usable_cpus(void) {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
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
    gil->prio_head = gil->prio_tail = gil->norm_head = gil->norm_tail = NULL;
    gil->holder_since = 0;
    gil->mode = GV_GIL_CLASSIC;
    /* Spinning only pays when another core can hand the GIL over meanwhile:
     * count the cores this process may run on (taskset, cpusets), not the
     * machine's. */
    gil->ncpus = usable_cpus();
    gil->spin_ns = gil->ncpus > 1 ? GV_GIL_SPIN_NS : 0;
    atomic_store(&gil->spinners, 0);
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

static int take_classic(GvGIL *gil, GvThreadState *ts) {
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
            gv_eb_set(gil->holder, GV_EB_GIL_DROP_REQUEST);
            gil->stats.drop_requests++;
            ts->gil_stats.drop_requests++;
            GV_TL(gv_tl_request(gil->holder, ts, GV_TL_REASON_INTERVAL));
        }
    }
    GV_TL(gv_tl_take(gil, ts));
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
    gv_eb_clear(ts, GV_EB_GIL_DROP_REQUEST);
    ts->holds_gil = true;
    pthread_mutex_unlock(&gil->mutex);
    return 0;
}

static void drop_classic(GvGIL *gil, GvThreadState *ts, bool forced) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    assert(ts->holds_gil && gil->holder == ts); /* only the holder drops */
    GV_TL(gv_tl_drop(gil, ts, forced));
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
        /* Wait until another thread has taken it (the holder changed). The
         * waiter that asked is there to take it; on a loaded machine it may
         * need a while to be scheduled, so the bound (against a requester
         * that vanished) is generous, and finalization wakes us. */
        struct timespec deadline;
        deadline_after(&deadline, 1000000000);
        while (gil->holder == ts && !must_exit(ts)) {
            if (pthread_cond_timedwait(&gil->switch_cond, &gil->mutex, &deadline) == ETIMEDOUT) break;
        }
    }
    pthread_mutex_unlock(&gil->mutex);
}

/* ---- the handoff modes (priority, spin) ----
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
 * - No starvation. A `norm` waiter that waits a whole switch interval asks
 *   the holder to drop and marks itself starving; a starving waiter is served
 *   before `prio`. The bound: the head of `norm` gets the GIL within one
 *   switch interval plus one minimum slice (plus the time the holder needs to
 *   reach an eval-breaker check), whatever stream of priority threads
 *   arrives; a thread behind it in `norm` within that much per thread ahead
 *   of it. A `prio` waiter waits at most for the starving `norm` heads ahead
 *   of it, one slice each. (Beazley's priority-request proposal had no such
 *   bound: an I/O thread that never really blocks could keep a CPU-bound one
 *   out forever. tests/unit/test_gil_modes.c checks the order by hand-built
 *   queues.)
 * - Spinning (spin mode). A waiter spins for a bounded time (spin_ns, with
 *   a pause instruction) on its grant before it sleeps: on a multi-core
 *   machine a handoff then costs a cache-line transfer instead of a futex
 *   wake-up. Parked waits (runtime/thread.c) spin the same way first. */

static void enqueue(GvThreadState **head, GvThreadState **tail, GvThreadState *ts) {
    ts->gil_next = NULL;
    if (*tail) (*tail)->gil_next = ts;
    else *head = ts;
    *tail = ts;
}

static bool unqueue(GvThreadState **head, GvThreadState **tail, GvThreadState *ts) {
    GvThreadState *prev = NULL;
    for (GvThreadState *t = *head; t; prev = t, t = t->gil_next) {
        if (t != ts) continue;
        if (prev) prev->gil_next = t->gil_next;
        else *head = t->gil_next;
        if (*tail == t) *tail = prev;
        t->gil_next = NULL;
        return true;
    }
    return false;
}

static GvThreadState *pick_next(GvGIL *gil) {
    GvThreadState *t;
    if (gil->norm_head && gil->norm_head->gil_starving) t = gil->norm_head;
    else if (gil->prio_head) t = gil->prio_head;
    else t = gil->norm_head;
    if (t && !unqueue(&gil->prio_head, &gil->prio_tail, t)) unqueue(&gil->norm_head, &gil->norm_tail, t);
    return t;
}

/* mutex held */
static void make_holder(GvGIL *gil, GvThreadState *ts, uint64_t now) {
    atomic_store_explicit(&gil->locked, 1, memory_order_relaxed);
    if (gil->holder != ts) {
        gil->holder = ts;
        gil->switch_number++;
        gil->stats.switches++;
        ts->gil_stats.switches++;
    }
    gil->holder_since = now;
}

/* mutex held */
static void request_drop(GvGIL *gil, GvThreadState *ts) {
    if (!gil->holder) return;
    gv_eb_set(gil->holder, GV_EB_GIL_DROP_REQUEST);
    gil->stats.drop_requests++;
    ts->gil_stats.drop_requests++;
    GV_TL(gv_tl_request(gil->holder, ts, ts->gil_starving ? GV_TL_REASON_INTERVAL : GV_TL_REASON_PRIORITY));
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int spin(GvGIL *gil, GvThreadState *ts, _Atomic bool *flag, _Atomic bool *interrupted) {
    /* Adaptive, per thread: a spin that ends in sleeping anyway halves the
     * next budget, one that succeeds doubles it (up to gil->spin_ns). On a
     * machine whose cores are busy with other work, spinning only steals
     * the time the other thread needs to hand over; this backs off. */
    if (ts->spin_ns <= 0 || ts->spin_ns > gil->spin_ns) ts->spin_ns = gil->spin_ns;
    uint64_t until = gv_now_ns() + (uint64_t)ts->spin_ns;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(flag, memory_order_acquire)) {
            ts->spin_ns = ts->spin_ns * 2 > gil->spin_ns ? gil->spin_ns : ts->spin_ns * 2;
            return 1;
        }
        if (interrupted && atomic_load_explicit(interrupted, memory_order_relaxed)) return 0;
        cpu_relax();
        /* Read the clock only every few dozen spins: it costs more than a pause. */
        if ((i & 63) == 63 && gv_now_ns() >= until) {
            ts->spin_ns = ts->spin_ns / 2 < 500 ? 500 : ts->spin_ns / 2;
            return 0;
        }
    }
}

int gv_gil_spin_until(GvGIL *gil, GvThreadState *ts, _Atomic bool *flag, _Atomic bool *interrupted) {
    if (gil->mode != GV_GIL_PRIORITY_SPIN || gil->spin_ns <= 0) return -1;
    return spin(gil, ts, flag, interrupted);
}

/* A waiter for the GIL spins only while fewer threads spin for it than there
 * are cores besides the holder's: with more waiters than that (4 CPU-bound
 * threads on 2 cores) spinners would take the holder's core away from it
 * (measured: countdown, 4 threads at a 100 us interval, 1.22x -> 1.59x the
 * sequential time). Waits in gv_park spin without this cap: they wait for an
 * event from the running holder, as in ping-pong, where the two threads'
 * spins overlap only while neither holds the GIL. */
static int spin_for_grant(GvGIL *gil, GvThreadState *ts) {
    if (gil->mode != GV_GIL_PRIORITY_SPIN || gil->spin_ns <= 0) return -1;
    if (atomic_fetch_add_explicit(&gil->spinners, 1, memory_order_relaxed) >= gil->ncpus - 1) {
        atomic_fetch_sub_explicit(&gil->spinners, 1, memory_order_relaxed);
        return -1;
    }
    int r = spin(gil, ts, &ts->gil_granted, NULL);
    atomic_fetch_sub_explicit(&gil->spinners, 1, memory_order_relaxed);
    return r;
}

/* mutex held, ts not the holder: queues ts (in `prio`, asking the holder at
 * once, or at the tail of `norm`) and waits until a dropper grants it the
 * GIL. Returns 0 with the mutex held, or -1 (dequeued) if ts must exit. */
static int queue_and_wait(GvGIL *gil, GvThreadState *ts, bool prio) {
    atomic_store(&ts->gil_granted, false);
    ts->gil_starving = false;
    if (prio) {
        /* Ask at once; the holder honours it once it has run its minimum
         * slice (gv_gil_yield), so we need not wake up to ask later. */
        enqueue(&gil->prio_head, &gil->prio_tail, ts);
        request_drop(gil, ts);
    } else {
        enqueue(&gil->norm_head, &gil->norm_tail, ts);
    }
    if (gil->mode == GV_GIL_PRIORITY_SPIN && gil->spin_ns > 0) {
        pthread_mutex_unlock(&gil->mutex);
        int hit = spin_for_grant(gil, ts);
        check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
        if (hit >= 0) {
            gil->stats.spins++;
            ts->gil_stats.spins++;
            gil->stats.spin_hits += (unsigned)hit;
            ts->gil_stats.spin_hits += (unsigned)hit;
        }
    }
    while (!atomic_load(&ts->gil_granted)) {
        if (must_exit(ts)) {
            if (!unqueue(&gil->prio_head, &gil->prio_tail, ts)) unqueue(&gil->norm_head, &gil->norm_tail, ts);
            return -1;
        }
        int64_t wait = atomic_load_explicit(&gil->interval_ns, memory_order_relaxed);
        uint64_t seen = gil->switch_number;
        struct timespec deadline;
        deadline_after(&deadline, wait);
        int rc = pthread_cond_timedwait(&ts->gil_cond, &gil->mutex, &deadline);
        if (atomic_load(&ts->gil_granted) || rc != ETIMEDOUT) continue;
        if (prio) {
            request_drop(gil, ts); /* again: a holder in C code may have missed it */
        } else if (gil->switch_number == seen) {
            /* A whole interval with no handoff: this is CPython's drop
             * request, and the waiter goes first at the next drop. */
            ts->gil_starving = true;
            request_drop(gil, ts);
        }
    }
    return 0;
}

/* mutex held: ts has just become the holder after waiting since `start`. */
static void took(GvGIL *gil, GvThreadState *ts, uint64_t start) {
    GV_TL(gv_tl_take(gil, ts));
    gil->stats.acquisitions++;
    ts->gil_stats.acquisitions++;
    uint64_t now = gv_now_ns(), waited = now - start;
    count_wait(&gil->stats, waited);
    count_wait(&ts->gil_stats, waited);
    ts->gil_since = now;
    /* Whoever asked asked the previous holder. If a thread back from a wait,
     * or a starving one, still waits, it asks us now (honoured after our
     * minimum slice): a waiter asks only once, and that request was used up
     * by the handoff that brought us here. Otherwise a request left over is
     * stale. */
    if (gil->prio_head || (gil->norm_head && gil->norm_head->gil_starving)) {
        gv_eb_set(ts, GV_EB_GIL_DROP_REQUEST);
        GV_TL(gv_tl_request(ts, ts, gil->prio_head ? GV_TL_REASON_PRIORITY : GV_TL_REASON_INTERVAL));
        /* A request like any other in the totals (each forced drop answers
         * one); the waiter's own counters keep only the requests it made. */
        gil->stats.drop_requests++;
    } else
        gv_eb_clear(ts, GV_EB_GIL_DROP_REQUEST);
    ts->holds_gil = true;
}

/* mutex held: makes the head of the queues the holder and wakes it, or marks
 * the GIL free if nobody waits. */
static void hand_over(GvGIL *gil) {
    GvThreadState *next = pick_next(gil);
    if (next) {
        make_holder(gil, next, gv_now_ns());
        atomic_store_explicit(&next->gil_granted, true, memory_order_release);
        pthread_cond_signal(&next->gil_cond);
    } else {
        atomic_store_explicit(&gil->locked, 0, memory_order_relaxed);
    }
}

static int take_handoff(GvGIL *gil, GvThreadState *ts) {
    bool prio = ts->gil_after_wait;
    ts->gil_after_wait = false;
    uint64_t start = gv_now_ns();
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    if (must_exit(ts)) {
        pthread_mutex_unlock(&gil->mutex);
        return -1;
    }
    if (!atomic_load_explicit(&gil->locked, memory_order_relaxed)) {
        make_holder(gil, ts, start);
    } else if (queue_and_wait(gil, ts, prio) < 0) {
        pthread_mutex_unlock(&gil->mutex);
        return -1;
    }
    took(gil, ts, start);
    pthread_mutex_unlock(&gil->mutex);
    return 0;
}

static void drop_handoff(GvGIL *gil, GvThreadState *ts, bool forced) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    assert(ts->holds_gil && gil->holder == ts); /* only the holder drops */
    GV_TL(gv_tl_drop(gil, ts, forced));
    ts->holds_gil = false;
    if (forced) {
        gil->stats.forced_drops++;
        ts->gil_stats.forced_drops++;
    } else {
        gil->stats.voluntary_drops++;
        ts->gil_stats.voluntary_drops++;
    }
    hand_over(gil);
    pthread_mutex_unlock(&gil->mutex);
}

/* A forced switch in the handoff modes: the holder queues itself at the tail
 * of `norm` and hands over in one step under the mutex. Done as a drop and
 * then a take, the dropper could be preempted in between (three runnable
 * threads on two cores) and another waiter, asking meanwhile, would find it
 * missing from the queue: CPU-bound threads would lose turns. Returns 1 if
 * nobody waits (the request was stale: keep running), 0 once ts holds the
 * GIL again, -1 if ts must exit (not holding it). */
static int yield_handoff(GvGIL *gil, GvThreadState *ts) {
    uint64_t start = gv_now_ns();
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    if (!gil->prio_head && !gil->norm_head) {
        pthread_mutex_unlock(&gil->mutex);
        return 1;
    }
    GV_TL(gv_tl_drop(gil, ts, true));
    ts->holds_gil = false;
    gil->stats.forced_drops++;
    ts->gil_stats.forced_drops++;
    hand_over(gil);
    if (must_exit(ts) || queue_and_wait(gil, ts, false) < 0) {
        pthread_mutex_unlock(&gil->mutex);
        return -1;
    }
    took(gil, ts, start);
    pthread_mutex_unlock(&gil->mutex);
    return 0;
}

/* ---- the deterministic schedule ----
 *
 * For finding races: `gilvm run --schedule=SEED:N` runs one thread at a time
 * for exactly N instructions (counted by the eval loop's traced path), then
 * hands the GIL to a thread drawn by a PRNG from the runnable threads, which
 * may be the same one. Which threads are runnable is decided only at points
 * the program itself determines: a thread becomes runnable when it is started
 * or when the holder wakes it (queue_put, lock_release, a thread's end,
 * async_raise: every wake-up goes through runtime/wait.c), and stops being
 * runnable when it blocks. A blocked thread waits for its turn here, in
 * take_sched, not on a condition of its own.
 *
 * Time is virtual, as in deterministic simulation testing: time() and every
 * timeout read a clock that advances by GV_SCHED_NS_PER_INSTR for each
 * instruction run, and that jumps to the earliest deadline when every thread
 * is blocked. A thread whose deadline the clock reaches becomes runnable at
 * the next slice boundary. OS timing never enters any choice, so a seed
 * replays the same interleaving, sleeps and timeouts included. */

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull

/* mutex held: the schedule gives the GIL to ts; fold its id into the digest. */
static void sched_note(GvGIL *gil, GvThreadState *ts) {
    uint64_t id = ts->id;
    for (int i = 0; i < 8; i++, id >>= 8) gil->sched_digest = (gil->sched_digest ^ (id & 0xff)) * FNV64_PRIME;
    gil->sched_handoffs++;
}

/* mutex held */
static bool sched_contains(GvGIL *gil, GvThreadState *ts) {
    for (size_t i = 0; i < gil->nrunnable; i++)
        if (gil->runnable[i] == ts) return true;
    return false;
}

static void grow(GvThreadState ***a, size_t n, size_t *cap) {
    if (n < *cap) return;
    size_t ncap = *cap ? *cap * 2 : 16;
    GvThreadState **na = realloc(*a, ncap * sizeof *na);
    if (!na) {
        fprintf(stderr, "gilvm: fatal error: out of memory in the scheduler\n");
        abort();
    }
    *a = na;
    *cap = ncap;
}

/* Removes ts from a list, keeping the others' order so that choices stay
 * reproducible. mutex held. */
static void list_remove(GvThreadState **a, size_t *n, GvThreadState *ts) {
    for (size_t i = 0; i < *n; i++) {
        if (a[i] != ts) continue;
        memmove(&a[i], &a[i + 1], (*n - i - 1) * sizeof *a);
        (*n)--;
        return;
    }
}

/* mutex held */
static void sched_add(GvGIL *gil, GvThreadState *ts) {
    ts->sched_blocked = false;
    list_remove(gil->sleepers, &gil->nsleepers, ts);
    if (sched_contains(gil, ts)) return;
    grow(&gil->runnable, gil->nrunnable, &gil->caprunnable);
    gil->runnable[gil->nrunnable++] = ts;
    /* Nobody holds the GIL (every thread was blocked): this one runs now. */
    if (!atomic_load_explicit(&gil->locked, memory_order_relaxed)) {
        make_holder(gil, ts, gv_now_ns());
        sched_note(gil, ts);
        pthread_cond_signal(&ts->gil_cond);
    }
}

/* mutex held */
static void sched_remove(GvGIL *gil, GvThreadState *ts) {
    list_remove(gil->runnable, &gil->nrunnable, ts);
    list_remove(gil->sleepers, &gil->nsleepers, ts);
}

/* Sleepers whose deadline the clock has reached become runnable, in the
 * order they went to sleep. If nothing else can run, the clock first jumps
 * to the earliest deadline. mutex held. */
static void sched_wake_sleepers(GvGIL *gil) {
    if (!gil->nsleepers) return;
    if (!gil->nrunnable) {
        uint64_t first = UINT64_MAX;
        for (size_t i = 0; i < gil->nsleepers; i++)
            if (gil->sleepers[i]->sched_deadline < first) first = gil->sleepers[i]->sched_deadline;
        if (first > gil->sched_clock) gil->sched_clock = first;
    }
    for (size_t i = 0; i < gil->nsleepers;) {
        GvThreadState *t = gil->sleepers[i];
        if (t->sched_deadline <= gil->sched_clock) {
            t->sched_blocked = false;
            list_remove(gil->sleepers, &gil->nsleepers, t);
            grow(&gil->runnable, gil->nrunnable, &gil->caprunnable);
            gil->runnable[gil->nrunnable++] = t;
        } else {
            i++;
        }
    }
}

void gv_gil_sched_runnable(GvGIL *gil, GvThreadState *ts) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    sched_add(gil, ts);
    pthread_mutex_unlock(&gil->mutex);
}

void gv_gil_sched_block(GvGIL *gil, GvThreadState *ts, uint64_t deadline) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    ts->sched_blocked = true;
    ts->sched_deadline = deadline;
    if (deadline) {
        grow(&gil->sleepers, gil->nsleepers, &gil->capsleepers);
        gil->sleepers[gil->nsleepers++] = ts;
    }
    pthread_mutex_unlock(&gil->mutex);
}

uint64_t gv_gil_sched_clock(GvGIL *gil, GvThreadState *ts) {
    /* Read by the holder only; the clock changes only at handoffs, which
     * pass through gil->mutex. */
    int64_t ran = (int64_t)gil->sched_n - ts->sched_left;
    return gil->sched_clock + (uint64_t)(ran > 0 ? ran : 0) * GV_SCHED_NS_PER_INSTR;
}

void gv_gil_set_schedule(GvGIL *gil, GvThreadState *ts, uint64_t seed, uint32_t n) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    gil->mode = GV_GIL_SCHEDULE;
    gil->sched_rng = seed;
    gil->sched_n = n ? n : 1;
    gil->sched_clock = GV_SCHED_CLOCK_START;
    gil->sched_digest = FNV64_OFFSET;
    gil->sched_handoffs = 0;
    gil->nrunnable = 0;
    sched_add(gil, ts);
    gil->holder = ts;
    ts->sched_left = gil->sched_n;
    pthread_mutex_unlock(&gil->mutex);
}

uint64_t gv_gil_sched_digest(GvGIL *gil, uint64_t *handoffs) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    uint64_t digest = gil->sched_digest;
    *handoffs = gil->sched_handoffs;
    pthread_mutex_unlock(&gil->mutex);
    return digest;
}

static int take_sched(GvGIL *gil, GvThreadState *ts) {
    uint64_t start = gv_now_ns();
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    /* A thread entering (or started) is runnable; a blocked one waits to be
     * made runnable by a wake-up or its deadline. */
    if (!ts->sched_blocked) sched_add(gil, ts);
    while (gil->holder != ts || !atomic_load_explicit(&gil->locked, memory_order_relaxed)) {
        if (must_exit(ts)) {
            ts->sched_blocked = false;
            sched_remove(gil, ts);
            pthread_mutex_unlock(&gil->mutex);
            return -1;
        }
        pthread_cond_wait(&ts->gil_cond, &gil->mutex);
    }
    GV_TL(gv_tl_take(gil, ts));
    gil->stats.acquisitions++;
    ts->gil_stats.acquisitions++;
    uint64_t waited = gv_now_ns() - start;
    count_wait(&gil->stats, waited);
    count_wait(&ts->gil_stats, waited);
    ts->sched_left = gil->sched_n;
    ts->holds_gil = true;
    pthread_mutex_unlock(&gil->mutex);
    return 0;
}

/* forced: a slice ended, ts stays runnable; else ts blocks or leaves. */
static void drop_sched(GvGIL *gil, GvThreadState *ts, bool forced) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    assert(ts->holds_gil); /* only the holder drops */
    GV_TL(gv_tl_drop(gil, ts, forced));
    ts->holds_gil = false;
    /* The virtual clock advances by what ran in this slice. */
    int64_t ran = (int64_t)gil->sched_n - ts->sched_left;
    if (ran > 0) gil->sched_clock += (uint64_t)ran * GV_SCHED_NS_PER_INSTR;
    ts->sched_left = gil->sched_n;
    if (forced) {
        gil->stats.forced_drops++;
        ts->gil_stats.forced_drops++;
    } else {
        gil->stats.voluntary_drops++;
        ts->gil_stats.voluntary_drops++;
        list_remove(gil->runnable, &gil->nrunnable, ts);
    }
    sched_wake_sleepers(gil);
    if (gil->nrunnable) {
        GvThreadState *next = gil->runnable[splitmix64(&gil->sched_rng) % gil->nrunnable];
        make_holder(gil, next, gv_now_ns());
        sched_note(gil, next);
        if (next != ts) pthread_cond_signal(&next->gil_cond);
    } else {
        atomic_store_explicit(&gil->locked, 0, memory_order_relaxed);
        gil->holder = NULL;
    }
    pthread_mutex_unlock(&gil->mutex);
}

static int take_mode(GvGIL *gil, GvThreadState *ts) {
    if (gil->mode == GV_GIL_SCHEDULE) {
        ts->gil_after_wait = false;
        return take_sched(gil, ts);
    }
    if (gil->mode == GV_GIL_CLASSIC) {
        ts->gil_after_wait = false;
        return take_classic(gil, ts);
    }
    return take_handoff(gil, ts);
}

int gv_gil_take(GvGIL *gil, GvThreadState *ts) {
    GV_TL(gv_tl_take_begin(ts));
    int rc = take_mode(gil, ts);
    if (rc == 0) GV_TL(gv_tl_running(ts));
    return rc;
}

void gv_gil_drop(GvGIL *gil, GvThreadState *ts, bool forced) {
    if (gil->mode == GV_GIL_SCHEDULE) drop_sched(gil, ts, forced);
    else if (gil->mode == GV_GIL_CLASSIC) drop_classic(gil, ts, forced);
    else drop_handoff(gil, ts, forced);
}

void gv_gil_wake(GvGIL *gil, GvThreadState *ts) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    pthread_cond_signal(&ts->gil_cond);
    pthread_mutex_unlock(&gil->mutex);
}

void gv_gil_wake_all(GvGIL *gil) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    pthread_cond_broadcast(&gil->cond);
    pthread_cond_broadcast(&gil->switch_cond);
    for (GvThreadState *t = gil->prio_head; t; t = t->gil_next) pthread_cond_signal(&t->gil_cond);
    for (GvThreadState *t = gil->norm_head; t; t = t->gil_next) pthread_cond_signal(&t->gil_cond);
    for (size_t i = 0; i < gil->nrunnable; i++) pthread_cond_signal(&gil->runnable[i]->gil_cond);
    for (size_t i = 0; i < gil->nsleepers; i++) pthread_cond_signal(&gil->sleepers[i]->gil_cond);
    pthread_mutex_unlock(&gil->mutex);
}

const char *gv_gil_mode_name(int mode) {
    switch (mode) {
    case GV_GIL_CLASSIC: return "classic";
    case GV_GIL_PRIORITY: return "priority";
    case GV_GIL_PRIORITY_SPIN: return "spin";
    case GV_GIL_SCHEDULE: return "schedule";
    }
    return "?";
}

int gv_gil_yield(GvGIL *gil, GvThreadState *ts) {
    if (gil->mode == GV_GIL_PRIORITY || gil->mode == GV_GIL_PRIORITY_SPIN) {
        /* The minimum slice: keep the request (so the next checks come back
         * here) but run on until the holder has had GV_GIL_MIN_SLICE_NS. A
         * starving waiter does not wait for it. */
        if (gv_now_ns() - ts->gil_since < GV_GIL_MIN_SLICE_NS) {
            check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
            bool starving = gil->norm_head && gil->norm_head->gil_starving;
            pthread_mutex_unlock(&gil->mutex);
            if (!starving) {
                GV_TL(gv_tl_deferred(ts));
                return 0;
            }
        }
    }
    gv_eb_clear(ts, GV_EB_GIL_DROP_REQUEST);
    if (gil->mode == GV_GIL_PRIORITY || gil->mode == GV_GIL_PRIORITY_SPIN) {
        ts->gil_after_wait = false;
        int r = yield_handoff(gil, ts);
        if (r == 0) GV_TL(gv_tl_running(ts));
        return r < 0 ? -1 : 0;
    }
    gv_gil_drop(gil, ts, true);
    return gv_gil_take(gil, ts);
}

void gv_gil_forget(GvGIL *gil, GvThreadState *ts) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    if (gil->holder == ts) gil->holder = NULL;
    sched_remove(gil, ts);
    pthread_mutex_unlock(&gil->mutex);
}

void gv_gil_get_stats(GvGIL *gil, GvGILCounters *out) {
    check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock");
    *out = gil->stats;
    pthread_mutex_unlock(&gil->mutex);
}
