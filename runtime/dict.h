/* Dicts: insertion-ordered hash tables (a dense entry array plus an open-
 * addressing index, the layout CPython has used since 3.6). Keys are int,
 * float, bool, str or none; 1, 1.0 and true are the same key. */
#ifndef GV_DICT_H
#define GV_DICT_H

#include "object.h"

typedef struct GvDictEntry {
    uint64_t hash;
    GvValue key;   /* strong; tag GV_TNONE with `deleted` set marks a hole */
    GvValue value; /* strong */
    bool deleted;
} GvDictEntry;

typedef struct GvDict {
    GvObject ob;
    GvTracked link;
    uint64_t version; /* changes on every insert, update, delete or clear (starts at 1):
                         lets a cache know cheaply that nothing changed */
    size_t used;      /* live entries */
    size_t nentries;  /* entries[] slots in use, holes included */
    size_t cap;       /* entries[] capacity */
    size_t index_cap; /* power of two; 0 when empty */
    int64_t *index;   /* -1 empty, -2 dummy, else position in entries */
    GvDictEntry *entries;
} GvDict;

GvObject *gv_dict_new(void);
/* Lookup: returns 1 and a new reference in *out if found, 0 if not, -1 on
 * error (unhashable key: TypeError). */
int gv_dict_get(GvDict *d, GvValue key, GvValue *out);
/* Same, for a str key whose hash is cached: the fast path for globals. */
int gv_dict_get_str(GvDict *d, GvObject *key, GvValue *out);
int gv_dict_set(GvDict *d, GvValue key, GvValue value); /* borrows both */
/* Returns 1 if removed, 0 if absent, -1 on error. */
int gv_dict_del(GvDict *d, GvValue key);
void gv_dict_clear(GvDict *d);
/* Iteration in insertion order: i starts at 0; returns false at the end.
 * key/value are borrowed. */
bool gv_dict_next(GvDict *d, size_t *i, GvValue *key, GvValue *value);

static inline GvDict *gv_as_dict(GvValue v) { return (GvDict *)v.as.o; }

#endif
