/* Raising errors from C: the internal side of GvErr_*. The exception in
 * flight lives in ts->current_exception. */
#ifndef GV_ERRORS_H
#define GV_ERRORS_H

#include "exc.h"
#include "tstate.h"

/* Sets the current exception to a new instance of type with a formatted
 * message. Always returns -1 so callers can `return gv_err_format(...)`. */
GV_COLD int gv_err_format(GvType *type, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the current exception (steals exc), chaining the exception being
 * handled as its context (unless it is exc itself). A context chain keeps
 * at most GV_CONTEXT_CHAIN_MAX exceptions, exc included: the newest ones and
 * the root (the first cause); the link before the root counts the ones left
 * out in its context_omitted, and tracebacks say so. */
#define GV_CONTEXT_CHAIN_MAX 100
void gv_err_set_exc(GvThreadState *ts, GvObject *exc);
/* MemoryError without allocating (a preallocated instance). Returns -1. */
GV_COLD int gv_err_nomemory(void);
/* Takes the current exception (the caller owns it), or NULL. */
GvObject *gv_err_take(GvThreadState *ts);
bool gv_err_occurred(GvThreadState *ts);
void gv_err_clear(GvThreadState *ts);

#endif
