/* The eval loop. */
#ifndef GV_EVAL_H
#define GV_EVAL_H

#include "../runtime/object.h"
#include "../runtime/frame.h" /* the frames it runs, and their teardown */
#include "../runtime/tstate.h"

/* Calls callable(argv[0..argc)) on ts: pushes a frame and runs bytecode until
 * it returns. Borrows callable and argv. 0 with a new reference in *result,
 * or -1 with ts->current_exception set. This is what the runtime's
 * interp->eval_call points to. */
int gv_eval_call(GvThreadState *ts, GvValue callable, int argc, GvValue *argv, GvValue *result);

/* After t's hooks changed (GIL held): moves every saved frame of t to the
 * instruction array it should run (traced or not) at the same index. The
 * frame running right now switches at its next eval-breaker check. */
void gv_eval_retarget(GvThreadState *t);
/* A nested entry into the eval loop from C is allowed here: 0, or -1 with
 * RecursionError (fatal far past the limit). */
int gv_eval_check_c_recursion(GvThreadState *ts);
/* Runs a generator's frame f, just resumed (gv_saved_frame_resume): 1 when it
 * yields (*result the value; f is still current, to be suspended), 0 when it
 * returns (*result), -1 when an exception leaves it (f popped in both).
 * throwing: raise ts's current exception at the suspension point. */
int gv_eval_resume(GvThreadState *ts, GvFrame *f, bool throwing, GvValue *result);

#endif
