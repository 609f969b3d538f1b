/* The quickener: prepares verified code for the eval loop. */
#ifndef GV_QUICKEN_H
#define GV_QUICKEN_H

#include "../runtime/code.h"

/* Makes code->quick (a copy of code->instrs with superinstructions written
 * over the first word of each common sequence that is safe to fuse) and
 * code->gcache. Call once, after verification. 0, or -1 with MemoryError. */
int gv_quicken(GvCode *code);
int gv_quicken_program(GvProgram *p);

#endif
