/* The global interpreter lock. See gil.c for how it works and why. */
#ifndef GV_GIL_H
#define GV_GIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gilvm.h"

/* The counters are the public GvGILStats (include/gilvm.h). */
typedef GvGILStats GvGILCounters;

typedef struct GvGIL {
    int mode;                 /* GvGILMode; changed only while one thread exists on this GIL
                                 (of any interpreter: one may share main's) */
    int64_t spin_ns;          /* spin budget of the spin mode (0 on one core) */
    int ncpus;                /* cores this process may run on, at init */
    _Atomic int spinners;     /* threads spinning for the GIL now (spin mode) */
    /* Spins of parked waits (gv_gil_spin_until), counted without the mutex. */
    _Atomic unsigned long long wake_spins, wake_spin_hits, wake_spin_ns;
    pthread_mutex_t mutex;    /* guards every field below unless it says otherwise */
    pthread_cond_t cond;      /* signalled when the GIL is dropped */
    pthread_cond_t switch_cond; /* signalled when a thread takes it (forced switching) */
    _Atomic int locked;       /* written under mutex; read racily only as a hint */
    GvThreadState *holder;    /* the holder, or the last one; NULL once that thread is gone */
    uint64_t switch_number;   /* bumped each time a different thread takes the GIL */
    uint64_t turns;           /* FIFO modes: bumped at each new CPU-bound turn (not a resumed one) */
    _Atomic int64_t interval_ns; /* switch interval; atomic: set by programs without the mutex */
    GvGILCounters stats;
    /* Handoff modes: who waits, in two FIFO queues linked through ts->gil_next. */
    GvThreadState *prio_head, *prio_tail; /* coming back from a blocking wait */
    GvThreadState *norm_head, *norm_tail; /* forced to drop, or new */
    uint64_t holder_since;    /* when the holder got it */
    bool holder_after_wait;   /* the holder was handed the GIL from `prio` (back from a wait) */
    bool holder_was_spinning; /* the holder was spinning for it when handed the GIL (so on a core) */
    bool holder_asked;        /* the holder has been asked to drop since it took the GIL */
    int holder_cpu;           /* the CPU the holder ran on when it took the GIL, or -1 */
    /* adaptive mode: whether spins for the GIL have been hitting lately,
     * behind a holder asked to drop (due) and behind one back from a wait */
    int due_spin_credit, after_wait_spin_credit;
    unsigned spin_probe;      /* adaptive mode: spins refused for want of credit */
    /* Schedule mode: the threads that may run, in the order they became so. */
    GvThreadState **runnable;
    size_t nrunnable, caprunnable;
    uint64_t sched_rng;       /* splitmix64 state, from the seed */
    uint32_t sched_n;         /* instructions per slice */
    uint64_t sched_clock;     /* the virtual clock, ns (advanced at handoffs) */
    GvThreadState **sleepers; /* blocked with a deadline on the virtual clock, in order */
    size_t nsleepers, capsleepers;
    uint64_t sched_digest;    /* FNV-1a over the ids of the threads given the GIL */
    uint64_t sched_handoffs;  /* how many times the schedule gave it */
} GvGIL;

/* A thread coming back from a blocking wait asks the holder to drop once the
 * holder has run this long: the bound on how often I/O can preempt. */
#define GV_GIL_MIN_SLICE_NS 20000

/* The mode an interpreter starts in (GILMODE and --gil= choose another). */
#define GV_GIL_DEFAULT GV_GIL_ADAPTIVE

void gv_gil_init(GvGIL *gil);
/* Sets the mode (a GvGILMode, or GV_GIL_SCHEDULE): only while a single
 * thread uses the GIL. The mutex keeps its type: another thread may be about
 * to take it. */
void gv_gil_set_mode(GvGIL *gil, int mode);
/* The same before any thread uses the GIL, with the mutex of the mode's type
 * (gil.c, init_mutex). */
