/* Threads: attaching to and detaching from the GIL, parking in blocking
 * waits, starting OS threads for programs, and shutting them down. */
#ifndef GV_THREAD_H
#define GV_THREAD_H

#include "object.h"
#include "tstate.h"

/* ---- attach / detach ----
 * Attached: ts is current on this OS thread and holds the GIL. */

/* Takes the GIL and makes ts current. -1 (nothing taken, nothing current)
 * if ts must exit because the interpreter is finalizing. */
int gv_tstate_attach(GvThreadState *ts);
/* Releases the GIL and makes no thread state current. */
void gv_tstate_detach(GvThreadState *ts);
/* Ends the calling OS thread after gv_tstate_attach failed for ts: marks ts
 * abandoned for the finalizer to free, and never touches it again. */
_Noreturn void gv_thread_abandon(GvThreadState *ts);
/* attach, or abandon the thread: for callers that cannot report failure. */
void gv_tstate_attach_or_exit(GvThreadState *ts);

/* Binds ts to the calling OS thread for GvGILState_Ensure, and arranges that
 * if the thread ends while still holding it, the GIL is released. */
void gv_thread_bind(GvThreadState *ts);
GvThreadState *gv_thread_bound(void);
void gv_thread_unbind(void);
/* Detaches ts from whatever OS thread is bound to it (before freeing it). */
void gv_thread_forget_binding(GvThreadState *ts);

/* ---- parking ----
 * A blocking wait detaches (releases the GIL), then under interp->mutex
 * checks its condition and parks until woken, interrupted or timed out.
 * Called with interp->mutex held (and the GIL released). */
typedef enum { GV_PARK_WOKEN, GV_PARK_TIMEOUT, GV_PARK_INTERRUPTED } GvParkResult;
/* deadline_ns: CLOCK_MONOTONIC ns, or 0 for none. q may be NULL (sleep). */
GvParkResult gv_park(GvThreadState *ts, GvWaitQueue *q, uint64_t deadline_ns);
/* gv_park in two steps, for the deterministic schedule: prepare (queue ts as
 * a waiter, interp->mutex held) while still holding the GIL, so that whoever
 * wakes it, running after ts detaches, finds it queued; then detach and park
 * (interp->mutex held). */
void gv_park_prepare(GvThreadState *ts, GvWaitQueue *q);
GvParkResult gv_park_prepared(GvThreadState *ts, GvWaitQueue *q, uint64_t deadline_ns);
/* Wake the first / every thread parked on q. interp->mutex held. */
void gv_unpark_one(GvWaitQueue *q);
void gv_unpark_all(GvWaitQueue *q);
/* Asks ts's current or next blocking wait to return early. Any thread,
 * interp->mutex NOT held. */
void gv_thread_interrupt(GvThreadState *ts);

/* ---- threads for programs ---- */
/* Starts callable(argv) on a new OS thread with its own thread state and
 * returns its handle (a new reference). GIL held. */
GvObject *gv_thread_start(GvThreadState *ts, GvValue callable, int argc, GvValue *argv, bool daemon);
/* Waits (GIL released) for the handle's thread to end; returns its result
 * (none if it raised). -1 if interrupted by an exception. */
int gv_thread_join(GvThreadState *ts, GvObject *handle, GvValue *result);
unsigned long gv_thread_handle_id(GvObject *handle);
bool gv_is_thread_handle(GvValue v);

/* ---- shutdown ---- */
/* Waits for every non-daemon thread to end (GIL released meanwhile). */
void gv_threads_wait_nondaemon(GvThreadState *ts);
/* Marks the runtime finalizing, wakes every parked thread, and waits up to
 * timeout_ns for all other threads to end or be abandoned. Returns true if
 * they all did (the interpreter can then be freed), false otherwise. */
bool gv_threads_shutdown(GvThreadState *ts, uint64_t timeout_ns);

#endif
