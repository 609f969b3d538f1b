/* Load-time diagnostics.
 *
 * A GvDiag carries no "set" flag: a non-empty text means an error is already
 * recorded, so a GvDiag must start zeroed. The loading entry points
 * (gv_assemble, ...) clear the one they are given before they start. */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void gv_diag_set(GvDiag *d, const char *file, unsigned line, unsigned col, const char *fmt, ...) {
    if (!d || d->text[0] != '\0') return; /* the first error is the one reported */
    if (!file) file = "<input>";

    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(d->message, sizeof d->message, fmt, ap);
    va_end(ap);
    if (n < 0) snprintf(d->message, sizeof d->message, "error");

    d->line = line;
    d->col = line ? col : 0;
    /* Longer texts are cut, never overflowed. A known line with no known
     * column prints as a compiler does: FILE:LINE: error: ... */
    if (line && col)
        snprintf(d->text, sizeof d->text, "%s:%u:%u: error: %s", file, line, col, d->message);
    else if (line)
        snprintf(d->text, sizeof d->text, "%s:%u: error: %s", file, line, d->message);
    else
        snprintf(d->text, sizeof d->text, "%s: error: %s", file, d->message);
}
