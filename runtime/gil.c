/* The global interpreter lock: what every mode shares.
 *
 * What it is for
 * --------------
 * Objects are refcounted with plain (non-atomic) counters and nothing else in
 * the object model is locked. That is safe because only one thread at a time
 * runs VM code: the one holding the GIL. Every other thread either waits for
 * the GIL or is "detached", doing something that touches no VM object (a
 * blocking wait, a system call, C code of an embedder).
 *
 * Policies
 * --------
 * How the GIL passes from thread to thread is a policy, one per mode and one
 * per file, each a row of the table below (runtime/gil_policy.h says how to
 * add one):
 * - classic (gil_classic.c): CPython's "new GIL" (3.2+), the reference;
 * - priority (gil_priority.c): direct handoff through a FIFO of waiters, a
 *   thread back from a blocking wait served first;
 * - spin (gil_spin.c): priority, and waiters spin briefly before sleeping;
 * - adaptive (gil_adaptive.c): priority, spinning only where a handoff is
 *   due and another core can make it, CPU-bound threads taking whole-interval
 *   turns, an interrupted holder resuming its turn: the default
 *   (bench/README.md, "Adaptive, the default");
 * - schedule (gil_sched.c, internal): the deterministic schedule.
 * This file holds what they share: the holder bookkeeping, the counters
 * (written here only), the FIFO of waiters, and the dispatch.
 *
 * Finalization: once the interpreter is finalizing, a thread other than the
 * finalizing one must not run VM code again. Every take checks before and
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
#include "gil_policy.h"
#include "tstate.h"

/* The table of policies, indexed by mode. */
static const GvGILPolicy *const policies[] = {
    [GV_GIL_CLASSIC] = &gv_gil_policy_classic,
    [GV_GIL_PRIORITY] = &gv_gil_policy_priority,
    [GV_GIL_PRIORITY_SPIN] = &gv_gil_policy_spin,
    [GV_GIL_SCHEDULE] = &gv_gil_policy_sched,
    [GV_GIL_ADAPTIVE] = &gv_gil_policy_adaptive,
};
#define NPOLICIES ((int)(sizeof policies / sizeof policies[0]))

const GvGILPolicy *gv_gil_policy_of(GvGIL *gil) { return policies[gil->mode]; }

int gv_current_cpu(void) {
#ifdef __linux__
    return sched_getcpu();
#else
    return -1;
#endif
}

uint64_t gv_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

void gv_gil_check(int rc, const char *what) {
    if (rc != 0) {
        fprintf(stderr, "gilvm: fatal error: %s failed (error %d)\n", what, rc);
        abort();
    }
}

void gv_gil_lock(GvGIL *gil) { gv_gil_check(pthread_mutex_lock(&gil->mutex), "GIL mutex lock"); }

static int usable_cpus(void) {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* The mutex, of the type the mode's policy wants. In the FIFO modes a waiter
 * holds it for a few instructions (queueing, asking the holder to drop) just
 * when the holder, seeing the request, wants it to hand over: with a sleeping
 * mutex that collision costs two futex wake-ups (measured: the I/O thread's
 * mean wait for the GIL behind one CPU thread, 11-14 us instead of 3-4), so
 * they use glibc's adaptive mutex, which spins a little first (never on one
 * core, where spinning cannot help). Classic keeps CPython's plain mutex.
 * Chosen for the mode an interpreter starts in (GILMODE); a mode set later
 * (Gv_SetGILMode) keeps it, since a thread may be taking the mutex then. */
static void init_mutex(GvGIL *gil) {
    pthread_mutexattr_t attr;
    gv_gil_check(pthread_mutexattr_init(&attr), "mutexattr init");
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    if (policies[gil->mode]->adaptive_mutex && gil->ncpus > 1)
        gv_gil_check(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP), "mutexattr settype");
#endif
    gv_gil_check(pthread_mutex_init(&gil->mutex, &attr), "GIL mutex init");
    pthread_mutexattr_destroy(&attr);
}

void gv_gil_set_mode(GvGIL *gil, int mode) { gil->mode = mode; }

