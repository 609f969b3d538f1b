/* Dicts: insertion-ordered hash tables.
 *
 * Entries live in a dense array in insertion order (iteration walks it), and
 * a separate open-addressing index maps hash slots to entry positions. The
 * index is sized so that at most 2/3 of its slots are ever in use: the entry
 * array's capacity is 2/3 of the index's, and every slot an entry ever took
 * (live, or a dummy left by a deletion) corresponds to a slot of the entry
 * array until the next resize compacts both. Probing is linear; the hashes
 * (object.c, str.c) are mixed so that consecutive ints do not cluster.
 *
 * A deleted entry stays in the array as a hole (its key set to none, deleted
 * set) until the table is rebuilt, so positions held by the index stay valid. */
#include "dict.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "str.h"
#include "tstate.h"

#define EMPTY (-1)
#define DUMMY (-2)
#define MIN_INDEX 8

GvObject *gv_dict_new(void) {
    GvDict *d = (GvDict *)gv_object_new(GV_KDICT, sizeof(GvDict));
    if (!d) return NULL;
    d->version = 1;
    gv_track(&d->link);
    d->ob.flags |= GV_OBJ_TRACKED;
    return &d->ob;
}

/* Key equality for the hashable kinds (never fails): 1 == 1.0 == true. */
static bool key_eq(GvValue a, GvValue b) {
    if (a.tag == b.tag && (a.tag == GV_TINT || a.tag == GV_TBOOL)) return a.as.i == b.as.i;
    if (gv_is_kind(a, GV_KSTR) && gv_is_kind(b, GV_KSTR))
        return gv_str_equal(gv_as_str(a), gv_as_str(b));
    return gv_equal(a, b) == 1;
}

/* Looks for key. Returns its entry position, or -1 when absent, with *slot
 * set to the index slot holding it, or else to where it should go (the first
 * dummy met, or the empty slot that ended the probe). */
static int64_t find(GvDict *d, GvValue key, uint64_t hash, size_t *slot) {
    size_t mask = d->index_cap - 1;
    size_t i = (size_t)hash & mask;
    size_t free_slot = SIZE_MAX;
    for (;;) {
        int64_t ix = d->index[i];
        if (ix == EMPTY) {
            *slot = free_slot != SIZE_MAX ? free_slot : i;
            return -1;
        }
        if (ix == DUMMY) {
            if (free_slot == SIZE_MAX) free_slot = i;
        } else {
            GvDictEntry *e = &d->entries[ix];
            if (e->hash == hash && key_eq(e->key, key)) {
                *slot = i;
                return ix;
            }
        }
        i = (i + 1) & mask;
    }
}

/* Rebuilds the table with room for `need` more entries past the live ones,
 * dropping holes. On failure the dict is unchanged. */
static int rebuild(GvDict *d, size_t need) {
    size_t target = d->used + need;
    if (target < d->used || target > SIZE_MAX / 4 / sizeof(GvDictEntry)) return gv_err_nomemory();
    target += target; /* grow by double so that inserts stay amortized O(1) */
    size_t index_cap = MIN_INDEX;
    while (index_cap / 3 * 2 < target) index_cap *= 2;
    size_t cap = index_cap / 3 * 2;
    int64_t *index = gv_malloc(index_cap * sizeof *index);
    if (!index) return -1;
    GvDictEntry *entries = gv_malloc(cap * sizeof *entries);
    if (!entries) {
        gv_free(index);
        return -1;
    }
    for (size_t i = 0; i < index_cap; i++) index[i] = EMPTY;
    size_t mask = index_cap - 1, n = 0;
    for (size_t k = 0; k < d->nentries; k++) {
        GvDictEntry *e = &d->entries[k];
        if (e->deleted) continue;
        entries[n] = *e;
        size_t i = (size_t)e->hash & mask;
        while (index[i] != EMPTY) i = (i + 1) & mask;
        index[i] = (int64_t)n;
        n++;
    }
    gv_free(d->index);
    gv_free(d->entries);
    d->index = index;
    d->entries = entries;
    d->index_cap = index_cap;
    d->cap = cap;
    d->nentries = n;
    return 0;
}

