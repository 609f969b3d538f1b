/* Threads: binding thread states to OS threads, starting and joining OS
 * threads for programs, and shutting them down. (A thread state's life is
 * owned by tstate.h; waits by wait.h.) */
#ifndef GV_THREAD_H
#define GV_THREAD_H

#include "object.h"
#include "tstate.h"

/* Binds ts to the calling OS thread for GvGILState_Ensure, and arranges that
 * if the thread ends while still holding it, the GIL is released. */
void gv_thread_bind(GvThreadState *ts);
GvThreadState *gv_thread_bound(GvInterpreterState *interp);
void gv_thread_unbind(GvInterpreterState *interp);
/* Detaches ts from whatever OS thread is bound to it (before freeing it). */
void gv_thread_forget_binding(GvThreadState *ts);

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
/* Waits for every thread_start thread's function to return (GIL released
 * meanwhile). 0, or -1 with the exception that interrupted the wait
 * (KeyboardInterrupt on Ctrl-C, an asynchronous exception). */
int gv_threads_wait_nondaemon(GvThreadState *ts);
/* Marks the runtime finalizing, wakes every parked thread, and waits up to
 * timeout_ns for all other threads to end or be abandoned. Returns true if
 * they all did (the interpreter can then be freed), false otherwise. */
bool gv_threads_shutdown(GvThreadState *ts, uint64_t timeout_ns);

#endif
