/* Thread-state services (runtime/services.c): asynchronous exceptions and
 * pending calls. Each is delivered through the
 * eval breaker (runtime/breaker.h): the requester sets a bit in the target's
 * word and wakes its blocking wait (runtime/wait.c), and the target acts at
 * its next check, with the GIL. */
#ifndef GV_SERVICES_H
#define GV_SERVICES_H

#include "tstate.h"

/* Sets (exc != NULL, borrowed) or clears the async exception of the thread
 * with that id. Returns how many thread states it changed (0 or 1). GIL held. */
int gv_set_async_exc(GvInterpreterState *interp, unsigned long id, GvObject *exc);
/* Raises ts's pending async exception if not masked. 0 or -1. */
int gv_raise_async_exc(GvThreadState *ts);
void gv_async_mask(GvThreadState *ts);
/* Ends a masking scope; at the outermost end, a held-back exception is due
 * (raised at the next check). */
void gv_async_unmask(GvThreadState *ts);

/* Queues fn(arg) for the thread with id `target` (0: the main thread). Any
 * thread, GIL or not; never waits for the GIL. 0, or -1 when that thread's
 * room (GV_PENDING_CALLS_MAX calls) is full or no such thread is running. */
int gv_pending_add(GvInterpreterState *interp, unsigned long target, int (*fn)(void *), void *arg,
                   bool owns_object);
/* Runs the calls that were due on ts when it started (GIL held). 0, or -1
 * with the exception of the first call that failed (the others stay queued). */
int gv_pending_run(GvThreadState *ts);
/* Drops the calls queued for ts, never running them, and releases what they
 * hold: ts is being deleted and no adder can find it any more. GIL held. */
void gv_pending_drop_for(GvThreadState *ts);

#endif
