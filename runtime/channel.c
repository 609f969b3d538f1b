/* Copies between interpreters, cross-interpreter waits, and channels (see
 * channel.h for the protocol). */
#include "channel.h"

#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "errors.h"
#include "list.h"
#include "str.h"
#include "wait.h"

/* ---- shareable values ---- */

enum { SH_NONE, SH_BOOL, SH_INT, SH_FLOAT, SH_STR, SH_LIST, SH_DICT };

struct GvShared {
    int tag;
    size_t n;           /* str: bytes; list: items; dict: pairs */
    union {
        int64_t i;
        double f;
        char *s;
        GvShared **kids; /* list: n; dict: 2n (key, value, ...) */
    } as;
};

/* A nesting deeper than this is refused like a cycle would be: copying
 * recurses, and a cycle is nesting without end. */
#define SHARE_DEPTH_MAX 200

typedef struct Path {
    GvObject *o;
    const struct Path *outer;
} Path;

static int not_shareable(const char *what, GvValue v) {
    return gv_err_format(&gv_type_TypeError, "%s cannot be copied to another interpreter: %s is not shareable", what,
                         gv_type_name(v));
}

static int share(GvValue v, const char *what, const Path *path, int depth, GvShared **out) {
    GvShared *s = calloc(1, sizeof *s);
    if (!s) return gv_err_nomemory();
    *out = s;
    switch ((GvTag)v.tag) {
    case GV_TNONE: s->tag = SH_NONE; return 0;
    case GV_TBOOL: s->tag = SH_BOOL; s->as.i = v.as.i; return 0;
    case GV_TINT: s->tag = SH_INT; s->as.i = v.as.i; return 0;
    case GV_TFLOAT: s->tag = SH_FLOAT; s->as.f = v.as.f; return 0;
    case GV_TOBJ: break;
    }
    GvObject *o = v.as.o;
    if (o->kind == GV_KSTR) {
        GvStr *str = (GvStr *)o;
        s->tag = SH_STR;
        s->as.s = malloc(str->size + 1);
        if (!s->as.s) return gv_err_nomemory();
        memcpy(s->as.s, str->data, str->size + 1);
        s->n = str->size;
        return 0;
    }
    if (o->kind != GV_KLIST && o->kind != GV_KDICT) {
        s->tag = SH_NONE;
        return not_shareable(what, v);
    }
    for (const Path *p = path; p; p = p->outer)
        if (p->o == o) {
            s->tag = SH_NONE;
            return gv_err_format(&gv_type_TypeError, "%s cannot be copied to another interpreter: the %s contains itself",
                                 what, gv_type_name(v));
        }
    if (depth >= SHARE_DEPTH_MAX) {
        s->tag = SH_NONE;
        return gv_err_format(&gv_type_TypeError, "%s cannot be copied to another interpreter: nested too deeply", what);
    }
    Path here = {o, path};
    bool list = o->kind == GV_KLIST;
    size_t n = list ? ((GvList *)o)->size : ((GvDict *)o)->used;
    s->tag = list ? SH_LIST : SH_DICT;
    s->as.kids = calloc(n ? (list ? n : 2 * n) : 1, sizeof *s->as.kids);
    if (!s->as.kids) {
        s->tag = SH_NONE;
        return gv_err_nomemory();
    }
    /* Filled one by one, s->n counting what is there, so that a failure
     * midway frees exactly what was made. No code runs while copying (no
     * __eq__, no destructor), so the container cannot change under us. */
    if (list) {
        for (size_t i = 0; i < n; i++) {
            int rc = share(((GvList *)o)->items[i], what, &here, depth + 1, &s->as.kids[i]);
            s->n = i + 1;
            if (rc < 0) return -1;
        }
        return 0;
    }
    size_t it = 0, k = 0;
    GvValue key, val;
    while (k < n && gv_dict_next((GvDict *)o, &it, &key, &val)) {
        int rc = share(key, what, &here, depth + 1, &s->as.kids[2 * k]);
        if (rc == 0) rc = share(val, what, &here, depth + 1, &s->as.kids[2 * k + 1]);
        s->n = ++k;
        if (rc < 0) return -1;
    }
    s->n = k;
    return 0;
}

