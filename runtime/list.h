/* Lists: a growable array of values. */
#ifndef GV_LIST_H
#define GV_LIST_H

#include "object.h"

typedef struct GvList {
    GvObject ob;
    GvTracked link; /* on the interpreter's container list */
    size_t size, cap;
    GvValue *items; /* strong references */
} GvList;

GvObject *gv_list_new(size_t cap);
/* Appends a new reference to v (v is borrowed). */
int gv_list_append(GvList *l, GvValue v);
/* Steals v: for building lists from the stack without refcount traffic. */
int gv_list_append_steal(GvList *l, GvValue v);
/* Index with Python's negative-index rule; IndexError out of range.
 * gv_list_get returns a new reference in *out. */
int gv_list_get(GvList *l, int64_t i, GvValue *out);
int gv_list_set(GvList *l, int64_t i, GvValue v);
GvObject *gv_list_concat(GvList *a, GvList *b);
void gv_list_clear(GvList *l); /* drops every item (breaks cycles at exit) */

static inline GvList *gv_as_list(GvValue v) { return (GvList *)v.as.o; }

#endif
