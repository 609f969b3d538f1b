#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gil_policy.h"

/* The schedule policy (internal): the deterministic schedule.
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
        gv_gil_make_holder(gil, ts, gv_now_ns());
        sched_note(gil, ts);
        pthread_cond_signal(&ts->gil_cond);
    }
}

/* mutex held */
static void sched_forget(GvGIL *gil, GvThreadState *ts) {
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
    gv_gil_lock(gil);
    sched_add(gil, ts);
    pthread_mutex_unlock(&gil->mutex);
}

void gv_gil_sched_block(GvGIL *gil, GvThreadState *ts, uint64_t deadline) {
    gv_gil_lock(gil);
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
    gv_gil_lock(gil);
    gv_gil_set_mode(gil, GV_GIL_SCHEDULE);
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
    gv_gil_lock(gil);
    uint64_t digest = gil->sched_digest;
    *handoffs = gil->sched_handoffs;
    pthread_mutex_unlock(&gil->mutex);
    return digest;
}

static int take_sched(GvGIL *gil, GvThreadState *ts) {
    uint64_t start = gv_now_ns();
    gv_gil_lock(gil);
    /* A thread entering (or started) is runnable; a blocked one waits to be
     * made runnable by a wake-up or its deadline. */
    if (!ts->sched_blocked) sched_add(gil, ts);
    while (gil->holder != ts || !atomic_load_explicit(&gil->locked, memory_order_relaxed)) {
        if (gv_gil_must_exit(ts)) {
            ts->sched_blocked = false;
            sched_forget(gil, ts);
            pthread_mutex_unlock(&gil->mutex);
            return -1;
        }
        pthread_cond_wait(&ts->gil_cond, &gil->mutex);
    }
    gv_gil_count_take(gil, ts, start);
    ts->sched_left = gil->sched_n;
    ts->holds_gil = true;
    pthread_mutex_unlock(&gil->mutex);
    return 0;
}

/* forced: a slice ended, ts stays runnable; else ts blocks or leaves. */
static void drop_sched(GvGIL *gil, GvThreadState *ts, bool forced) {
    gv_gil_lock(gil);
    assert(ts->holds_gil); /* only the holder drops */
    ts->holds_gil = false;
    gv_gil_count_drop(gil, ts, forced); /* first: the timeline reads the slice and the clock */
    /* The virtual clock advances by what ran in this slice. */
    int64_t ran = (int64_t)gil->sched_n - ts->sched_left;
    if (ran > 0) gil->sched_clock += (uint64_t)ran * GV_SCHED_NS_PER_INSTR;
    ts->sched_left = gil->sched_n;
    if (!forced) list_remove(gil->runnable, &gil->nrunnable, ts);
    sched_wake_sleepers(gil);
    if (gil->nrunnable) {
        GvThreadState *next = gil->runnable[splitmix64(&gil->sched_rng) % gil->nrunnable];
        gv_gil_make_holder(gil, next, gv_now_ns());
        sched_note(gil, next);
        if (next != ts) pthread_cond_signal(&next->gil_cond);
    } else {
        atomic_store_explicit(&gil->locked, 0, memory_order_relaxed);
        gil->holder = NULL;
    }
    pthread_mutex_unlock(&gil->mutex);
}

static int take_sched_entry(GvGIL *gil, GvThreadState *ts) {
    ts->gil_after_wait = false;
    return take_sched(gil, ts);
}

/* mutex held */
static void sched_wake_all(GvGIL *gil) {
    for (size_t i = 0; i < gil->nrunnable; i++) pthread_cond_signal(&gil->runnable[i]->gil_cond);
    for (size_t i = 0; i < gil->nsleepers; i++) pthread_cond_signal(&gil->sleepers[i]->gil_cond);
}

const GvGILPolicy gv_gil_policy_sched = {
    .name = "schedule",
    .selectable = false, /* Gv_SetSchedule sets it, with its seed */
    .take = take_sched_entry,
    .drop = drop_sched,
    .yield = gv_gil_yield_drop_take,
    .forget = sched_forget,
    .wake_all = sched_wake_all,
};
