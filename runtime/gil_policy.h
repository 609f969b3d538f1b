/* The GIL's policies, one per mode: what gil.c dispatches to, and the common
 * parts (counters, the FIFO of waiters, holder bookkeeping) the policies
 * build on. Internal to runtime/gil*.c.
 *
 * A new policy: write runtime/gil_NAME.c defining a GvGILPolicy (reuse the
 * hooks of a policy it refines), add its mode to GvGILMode (include/gilvm.h)
 * and its row to the table in gil.c, add the file to runtime/meson.build.
 * `--gil=NAME`, GILMODE=NAME and bench/run --gil-modes=...,NAME then select
 * it; nothing else names the modes. */
#ifndef GV_GIL_POLICY_H
#define GV_GIL_POLICY_H

#include "gil.h"
#include "timeline.h"
#include "tstate.h"

typedef struct GvGILPolicy {
    const char *name;
    bool selectable; /* by name and Gv_SetGILMode (the schedule is set otherwise) */
    /* gv_gil_take, gv_gil_drop, gv_gil_yield (their contracts are in gil.h). */
    int (*take)(GvGIL *gil, GvThreadState *ts);
    void (*drop)(GvGIL *gil, GvThreadState *ts, bool forced);
    int (*yield)(GvGIL *gil, GvThreadState *ts);
    /* FIFO policies: called (mutex held) by a waiter just queued, before it
     * sleeps, and by a waiter that has just asked the holder to drop: spin
     * for the grant? Returns 1 (granted while spinning), 0 (spun, not
     * granted) or -1 (did not spin); a spin (gv_gil_spin_capped_for,
     * gv_gil_spin_for_grant_capped) releases the mutex meanwhile and counts
     * itself. NULL: never spin. */
    int (*spin_for_grant)(GvGIL *gil, GvThreadState *ts);
    /* A parked wait (runtime/wait.c) before it sleeps: as gv_gil_spin_until.
     * NULL: never spin. */
    int (*spin_for_wake)(GvGIL *gil, GvThreadState *ts, _Atomic bool *flag, _Atomic bool *interrupted);
    /* FIFO policies: when a new CPU-bound turn starts, the other waiters
     * wait a fresh interval (gv_gil_fifo_hand_over). */
    bool fresh_interval_after_starving;
    /* FIFO policies: a holder forced to drop for a thread back from a wait
     * queues at the front of `norm`, not the tail: it resumes its turn once
     * that thread is done (gv_gil_priority_yield_handoff). */
    bool resume_after_prio;
    /* The GIL's mutex spins a little before sleeping (gil.c, init_mutex). */
    bool adaptive_mutex;
    /* The schedule's own lists (mutex held): ts is being forgotten; every
     * waiter must wake. gil.c calls these whatever the mode. */
    void (*forget)(GvGIL *gil, GvThreadState *ts);
    void (*wake_all)(GvGIL *gil);
} GvGILPolicy;

extern const GvGILPolicy gv_gil_policy_classic;  /* gil_classic.c */
extern const GvGILPolicy gv_gil_policy_priority; /* gil_priority.c */
extern const GvGILPolicy gv_gil_policy_spin;     /* gil_spin.c */
extern const GvGILPolicy gv_gil_policy_sched;    /* gil_sched.c */
extern const GvGILPolicy gv_gil_policy_adaptive; /* gil_adaptive.c */

/* ---- common (gil.c) ---- */
const GvGILPolicy *gv_gil_policy_of(GvGIL *gil); /* the policy of gil's mode */
void gv_gil_check(int rc, const char *what); /* a pthread call failed: fatal */
void gv_gil_lock(GvGIL *gil);
void gv_gil_deadline_after(struct timespec *ts, int64_t ns);
bool gv_gil_must_exit(GvThreadState *ts);

/* The counters, each written here only. mutex held. */
/* ts has taken the GIL after waiting since `start`; returns now. */
uint64_t gv_gil_count_take(GvGIL *gil, GvThreadState *ts, uint64_t start);
void gv_gil_count_drop(GvGIL *gil, GvThreadState *ts, bool forced);
/* ts (a waiter) asks the holder to drop, for a GV_TL_REASON_* (the GIL
 * timeline shows it). */
void gv_gil_request_drop(GvGIL *gil, GvThreadState *ts, int reason);
/* The calling thread's CPU time, ns: what a spin costs (wall time would
 * count the time the kernel ran something else). A system call: never with
 * the mutex held, which the holder may need to drop. */
uint64_t gv_thread_cpu_ns(void);
/* A spin for the GIL or a wake-up ended: hit or not, after spun_ns. */
void gv_gil_count_spin(GvGIL *gil, GvThreadState *ts, int hit, uint64_t spun_ns);
/* ts becomes the holder (`locked` set; a switch if it was not the last). */
void gv_gil_make_holder(GvGIL *gil, GvThreadState *ts, uint64_t now);

/* The FIFO of waiters (the handoff policies): two queues, `prio` (back from
 * a blocking wait) and `norm` (forced to drop, or new); see gil_priority.c.
 * All with the mutex held. */
bool gv_gil_fifo_empty(GvGIL *gil);
GvThreadState *gv_gil_fifo_next(GvGIL *gil); /* who a drop would hand to, not dequeued */
/* Where a waiter queues: `prio`, the tail of `norm`, the front of `norm`. */
typedef enum { GV_FIFO_PRIO, GV_FIFO_NORM, GV_FIFO_NORM_FRONT } GvFifoPlace;
/* Queues ts and waits until a dropper grants it the GIL: 0 (mutex held), or
 * -1 (dequeued) if ts must exit. Calls the policy's spin_for_grant. */
int gv_gil_fifo_wait(GvGIL *gil, GvThreadState *ts, GvFifoPlace place);
/* ts has just become the holder through the FIFO after waiting since start. */
void gv_gil_fifo_took(GvGIL *gil, GvThreadState *ts, uint64_t start);
/* Makes the next waiter the holder and wakes it, or frees the GIL. */
void gv_gil_fifo_hand_over(GvGIL *gil);

/* The yield of a policy that needs nothing more: a forced drop, a take. */
int gv_gil_yield_drop_take(GvGIL *gil, GvThreadState *ts);

/* The priority policy's hooks, for the policies that refine it. */
int gv_gil_priority_take(GvGIL *gil, GvThreadState *ts);
void gv_gil_priority_drop(GvGIL *gil, GvThreadState *ts, bool forced);
int gv_gil_priority_yield(GvGIL *gil, GvThreadState *ts);
/* The forced switch of the FIFO policies (gil_priority.c). */
int gv_gil_priority_yield_handoff(GvGIL *gil, GvThreadState *ts);

/* The bounded, adaptive spin (gil_spin.c): spins until *flag, *interrupted
 * or the thread's budget (at most gil->spin_ns) is used up: 1, 0. */
int gv_gil_spin(GvGIL *gil, GvThreadState *ts, _Atomic bool *flag, _Atomic bool *interrupted);
/* A spin for the grant (mutex held, released while spinning), only while
 * fewer threads spin for the GIL than there are cores besides the holder's. */
int gv_gil_spin_for_grant_capped(GvGIL *gil, GvThreadState *ts);
/* The same for a fixed time (ns), not the thread's adaptive budget. */
int gv_gil_spin_capped_for(GvGIL *gil, GvThreadState *ts, int64_t ns);

#endif