int gv_dict_get(GvDict *d, GvValue key, GvValue *out) {
    uint64_t h;
    if (gv_hash(key, &h) < 0) return -1;
    if (d->used == 0) return 0;
    size_t slot;
    int64_t ix = find(d, key, h, &slot);
    if (ix < 0) return 0;
    *out = gv_vincref(d->entries[ix].value);
    return 1;
}

int gv_dict_get_str(GvDict *d, GvObject *key, GvValue *out) {
    GvStr *k = (GvStr *)key;
    uint64_t h = gv_str_hash(k);
    if (d->used == 0) return 0;
    size_t mask = d->index_cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        int64_t ix = d->index[i];
        if (ix == EMPTY) return 0;
        if (ix == DUMMY) continue;
        GvDictEntry *e = &d->entries[ix];
        if (e->hash == h && gv_is_kind(e->key, GV_KSTR) &&
            (e->key.as.o == key || gv_str_equal(gv_as_str(e->key), k))) {
            *out = gv_vincref(e->value);
            return 1;
        }
    }
}

int gv_dict_set(GvDict *d, GvValue key, GvValue value) {
    uint64_t h;
    if (gv_hash(key, &h) < 0) return -1;
    size_t slot;
    if (d->index_cap) {
        int64_t ix = find(d, key, h, &slot);
        if (ix >= 0) {
            /* The first key stays (d[1] then d[1.0] keeps 1), as in Python. */
            GvValue old = d->entries[ix].value;
            d->entries[ix].value = gv_vincref(value);
            d->version++;
            gv_vdecref(old);
            return 0;
        }
    }
    if (d->nentries == d->cap) {
        if (rebuild(d, 1) < 0) return -1;
        find(d, key, h, &slot);
    }
    GvDictEntry *e = &d->entries[d->nentries];
    e->hash = h;
    e->key = gv_vincref(key);
    e->value = gv_vincref(value);
    e->deleted = false;
    d->index[slot] = (int64_t)d->nentries;
    d->nentries++;
    d->used++;
    d->version++;
    return 0;
}

int gv_dict_del(GvDict *d, GvValue key) {
    uint64_t h;
    if (gv_hash(key, &h) < 0) return -1;
    if (d->used == 0) return 0;
    size_t slot;
    int64_t ix = find(d, key, h, &slot);
    if (ix < 0) return 0;
    GvDictEntry *e = &d->entries[ix];
    GvValue k = e->key, v = e->value;
    e->key = gv_none();
    e->value = gv_none();
    e->deleted = true;
    d->index[slot] = DUMMY;
    d->used--;
    d->version++;
    /* Last, once the dict is consistent: freeing them may run other frees. */
    gv_vdecref(k);
    gv_vdecref(v);
    return 1;
}

/* Drops every live entry of an array that is no longer the dict's. */
static void drop_entries(GvDictEntry *entries, size_t n) {
    for (size_t k = 0; k < n; k++) {
        if (entries[k].deleted) continue;
        gv_vdecref(entries[k].key);
        gv_vdecref(entries[k].value);
    }
    gv_free(entries);
}

/* Empties the dict before dropping anything: a destructor running from here
 * may reach this dict (or free it, closing a cycle), so d is not touched
 * after the entries are taken out. */
void gv_dict_clear(GvDict *d) {
    GvDictEntry *entries = d->entries;
    size_t n = d->nentries;
    gv_free(d->index);
    d->index = NULL;
    d->entries = NULL;
    d->used = d->nentries = d->cap = d->index_cap = 0;
    d->version++;
    drop_entries(entries, n);
}

bool gv_dict_next(GvDict *d, size_t *i, GvValue *key, GvValue *value) {
    while (*i < d->nentries) {
        GvDictEntry *e = &d->entries[(*i)++];
        if (e->deleted) continue;
        *key = e->key;
        *value = e->value;
        return true;
    }
    return false;
}

/* Called only by gv_dealloc, which has already untracked the dict. */
void gv_dict_dealloc(GvObject *o) {
    GvDict *d = (GvDict *)o;
    GvDictEntry *entries = d->entries;
    size_t n = d->nentries;
    gv_free(d->index);
    gv_free(d);
    drop_entries(entries, n);
}
