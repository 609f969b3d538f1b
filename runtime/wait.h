/* Blocking waits and wake-ups: the one path every wait of the VM takes
 * (sleep, locks, queues, joins, the exit wait) and the one path every
 * wake-up takes (a lock released, an item put, a thread ended, an
 * asynchronous exception, a pending call, Ctrl-C, finalization). See wait.c
 * for how it works. */
#ifndef GV_WAIT_H
#define GV_WAIT_H

#include "tstate.h"

/* What a wait waits for. ready() and take() run under interp->mutex, with
 * the GIL held. */
typedef struct GvWaitSpec {
    GvWaitQueue *queue;               /* where wakers find the waiter; NULL: nobody wakes it (sleep) */
    bool (*ready)(void *obj);         /* may the waiter go on (take) now? */
    void (*take)(void *obj, void *out); /* takes what it waited for; NULL: nothing to take */
    void *obj, *out;
    double timeout;                   /* seconds; < 0: no timeout */
    const char *kind;                 /* what it is, for the timeline: "lock", "queue"... (static) */
} GvWaitSpec;

/* Waits, GIL released, until ready() (then take() is done, 1), the timeout
 * passes (0), or an interruption raises (-1 with the exception set). GIL
 * held on entry and return. Interruptions (pending calls, an asynchronous
 * exception, Ctrl-C) are handled with the GIL, before anything is taken:
 * a wait that raises has taken nothing, and a wake-up it received is passed
 * on to the next waiter. Under the deterministic schedule the timeout runs
 * on the virtual clock. */
int gv_wait(GvThreadState *ts, const GvWaitSpec *w);

/* Wakes the first / every thread queued on q (the thing it waits for
 * changed). interp->mutex held. */
void gv_wake_one(GvWaitQueue *q);
void gv_wake_all(GvWaitQueue *q);
/* Sets `bits` in ts's eval breaker and wakes its wait, if it is in one, to
 * handle them. interp->mutex held / not held. */
void gv_thread_interrupt_locked(GvThreadState *ts, uint32_t bits);
void gv_thread_interrupt(GvThreadState *ts, uint32_t bits);
/* Finalization: wakes every wait of every thread but the caller's, so each
 * finds it must exit. interp->mutex held. */
void gv_wake_for_exit(GvInterpreterState *interp, GvThreadState *finalizer);

/* Now, in ns, on the clock waits and time() use: the monotonic clock, or the
 * virtual clock under the deterministic schedule. GIL held. */
uint64_t gv_clock_now(GvThreadState *ts);

#endif
