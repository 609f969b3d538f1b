/* Load-time diagnostics: the first error found while assembling, loading or
 * verifying a program, with its position. */
#ifndef GV_DIAG_H
#define GV_DIAG_H

#include "gilvm.h"

/* Records an error. line 0 means "no source position": the text is then
 * "FILE: error: message". Only the first call on a GvDiag counts. */
void gv_diag_set(GvDiag *d, const char *file, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
