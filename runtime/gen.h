/* Generators and async generators: the objects and their saved frames.
 *
 * Calling a generator function (GV_KGENFUNC) makes a GvGen holding a saved
 * frame (runtime/frame.h) with the arguments bound and no instruction run.
 * vm/gen.c resumes it (next, send, throw, close): the frame moves onto the
 * resuming thread's data stack for as long as it runs, and back at a yield.
 *
 *   CREATED --resume--> RUNNING --yield--> SUSPENDED --resume--> RUNNING ...
 *      |                   |                   |
 *      +--close/throw--> FINISHED <--return/raise+--close (body lets GeneratorExit out)
 *
 * A generator whose last reference goes while it is suspended closes itself
 * first (the finalize callback, which vm/ installs: the runtime cannot run
 * bytecode); so do async generators, unless a finalizer hook takes them. */
#ifndef GV_GEN_H
#define GV_GEN_H

#include "frame.h"
#include "func.h"
#include "object.h"

typedef enum GvGenState {
    GV_GEN_CREATED,   /* no instruction run yet */
    GV_GEN_SUSPENDED, /* at a YIELD_VALUE */
    GV_GEN_RUNNING,   /* its frame is on some thread's data stack */
    GV_GEN_FINISHED,  /* returned, raised, or closed: no frame */
} GvGenState;

typedef struct GvGen {
    GvNative nat;
    GvFunction *func;      /* strong: its code is the body */
    GvSavedFrame frame;    /* while CREATED or SUSPENDED */
    uint8_t state;         /* GvGenState */
    bool is_async;         /* an async generator (.async) */
    bool first_done;       /* async: the first-resume step (hooks) happened */
    bool finalizer_called; /* async: handed to its finalizer once already */
    GvObject *finalizer;   /* async: strong or NULL, the hook remembered at the first resume */
} GvGen;

/* Called by gv_dealloc when the count reaches 0 (set back to 1 meanwhile):
 * runs interp->gen_finalize, which vm/ installed (the current thread's
 * interpreter; none without a current thread state). */
void gv_gen_finalize(GvObject *o);
struct GvBuf;
/* "<generator NAME>" / "<async_generator NAME>". 0 or -1. */
int gv_gen_repr(struct GvBuf *b, GvObject *o);

/* A new generator (async if fn's code is .async) for fn(argv...): binds the
 * arguments, runs nothing. NULL with the exception set. */
GvObject *gv_gen_new(GvFunction *fn, int argc, const GvValue *argv);
/* A generator or an async generator. */
static inline bool gv_is_gen(GvValue v) { return gv_is_kind(v, GV_KGEN); }
static inline GvGen *gv_as_gen(GvValue v) { return (GvGen *)v.as.o; }
/* The function's name (borrowed C string). */
const char *gv_gen_name(const GvGen *g);
/* Drops the frame (without running anything) and marks it finished. */
void gv_gen_drop_frame(GvGen *g);

#endif