void gv_gil_set_initial_mode(GvGIL *gil, int mode) {
    bool retype = policies[gil->mode]->adaptive_mutex != policies[mode]->adaptive_mutex;
    gil->mode = mode;
    if (retype) {
        /* No thread uses the GIL yet (the caller's contract). */
        gv_gil_check(pthread_mutex_destroy(&gil->mutex), "GIL mutex destroy");
        init_mutex(gil);
    }
}

void gv_gil_init(GvGIL *gil) {
    gil->ncpus = usable_cpus();
    gil->mode = GV_GIL_DEFAULT;
    init_mutex(gil);
    pthread_condattr_t attr;
    gv_gil_check(pthread_condattr_init(&attr), "condattr init");
    /* Timed waits measure the interval on the monotonic clock: a wall-clock
     * jump must not stretch or skip a switch. */
    gv_gil_check(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC), "condattr setclock");
    gv_gil_check(pthread_cond_init(&gil->cond, &attr), "GIL cond init");
    gv_gil_check(pthread_cond_init(&gil->switch_cond, &attr), "GIL switch cond init");
    pthread_condattr_destroy(&attr);
    atomic_store(&gil->locked, 0);
    gil->holder = NULL;
    gil->switch_number = 0;
    gil->turns = 0;
    atomic_store(&gil->interval_ns, 5000000);
    memset(&gil->stats, 0, sizeof gil->stats);
    atomic_store(&gil->wake_spins, 0);
    atomic_store(&gil->wake_spin_hits, 0);
    atomic_store(&gil->wake_spin_ns, 0);
    gil->prio_head = gil->prio_tail = gil->norm_head = gil->norm_tail = NULL;
    gil->holder_since = 0;
    gil->holder_after_wait = false;
    gil->holder_asked = false;
    gil->holder_cpu = -1;
    gil->due_spin_credit = gil->after_wait_spin_credit = 1;
    gil->spin_probe = 0;
    /* Spinning only pays when another core can hand the GIL over meanwhile:
     * count the cores this process may run on (taskset, cpusets), not the
     * machine's (gil->ncpus, above). */
    gil->spin_ns = gil->ncpus > 1 ? GV_GIL_SPIN_NS : 0;
    atomic_store(&gil->spinners, 0);
}

void gv_gil_deadline_after(struct timespec *ts, int64_t ns) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ns / 1000000000);
    ts->tv_nsec += (long)(ns % 1000000000);
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Called with gil->mutex held. */
bool gv_gil_must_exit(GvThreadState *ts) { return gv_tstate_must_exit(ts); }

/* ---- the counters (mutex held) ---- */

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

uint64_t gv_gil_count_take(GvGIL *gil, GvThreadState *ts, uint64_t start) {
    GV_TL(gv_tl_take(gil, ts));
    gil->stats.acquisitions++;
    ts->gil_stats.acquisitions++;
    uint64_t now = gv_now_ns(), waited = now - start;
    count_wait(&gil->stats, waited);
    count_wait(&ts->gil_stats, waited);
    return now;
}

void gv_gil_count_drop(GvGIL *gil, GvThreadState *ts, bool forced) {
    GV_TL(gv_tl_drop(gil, ts, forced));
    if (forced) {
        gil->stats.forced_drops++;
        ts->gil_stats.forced_drops++;
    } else {
        gil->stats.voluntary_drops++;
        ts->gil_stats.voluntary_drops++;
    }
}

void gv_gil_request_drop(GvGIL *gil, GvThreadState *ts, int reason) {
    if (!gil->holder) return;
    gv_eb_set(gil->holder, GV_EB_GIL_DROP_REQUEST);
    gil->holder_asked = true;
    gil->stats.drop_requests++;
    ts->gil_stats.drop_requests++;
    GV_TL(gv_tl_request(gil->holder, ts, reason));
    (void)reason;
}

void gv_gil_count_spin(GvGIL *gil, GvThreadState *ts, int hit, uint64_t spun_ns) {
    gil->stats.spins++;
    ts->gil_stats.spins++;
    gil->stats.spin_hits += (unsigned)hit;
    ts->gil_stats.spin_hits += (unsigned)hit;
    gil->stats.spin_ns += spun_ns;
    ts->gil_stats.spin_ns += spun_ns;
}

