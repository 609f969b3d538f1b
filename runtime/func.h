/* Callables: bytecode functions and builtins (C functions). */
#ifndef GV_FUNC_H
#define GV_FUNC_H

#include "code.h"
#include "object.h"

typedef struct GvFunction {
    GvObject ob;
    GvCode *code; /* strong */
    /* Copies of code's fields that CALL reads, so a call waits for one load
     * less (the function, not the function then its code). Code is
     * immutable once quickened, which is before any function is made. */
    uint32_t nparams, nlocals, frame_size;
    const GvInstr *quick;
    const GvValue *consts;
    /* No globals pointer: one interpreter has one globals dict (interp->globals),
     * and a function stored in it that pointed back would be a cycle. */
} GvFunction;

/* A builtin: called with the GIL held, argc values it borrows, a result it
 * returns through *result (a new reference). Returns 0, or -1 with the
 * thread's exception set. argc is already checked against min/max. */
typedef int (*GvBuiltinFn)(GvThreadState *ts, int argc, GvValue *argv, GvValue *result);

typedef struct GvBuiltin {
    GvObject ob;
    const char *name; /* static string */
    GvBuiltinFn fn;
    int16_t min_args, max_args; /* max_args -1: any number */
} GvBuiltin;

/* A GV_KFUNC, or a GV_KGENFUNC for a generator's code (verified first). */
GvObject *gv_function_new(GvCode *code);
/* Anything CALL can call: functions, builtins, exception types. */
static inline bool gv_is_callable(GvValue v) {
    return gv_is_kind(v, GV_KFUNC) || gv_is_kind(v, GV_KGENFUNC) || gv_is_kind(v, GV_KBUILTIN) ||
           gv_is_kind(v, GV_KTYPE);
}
GvObject *gv_builtin_new(const char *name, GvBuiltinFn fn, int min_args, int max_args);

#endif
