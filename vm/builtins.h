/* The builtin functions programs can call (print, len, the exception types, ...). */
#ifndef GV_BUILTINS_H
#define GV_BUILTINS_H

#include "../runtime/tstate.h"

/* Fills interp->builtins. 0 or -1 (MemoryError). */
int gv_builtins_install(GvInterpreterState *interp);

#endif