int gv_shared_from(GvValue v, const char *what, GvShared **out) {
    *out = NULL;
    GvShared *s = NULL;
    if (share(v, what, NULL, 0, &s) < 0) {
        gv_shared_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void gv_shared_free(GvShared *s) {
    if (!s) return;
    if (s->tag == SH_STR) free(s->as.s);
    if (s->tag == SH_LIST || s->tag == SH_DICT) {
        size_t n = s->tag == SH_LIST ? s->n : 2 * s->n;
        for (size_t i = 0; i < n; i++) gv_shared_free(s->as.kids[i]);
        free(s->as.kids);
    }
    free(s);
}

int gv_shared_to(const GvShared *s, GvValue *out) {
    switch (s->tag) {
    case SH_NONE: *out = gv_none(); return 0;
    case SH_BOOL: *out = gv_bool(s->as.i != 0); return 0;
    case SH_INT: *out = gv_int(s->as.i); return 0;
    case SH_FLOAT: *out = gv_float(s->as.f); return 0;
    case SH_STR: {
        GvObject *o = gv_str_new(s->as.s, s->n);
        if (!o) return -1;
        *out = gv_obj(o);
        return 0;
    }
    case SH_LIST: {
        GvObject *l = gv_list_new(s->n);
        if (!l) return -1;
        for (size_t i = 0; i < s->n; i++) {
            GvValue v;
            if (gv_shared_to(s->as.kids[i], &v) < 0 || gv_list_append_steal((GvList *)l, v) < 0) {
                gv_decref(l);
                return -1;
            }
        }
        *out = gv_obj(l);
        return 0;
    }
    default: {
        GvObject *d = gv_dict_new();
        if (!d) return -1;
        for (size_t i = 0; i < s->n; i++) {
            GvValue k, v;
            if (gv_shared_to(s->as.kids[2 * i], &k) < 0) {
                gv_decref(d);
                return -1;
            }
            if (gv_shared_to(s->as.kids[2 * i + 1], &v) < 0) {
                gv_vdecref(k);
                gv_decref(d);
                return -1;
            }
            int rc = gv_dict_set((GvDict *)d, k, v);
            gv_vdecref(k);
            gv_vdecref(v);
            if (rc < 0) {
                gv_decref(d);
                return -1;
            }
        }
        *out = gv_obj(d);
        return 0;
    }
    }
}

/* ---- cross-interpreter events ---- */

/* One interpreter's waiters on one event. */
struct GvXEntry {
    GvInterpreterState *interp;
    GvWaitQueue queue; /* under interp->mutex, as gv_wait wants */
    int refs;          /* threads of interp between prepare and the end of wait; under ev->mutex */
    GvXEntry *next;
};

/* Every event, so that an interpreter's entries can be removed when it is
 * freed. Lock order: registry, then an event's mutex. */
static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static GvXEvent *registry;

void gv_xevent_init(GvXEvent *ev) {
    memset(ev, 0, sizeof *ev);
    pthread_mutex_init(&ev->mutex, NULL);
    pthread_mutex_lock(&registry_mutex);
    ev->reg_next = registry;
    if (registry) registry->reg_prev = ev;
    registry = ev;
    pthread_mutex_unlock(&registry_mutex);
}

void gv_xevent_destroy(GvXEvent *ev) {
    pthread_mutex_lock(&registry_mutex);
    if (ev->reg_prev) ev->reg_prev->reg_next = ev->reg_next;
    else registry = ev->reg_next;
    if (ev->reg_next) ev->reg_next->reg_prev = ev->reg_prev;
    pthread_mutex_unlock(&registry_mutex);
    while (ev->entries) {
        GvXEntry *e = ev->entries;
        ev->entries = e->next;
        free(e);
    }
    pthread_mutex_destroy(&ev->mutex);
}

int gv_xevent_prepare(GvXEvent *ev, GvThreadState *ts, GvXWait *w) {
    GvXEntry *e = ev->entries;
    while (e && e->interp != ts->interp) e = e->next;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e) return gv_err_nomemory();
        e->interp = ts->interp;
        e->next = ev->entries;
        ev->entries = e;
    }
    e->refs++;
    w->ev = ev;
    w->entry = e;
    w->seen = atomic_load(&ev->seq);
    return 0;
}

static bool seq_moved(void *obj) {
    GvXWait *w = obj;
    return atomic_load(&w->ev->seq) != w->seen;
}

int gv_xevent_wait(GvThreadState *ts, GvXWait *w, double timeout) {
    GvWaitSpec spec = {.queue = &w->entry->queue, .ready = seq_moved, .obj = w, .timeout = timeout};
    int rc = gv_wait(ts, &spec);
    GvXEvent *ev = w->ev;
    pthread_mutex_lock(&ev->mutex);
    for (GvXEntry **p = &ev->entries; *p; p = &(*p)->next) {
        if (*p != w->entry) continue;
        if (--w->entry->refs == 0) {
            /* Nobody of this interpreter waits here now: the queue is
             * empty (gv_wait leaves it on every return). */
            *p = w->entry->next;
            free(w->entry);
        }
        break;
    }
    pthread_mutex_unlock(&ev->mutex);
    return rc;
}