void gv_gil_make_holder(GvGIL *gil, GvThreadState *ts, uint64_t now) {
    atomic_store_explicit(&gil->locked, 1, memory_order_relaxed);
    if (gil->holder != ts) {
        gil->holder = ts;
        gil->switch_number++;
        gil->stats.switches++;
        ts->gil_stats.switches++;
    }
    gil->holder_since = now;
    gil->holder_after_wait = false;
    gil->holder_was_spinning = false;
    gil->holder_asked = false;
}

/* ---- the FIFO of waiters (mutex held) ---- */

static void enqueue(GvThreadState **head, GvThreadState **tail, GvThreadState *ts) {
    ts->gil_next = NULL;
    if (*tail) (*tail)->gil_next = ts;
    else *head = ts;
    *tail = ts;
}

static void enqueue_front(GvThreadState **head, GvThreadState **tail, GvThreadState *ts) {
    ts->gil_next = *head;
    *head = ts;
    if (!*tail) *tail = ts;
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

bool gv_gil_fifo_empty(GvGIL *gil) { return !gil->prio_head && !gil->norm_head; }

GvThreadState *gv_gil_fifo_next(GvGIL *gil) {
    if (gil->norm_head && gil->norm_head->gil_starving) return gil->norm_head;
    if (gil->prio_head) return gil->prio_head;
    return gil->norm_head;
}

static GvThreadState *pick_next(GvGIL *gil) {
    GvThreadState *t = gv_gil_fifo_next(gil);
    if (t && !unqueue(&gil->prio_head, &gil->prio_tail, t)) unqueue(&gil->norm_head, &gil->norm_tail, t);
    return t;
}

/* The calling thread's CPU time, ns: what a spin costs (wall time would
 * count the time the kernel ran something else). */
uint64_t gv_thread_cpu_ns(void) {
    struct timespec t;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0) return 0;
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* mutex held: the policy's spin, if any, before ts sleeps for its grant. */
static void spin_for_grant(GvGIL *gil, GvThreadState *ts) {
    const GvGILPolicy *p = gv_gil_policy_of(gil);
    if (!p->spin_for_grant || gil->spin_ns <= 0 || atomic_load(&ts->gil_granted)) return;
    p->spin_for_grant(gil, ts);
}

int gv_gil_fifo_wait(GvGIL *gil, GvThreadState *ts, GvFifoPlace place) {
    bool prio = place == GV_FIFO_PRIO;
    atomic_store(&ts->gil_granted, false);
    ts->gil_starving = false;
    ts->gil_resuming = place == GV_FIFO_NORM_FRONT;
    ts->gil_called = false;
    if (place == GV_FIFO_NORM_FRONT) {
        enqueue_front(&gil->norm_head, &gil->norm_tail, ts);
    } else if (prio) {
        /* Ask at once; the holder honours it once it has run its minimum
         * slice (gv_gil_yield), so we need not wake up to ask later. */
        enqueue(&gil->prio_head, &gil->prio_tail, ts);
        gv_gil_request_drop(gil, ts, GV_TL_REASON_PRIORITY);
    } else {
        enqueue(&gil->norm_head, &gil->norm_tail, ts);
    }
    spin_for_grant(gil, ts);
    while (!atomic_load(&ts->gil_granted)) {
        if (gv_gil_must_exit(ts)) {
            if (!unqueue(&gil->prio_head, &gil->prio_tail, ts)) unqueue(&gil->norm_head, &gil->norm_tail, ts);
            return -1;
        }
        int64_t wait = atomic_load_explicit(&gil->interval_ns, memory_order_relaxed);
        uint64_t seen = gil->turns;
        struct timespec deadline;
        gv_gil_deadline_after(&deadline, wait);
        int rc = pthread_cond_timedwait(&ts->gil_cond, &gil->mutex, &deadline);
        if (atomic_load(&ts->gil_granted)) continue;
        if (ts->gil_called) {
            /* A waiter behind us found the turn over: ask for it now that
             * we are awake (and may spin for it). */
            ts->gil_called = false;
            ts->gil_starving = true;
            gv_gil_request_drop(gil, ts, GV_TL_REASON_INTERVAL);
            spin_for_grant(gil, ts);
            continue;
        }
        if (rc != ETIMEDOUT) continue;
        if (prio) {
            gv_gil_request_drop(gil, ts, GV_TL_REASON_PRIORITY); /* again: a holder in C code may have missed it */
        } else if (gil->turns == seen) {
            /* A whole interval with no CPU-bound turn served (threads back
             * from waits do not count: a holder they interrupt may resume):
             * this is CPython's drop request, and the head of `norm` goes
             * first at the next drop. */
            GvThreadState *head = gil->norm_head;
            if (head != ts && head->gil_resuming) {
                /* The head waits to resume a turn a thread back from a
                 * wait interrupted: that turn has lasted an interval too.
                 * To the tail with it; the next thread's turn. */
                unqueue(&gil->norm_head, &gil->norm_tail, head);
                enqueue(&gil->norm_head, &gil->norm_tail, head);
                head->gil_resuming = false;
                head = gil->norm_head;
            }
            if (head == ts) {
                ts->gil_starving = true;
                gv_gil_request_drop(gil, ts, GV_TL_REASON_INTERVAL);
                spin_for_grant(gil, ts); /* the holder drops soon now */
            } else if (!head->gil_called && !head->gil_starving) {
                /* The head is asleep. Asking the holder now would hand the
                 * GIL to a thread still to be woken (20-30 us of nobody
                 * running, with 4 CPU-bound threads on 2 cores at 100 us:
                 * countdown 1.06x classic's time in bench/ab); wake the
                 * head to ask itself, the holder running meanwhile. */
                head->gil_called = true;
                pthread_cond_signal(&head->gil_cond);
            }
        }
    }
    return 0;
}

void gv_gil_fifo_took(GvGIL *gil, GvThreadState *ts, uint64_t start) {
    ts->gil_since = gv_gil_count_take(gil, ts, start);
    gil->holder_cpu = gv_current_cpu();
    /* Whoever asked asked the previous holder. If a thread back from a wait,
     * or a starving one, still waits, it asks us now (honoured after our
     * minimum slice): a waiter asks only once, and that request was used up
     * by the handoff that brought us here. Otherwise a request left over is
     * stale. */
    if (gil->prio_head || (gil->norm_head && gil->norm_head->gil_starving)) {
        gv_eb_set(ts, GV_EB_GIL_DROP_REQUEST);
        gil->holder_asked = true;
        GV_TL(gv_tl_request(ts, ts, gil->prio_head ? GV_TL_REASON_PRIORITY : GV_TL_REASON_INTERVAL));
        /* A request like any other in the totals (each forced drop answers
         * one); the waiter's own counters keep only the requests it made. */
        gil->stats.drop_requests++;
    } else
        gv_eb_clear(ts, GV_EB_GIL_DROP_REQUEST);
    ts->holds_gil = true;
}

void gv_gil_fifo_hand_over(GvGIL *gil) {
    bool after_wait = gil->prio_head && gv_gil_fifo_next(gil) == gil->prio_head;
    GvThreadState *next = pick_next(gil);
    /* A new CPU-bound turn: not a thread back from a wait, nor a holder
     * resuming the turn one interrupted. */
    bool new_turn = next && !after_wait && !next->gil_resuming;
    if (new_turn && gv_gil_policy_of(gil)->fresh_interval_after_starving) {
        /* As after any switch in CPython, the waiters wait a fresh
         * interval behind the new holder before they ask. Left starving
         * (one that timed out need not be the head the turn went to), they
         * would ask the new holder at once (gv_gil_fifo_took) and every
         * CPU-bound thread but one would run a minimum slice instead of an
         * interval, two switches per interval (countdown, 4 threads at
         * 100 us: 1.31x the sequential time in priority mode, 1.18x in
         * classic; adaptive 1.17x classic's time in bench/ab when only a
         * starving head's turn reset them). Their place in the queue keeps
         * their turn. */
        for (GvThreadState *t = gil->norm_head; t; t = t->gil_next) t->gil_starving = false;
    }
    if (new_turn) gil->turns++;
    if (next) {
        gv_gil_make_holder(gil, next, gv_now_ns());
        gil->holder_after_wait = after_wait;
        gil->holder_was_spinning = atomic_load_explicit(&next->gil_spinning, memory_order_relaxed);
        atomic_store_explicit(&next->gil_granted, true, memory_order_release);
        pthread_cond_signal(&next->gil_cond);
    } else {
        atomic_store_explicit(&gil->locked, 0, memory_order_relaxed);
    }
}

/* ---- the dispatch ---- */

int gv_gil_take(GvGIL *gil, GvThreadState *ts) {
    GV_TL(gv_tl_take_begin(ts));
    int rc = gv_gil_policy_of(gil)->take(gil, ts);
    if (rc == 0) GV_TL(gv_tl_running(ts));
    return rc;
}

void gv_gil_drop(GvGIL *gil, GvThreadState *ts, bool forced) { gv_gil_policy_of(gil)->drop(gil, ts, forced); }

int gv_gil_yield(GvGIL *gil, GvThreadState *ts) { return gv_gil_policy_of(gil)->yield(gil, ts); }

/* The yield of the policies that need nothing more: a forced drop, then a
 * take. */
int gv_gil_yield_drop_take(GvGIL *gil, GvThreadState *ts) {
    gv_eb_clear(ts, GV_EB_GIL_DROP_REQUEST);
    gv_gil_drop(gil, ts, true);
    return gv_gil_take(gil, ts);
}

bool gv_gil_spins_for_wake(GvGIL *gil) { return gv_gil_policy_of(gil)->spin_for_wake && gil->spin_ns > 0; }

int gv_gil_spin_until(GvGIL *gil, GvThreadState *ts, _Atomic bool *flag, _Atomic bool *interrupted) {
    const GvGILPolicy *p = gv_gil_policy_of(gil);
    if (!p->spin_for_wake || gil->spin_ns <= 0) return -1;
    uint64_t t0 = gv_thread_cpu_ns();
    int hit = p->spin_for_wake(gil, ts, flag, interrupted);
    if (hit >= 0) {
        /* Not under the mutex: the waker may hold it right now. */
        atomic_fetch_add_explicit(&gil->wake_spins, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&gil->wake_spin_hits, (unsigned)hit, memory_order_relaxed);
        atomic_fetch_add_explicit(&gil->wake_spin_ns, gv_thread_cpu_ns() - t0, memory_order_relaxed);
    }
    return hit;
}

void gv_gil_wake(GvGIL *gil, GvThreadState *ts) {
    gv_gil_lock(gil);
    pthread_cond_signal(&ts->gil_cond);
    pthread_mutex_unlock(&gil->mutex);
}

void gv_gil_wake_all(GvGIL *gil) {
    gv_gil_lock(gil);
    pthread_cond_broadcast(&gil->cond);
    pthread_cond_broadcast(&gil->switch_cond);
    for (GvThreadState *t = gil->prio_head; t; t = t->gil_next) pthread_cond_signal(&t->gil_cond);
    for (GvThreadState *t = gil->norm_head; t; t = t->gil_next) pthread_cond_signal(&t->gil_cond);
    gv_gil_policy_sched.wake_all(gil); /* its lists are empty in the other modes */
    pthread_mutex_unlock(&gil->mutex);
}

const char *gv_gil_mode_name(int mode) {
    return mode >= 0 && mode < NPOLICIES && policies[mode] ? policies[mode]->name : "?";
}

int gv_gil_mode_by_name(const char *name) {
    for (int m = 0; name && m < NPOLICIES; m++)
        if (policies[m] && policies[m]->selectable && strcmp(policies[m]->name, name) == 0) return m;
    return -1;
}

bool gv_gil_mode_selectable(int mode) { return mode >= 0 && mode < NPOLICIES && policies[mode] && policies[mode]->selectable; }

void gv_gil_forget(GvGIL *gil, GvThreadState *ts) {
    gv_gil_lock(gil);
    if (gil->holder == ts) gil->holder = NULL;
    gv_gil_policy_sched.forget(gil, ts); /* its lists are empty in the other modes */
    pthread_mutex_unlock(&gil->mutex);
}

void gv_gil_get_stats(GvGIL *gil, GvGILCounters *out) {
    gv_gil_lock(gil);
    *out = gil->stats;
    pthread_mutex_unlock(&gil->mutex);
    out->wake_spins = atomic_load_explicit(&gil->wake_spins, memory_order_relaxed);
    out->wake_spin_hits = atomic_load_explicit(&gil->wake_spin_hits, memory_order_relaxed);
    out->spin_ns += atomic_load_explicit(&gil->wake_spin_ns, memory_order_relaxed);
}
