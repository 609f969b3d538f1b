/* Generators from the VM's side: the builtins that resume them, the hooks,
 * and closing the suspended ones at the program's end (vm/gen.c). */
#ifndef GV_VM_GEN_H
#define GV_VM_GEN_H

#include "../runtime/dict.h"
#include "../runtime/tstate.h"

/* Installs next, send, throw, close, set_asyncgen_hooks, get_asyncgen_hooks
 * in interp's builtins, and interp->gen_finalize (close on free). 0 or -1. */
int gv_gen_builtins_install(GvInterpreterState *interp);
/* ts's hooks (each none or callable, else TypeError and nothing changes). 0 or -1. */
int gv_set_asyncgen_hooks(GvThreadState *ts, GvValue firstiter, GvValue finalizer);
/* At the program's end, with the VM still whole: closes every suspended
 * generator (as freeing it would), in no set order. */
void gv_gen_close_all(GvThreadState *ts);

#endif