void gv_xevent_changed_locked(GvXEvent *ev) {
    atomic_fetch_add(&ev->seq, 1);
    for (GvXEntry *e = ev->entries; e; e = e->next) {
        pthread_mutex_lock(&e->interp->mutex);
        gv_wake_all(&e->queue);
        pthread_mutex_unlock(&e->interp->mutex);
    }
}

void gv_xevents_forget(GvInterpreterState *interp) {
    pthread_mutex_lock(&registry_mutex);
    for (GvXEvent *ev = registry; ev; ev = ev->reg_next) {
        pthread_mutex_lock(&ev->mutex);
        for (GvXEntry **p = &ev->entries; *p;) {
            GvXEntry *e = *p;
            if (e->interp == interp) {
                *p = e->next;
                free(e);
            } else {
                p = &e->next;
            }
        }
        pthread_mutex_unlock(&ev->mutex);
    }
    pthread_mutex_unlock(&registry_mutex);
}

/* ---- channels ---- */

typedef struct Item {
    GvShared *value;
    struct Item *next;
} Item;

typedef struct Channel {
    GvXEvent ev; /* its mutex guards the items */
    Item *head, *tail;
} Channel;

/* The process's channels, by id - 1. They live as long as the process:
 * an id any interpreter may hold must not come to mean another channel. */
static pthread_mutex_t chans_mutex = PTHREAD_MUTEX_INITIALIZER;
static Channel **chans;
static int64_t nchans, capchans;

int64_t gv_chan_new(void) {
    Channel *c = calloc(1, sizeof *c);
    if (!c) return gv_err_nomemory();
    pthread_mutex_lock(&chans_mutex);
    if (nchans == capchans) {
        int64_t ncap = capchans ? 2 * capchans : 16;
        Channel **n = realloc(chans, (size_t)ncap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&chans_mutex);
            free(c);
            return gv_err_nomemory();
        }
        chans = n;
        capchans = ncap;
    }
    gv_xevent_init(&c->ev);
    chans[nchans++] = c;
    int64_t id = nchans;
    pthread_mutex_unlock(&chans_mutex);
    return id;
}

static Channel *find(int64_t id) {
    pthread_mutex_lock(&chans_mutex);
    Channel *c = id >= 1 && id <= nchans ? chans[id - 1] : NULL;
    pthread_mutex_unlock(&chans_mutex);
    if (!c) gv_err_format(&gv_type_ValueError, "%lld is not a channel", (long long)id);
    return c;
}

int gv_chan_put(int64_t id, GvShared *s) {
    Channel *c = find(id);
    Item *it = c ? malloc(sizeof *it) : NULL;
    if (!it) {
        gv_shared_free(s);
        return c ? gv_err_nomemory() : -1;
    }
    it->value = s;
    it->next = NULL;
    pthread_mutex_lock(&c->ev.mutex);
    if (c->tail) c->tail->next = it;
    else c->head = it;
    c->tail = it;
    gv_xevent_changed_locked(&c->ev);
    pthread_mutex_unlock(&c->ev.mutex);
    return 0;
}

int gv_chan_get(GvThreadState *ts, int64_t id, double timeout, GvValue *out) {
    Channel *c = find(id);
    if (!c) return -1;
    uint64_t deadline = 0;
    if (timeout >= 0) {
        if (timeout > 1e9) timeout = 1e9; /* as gv_wait: effectively forever, no overflow */
        deadline = gv_clock_now(ts) + (uint64_t)(timeout * 1e9);
    }
    for (;;) {
        pthread_mutex_lock(&c->ev.mutex);
        Item *it = c->head;
        if (it) {
            c->head = it->next;
            if (!c->head) c->tail = NULL;
            pthread_mutex_unlock(&c->ev.mutex);
            /* Copied in after it left the channel: if the copy fails
             * (MemoryError), the value is lost with the exception, as an
             * item taken by a get that then fails. */
            int rc = gv_shared_to(it->value, out);
            gv_shared_free(it->value);
            free(it);
            return rc < 0 ? -1 : 1;
        }
        double left = -1;
        if (deadline) {
            uint64_t now = gv_clock_now(ts);
            if (now >= deadline) {
                pthread_mutex_unlock(&c->ev.mutex);
                return 0;
            }
            left = (double)(deadline - now) / 1e9;
        }
        GvXWait w;
        int rc = gv_xevent_prepare(&c->ev, ts, &w);
        pthread_mutex_unlock(&c->ev.mutex);
        if (rc < 0) return -1;
        rc = gv_xevent_wait(ts, &w, left);
        if (rc < 0) return -1;
        if (rc == 0 && timeout == 0) return 0;
    }
}
