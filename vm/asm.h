/* The assembler: .gva text to code objects (the language: docs/LANGUAGE.md). */
#ifndef GV_ASM_H
#define GV_ASM_H

#include "../runtime/code.h"
#include "gilvm.h"

/* Assembles `len` bytes of source. On success returns a program whose code
 * objects are NOT yet verified (call gv_verify_program). On failure returns
 * NULL and fills *diag with the first error: "FILE:LINE:COL: error: ...".
 * Never raises a VM exception (a MemoryError becomes a diagnostic). */
GvProgram *gv_assemble(const char *src, size_t len, const char *filename, GvDiag *diag);

#endif
