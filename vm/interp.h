/* Several interpreters inside vm/: making one, ending one, and what the
 * builtins (vm/builtins_interp.c) and the lifecycle (vm/api.c) share. */
#ifndef GV_VM_INTERP_H
#define GV_VM_INTERP_H

#include "../runtime/tstate.h"

/* Makes an interpreter (main: the runtime's first) with a thread state for
 * the calling thread, bound, attached, current, with globals and builtins.
 * NULL if out of memory (nothing left behind). */
GvThreadState *gv_interp_create(GvInterpreterState *interp);
/* What every interpreter's end does before its threads are shut down, on
 * its main thread, GIL held: waits for the interpreters its program started
 * (interruptible: then they are abandoned to run on), then closes it to new
 * guards and waits, GIL released, for the held ones to be closed. */
void gv_interp_before_finalize(GvThreadState *ts);
/* Frees interp after gv_threads_shutdown (all_gone: every other thread is
 * gone; otherwise the memory is left, as a thread may still wake up in it).
 * ts is its main thread, current; afterwards nothing is current. */
void gv_interp_teardown(GvThreadState *ts, bool all_gone);
/* Keeps a copy of the program for interp_start (GvProgram_Run). 0 or -1
 * (MemoryError). */
int gv_interp_keep_program(GvInterpreterState *interp, const GvProgram *program);

/* Interpreters a program started and that have not ended, per creator:
 * counted so that their creator's end waits for them. _add counts one more
 * (-1 once the creator's end stopped waiting: nothing may start); _done
 * counts one less, if the creator (creator_id: the record may be freed and
 * its address reused) still exists: its end may have given up waiting
 * (Ctrl-C), and then nothing of it may be touched. */
int gv_interp_children_add(GvInterpreterState *creator);
void gv_interp_children_done(GvInterpreterState *creator, int64_t creator_id);
int gv_builtins_interp_install(GvInterpreterState *interp);

#endif
