/* Lists: a growable array of strong references. */
#include "list.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "tstate.h"

GvObject *gv_list_new(size_t cap) {
    GvList *l = (GvList *)gv_object_new(GV_KLIST, sizeof(GvList));
    if (!l) return NULL;
    if (cap) {
        l->items = gv_calloc(cap, sizeof(GvValue));
        if (!l->items) {
            gv_free(l);
            return NULL;
        }
        l->cap = cap;
    }
    gv_track(&l->link);
    l->ob.flags |= GV_OBJ_TRACKED;
    return &l->ob;
}

/* Room for one more item; grows by half again so appends stay amortized O(1). */
static int grow(GvList *l) {
    if (l->size < l->cap) return 0;
    size_t cap = l->cap < 4 ? 4 : l->cap + l->cap / 2;
    if (cap > SIZE_MAX / sizeof(GvValue)) return gv_err_nomemory();
    GvValue *items = gv_realloc(l->items, cap * sizeof(GvValue));
    if (!items) return -1;
    l->items = items;
    l->cap = cap;
    return 0;
}

int gv_list_append_steal(GvList *l, GvValue v) {
    if (grow(l) < 0) {
        gv_vdecref(v);
        return -1;
    }
    l->items[l->size++] = v;
    return 0;
}

int gv_list_append(GvList *l, GvValue v) { return gv_list_append_steal(l, gv_vincref(v)); }

/* Python's index rule: negative counts from the end. -1 if out of range. */
static int64_t normalize(GvList *l, int64_t i) {
    int64_t n = (int64_t)l->size;
    if (i < 0) i += n;
    return i >= 0 && i < n ? i : -1;
}

int gv_list_get(GvList *l, int64_t i, GvValue *out) {
    int64_t k = normalize(l, i);
    if (k < 0) return gv_err_format(&gv_type_IndexError, "list index out of range");
    *out = gv_vincref(l->items[k]);
    return 0;
}

int gv_list_set(GvList *l, int64_t i, GvValue v) {
    int64_t k = normalize(l, i);
    if (k < 0) return gv_err_format(&gv_type_IndexError, "list assignment index out of range");
    GvValue old = l->items[k];
    l->items[k] = gv_vincref(v);
    gv_vdecref(old); /* last: freeing old must see the list already updated */
    return 0;
}

GvObject *gv_list_concat(GvList *a, GvList *b) {
    size_t na = a->size, nb = b->size;
    if (na > SIZE_MAX / sizeof(GvValue) - nb) {
        gv_err_nomemory();
        return NULL;
    }
    GvList *r = (GvList *)gv_list_new(na + nb);
    if (!r) return NULL;
    for (size_t i = 0; i < na; i++) r->items[i] = gv_vincref(a->items[i]);
    for (size_t i = 0; i < nb; i++) r->items[na + i] = gv_vincref(b->items[i]);
    r->size = na + nb;
    return &r->ob;
}

/* Takes the items out before dropping them: a destructor that runs from here
 * may reach this very list (even free it, when it closes a cycle), so the
 * list must already be empty, and is not touched afterwards. */
void gv_list_clear(GvList *l) {
    GvValue *items = l->items;
    size_t n = l->size;
    l->items = NULL;
    l->size = l->cap = 0;
    for (size_t i = 0; i < n; i++) gv_vdecref(items[i]);
    gv_free(items);
}

/* Called only by gv_dealloc, which has already untracked the list. */
void gv_list_dealloc(GvObject *o) {
    GvList *l = (GvList *)o;
    GvValue *items = l->items;
    size_t n = l->size;
    gv_free(l);
    for (size_t i = 0; i < n; i++) gv_vdecref(items[i]);
    gv_free(items);
}
