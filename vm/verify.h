/* The verifier: proves a code object safe to run before anything runs.
 * Checks, on every reachable path: operands in range for their kind; jumps
 * land on instructions inside the function; the stack never underflows and
 * has the same depth wherever paths meet; no path falls off the end;
 * exception ranges lie inside the function, nest properly, and their
 * handlers are entered with a consistent depth; POP_EXCEPT only inside a
 * handler. Fills code->max_stack and each exception entry's depth and
 * exc_depth, then sets code->verified. */
#ifndef GV_VERIFY_H
#define GV_VERIFY_H

#include "../runtime/code.h"
#include "gilvm.h"

int gv_verify_code(GvCode *code, GvDiag *diag);
int gv_verify_program(GvProgram *p, GvDiag *diag);

#endif
