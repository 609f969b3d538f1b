/* Internal to the public API's files (vm/api*.c): the checks every entry
 * point makes. The API is split by concern: api.c (these checks, version,
 * lifecycle), api_tstate.c (thread states, the GIL, GILState), api_services.c
 * (thread dicts, asynchronous exceptions, pending calls, hooks, signals),
 * api_program.c (loading and running programs), api_errors.c (exceptions,
 * recursion limit, references). Each checks its arguments and calls the
 * runtime or the VM: none keeps bookkeeping of its own. */
#ifndef GV_API_H
#define GV_API_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/dict.h"
#include "../runtime/errors.h"
#include "../runtime/func.h"
#include "../runtime/list.h"
#include "../runtime/str.h"
#include "../runtime/breaker.h"
#include "../runtime/services.h"
#include "../runtime/thread.h"
#include "../runtime/timeline.h"
#include "asm.h"
#include "builtins.h"
#include "bytecode.h"
#include "diag.h"
#include "dis.h"
#include "eval.h"
#include "quicken.h"
#include "verify.h"

/* Misuse that cannot be reported as an exception (no GIL, no thread state, a
 * NULL where nothing could be meant) ends the process with a message naming
 * the function, as CPython's Py_FatalError does: never a silent return, never
 * a crash somewhere later. */
_Noreturn void gv_api_fatal(const char *fn, const char *why);
/* Does the calling thread, whose current thread state is ts, hold the GIL? */
bool gv_api_holds_gil(GvThreadState *ts);
/* The calling thread's current thread state, when the thread holds the GIL;
 * a fatal error naming fn otherwise. */
GvThreadState *gv_api_need_gil(const char *fn);
/* Sets TypeError for a NULL argument of a function that reports errors as
 * exceptions; returns -1. */
int gv_api_null_arg(const char *fn, const char *what);

/* Values across the API (api_values.c). An int, float, bool or none is no
 * heap object inside the VM; C gets a box for it (or an immortal none, true,
 * false). gv_api_value is the VM's value for a public reference (borrowed:
 * unboxed, or the object itself); gv_api_export turns a value the caller
 * owns into a public reference (steals it; NULL with MemoryError). Every
 * call that takes a GvObject* from an embedder reads it with gv_api_value,
 * so that no box ever reaches a program. */
GvValue gv_api_value(GvObject *o);
GvObject *gv_api_export(GvValue v);
/* Defines the program's functions as globals of ts's interpreter
 * (api_call.c): GvProgram_Exec, and GvProgram_Run before main. */
int gv_api_define_functions(GvThreadState *ts, GvProgram *program);

#endif