void gv_gil_set_initial_mode(GvGIL *gil, int mode);
/* Takes the GIL for ts (which does not hold it). Returns 0, or -1 without
 * taking it if the interpreter is finalizing and ts may not run any more. */
int gv_gil_take(GvGIL *gil, GvThreadState *ts);
/* Drops the GIL ts holds. `forced`: because a waiter asked; then, as in
 * CPython, do not return before another thread has taken it, so the dropper
 * cannot take it straight back. */
void gv_gil_drop(GvGIL *gil, GvThreadState *ts, bool forced);
/* The holder's eval breaker found a drop request: drop, let another thread
 * run, take it back. Returns -1 if ts must stop (finalizing). */
int gv_gil_yield(GvGIL *gil, GvThreadState *ts);
/* Forgets ts as the last holder (before ts is freed). */
void gv_gil_forget(GvGIL *gil, GvThreadState *ts);
/* Wakes every thread waiting for the GIL (finalization: they will refuse). */
void gv_gil_wake_all(GvGIL *gil);
/* A parked wait, before it sleeps: in the modes that spin for a wake-up,
 * spins up to the thread's adaptive budget (at most gil->spin_ns) until *flag
 * is set (1), or *interrupted is or the time is up (0). Returns -1 without
 * spinning in the other modes. */
int gv_gil_spin_until(GvGIL *gil, GvThreadState *ts, _Atomic bool *flag, _Atomic bool *interrupted);
/* Whether gv_gil_spin_until may spin in this mode (on this machine). */
bool gv_gil_spins_for_wake(GvGIL *gil);
const char *gv_gil_mode_name(int mode);
/* The selectable mode called `name` (classic, priority, spin, adaptive), or
 * -1. */
int gv_gil_mode_by_name(const char *name);
bool gv_gil_mode_selectable(int mode);
/* Schedule mode (GV_GIL_SCHEDULE, internal): one thread runs at a time, for
 * sched_n instructions, then the next is drawn from the runnable threads by
 * a PRNG seeded with `seed`. Set while a single thread exists. */
#define GV_GIL_SCHEDULE 3
void gv_gil_set_schedule(GvGIL *gil, GvThreadState *ts, uint64_t seed, uint32_t n);
/* Schedule mode: ts may run again (it was started, or woken by the holder). */
void gv_gil_sched_runnable(GvGIL *gil, GvThreadState *ts);
/* Schedule mode: ts is about to block (then drop the GIL): it becomes
 * runnable again only through gv_gil_sched_runnable or, if deadline is not
 * 0, when the virtual clock reaches it. */
void gv_gil_sched_block(GvGIL *gil, GvThreadState *ts, uint64_t deadline);
/* Schedule mode: the virtual clock as its holder ts sees it, in ns. */
uint64_t gv_gil_sched_clock(GvGIL *gil, GvThreadState *ts);
/* Virtual time per instruction, and where the clock starts: time() reads
 * 1.0 at the start of a scheduled run. */
#define GV_SCHED_NS_PER_INSTR 1000u
#define GV_SCHED_CLOCK_START 1000000000u
/* Wakes ts if it waits for the GIL (finalization). */
void gv_gil_wake(GvGIL *gil, GvThreadState *ts);
/* Schedule mode: a hash of the interleaving so far (the sequence of threads
 * the schedule gave the GIL to), and in *handoffs how many it gave. Two runs
 * with equal digests ran the same interleaving (`gilvm run --schedule-digest`). */
uint64_t gv_gil_sched_digest(GvGIL *gil, uint64_t *handoffs);
/* The spin budget, measured with bench/limit and bench/run pingpong: a futex
 * handoff costs 2.5-8.5 us here, so spinning longer than ~2 of them gains
 * nothing; see bench/README.md. */
#define GV_GIL_SPIN_NS 20000
void gv_gil_get_stats(GvGIL *gil, GvGILCounters *out);

uint64_t gv_now_ns(void); /* CLOCK_MONOTONIC */
int gv_current_cpu(void); /* the CPU the caller runs on now, or -1 */

#endif
