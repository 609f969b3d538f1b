/* The eval breaker: one atomic word per thread whose bits ask the eval loop
 * to leave its fast path (CPython's eval_breaker and its named bits).
 *
 * The loop reads it with one relaxed load at backward jumps and function
 * entry; anything that needs the thread's attention sets a bit here, and the
 * loop lands in gv_breaker_handle. Every read and write of the word goes
 * through the helpers below, so a reader finds each bit's users by name.
 * Relaxed ordering is enough: a bit only says "look"; the state it refers to
 * (the async exception, the pending calls, the GIL's queues) is published
 * under its own lock or the GIL. */
#ifndef GV_BREAKER_H
#define GV_BREAKER_H

#include <stdatomic.h>

#include "tstate.h"

#define GV_EB_GIL_DROP_REQUEST 0x1u /* a waiter wants the GIL: drop it at this safe point */
#define GV_EB_PENDING_CALLS 0x2u    /* calls are queued for this thread (runtime/services.c) */
#define GV_EB_ASYNC_EXC 0x4u        /* an asynchronous exception is set (maybe masked) */
#define GV_EB_SIGNAL 0x8u           /* Ctrl-C arrived (main thread only) */
#define GV_EB_TRACING 0x10u         /* the hooks changed: frames switch instruction arrays */
#define GV_EB_BUDGET 0x20u          /* an instruction budget is active: kept set while it is */
#define GV_EB_TEST 0x80000000u      /* set by unit tests to watch the slow path run */

/* What a blocking wait must stop for (and handle with the GIL) before it
 * sleeps or takes what it waits for. */
#define GV_EB_INTERRUPTS (GV_EB_PENDING_CALLS | GV_EB_ASYNC_EXC | GV_EB_SIGNAL)

static inline void gv_eb_set(GvThreadState *ts, uint32_t bits) {
    atomic_fetch_or_explicit(&ts->eval_breaker, bits, memory_order_relaxed);
}
static inline void gv_eb_clear(GvThreadState *ts, uint32_t bits) {
    atomic_fetch_and_explicit(&ts->eval_breaker, ~bits, memory_order_relaxed);
}
/* The bits of `bits` that are set (all of them when bits is ~0u). */
static inline uint32_t gv_eb_test(GvThreadState *ts, uint32_t bits) {
    return atomic_load_explicit(&ts->eval_breaker, memory_order_relaxed) & bits;
}

/* The slow path: called by the eval loop when ts's word is non-zero. Drops
 * the GIL if asked, runs pending calls, raises a pending signal or
 * asynchronous exception. 0, or -1 with an exception set. May end the
 * thread (finalizing). */
GV_COLD int gv_breaker_handle(GvThreadState *ts);
/* The same for a thread outside the eval loop (a wait that was woken, a
 * thread whose function just returned): handles what is due except GIL
 * requests and tracing. 0, or -1 with an exception set. GIL held. */
int gv_breaker_handle_interrupts(GvThreadState *ts);

/* Ctrl-C: SIGINT raises KeyboardInterrupt in main_ts at its next check and
 * wakes its blocking wait. 0 or -1. */
int gv_signals_install(GvThreadState *main_ts);
void gv_signals_uninstall(void);

#endif
