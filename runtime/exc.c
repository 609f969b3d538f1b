/* Exception types, instances, tracebacks, and printing them. */
#include "exc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "str.h"

#define GV_IMMORTAL {.refcnt = INT64_MAX / 2, .kind = GV_KTYPE, .flags = GV_OBJ_STATIC}

/* exc.h declares every type first, so a base may be named before its definition. */
#define GV_DEFINE_TYPE(name, base) GvType gv_type_##name = {GV_IMMORTAL, #name, base};
GV_EXC_TYPES(GV_DEFINE_TYPE)
#undef GV_DEFINE_TYPE

static GvType *const all_types[] = {
#define GV_TYPE_PTR(name, base) &gv_type_##name,
    GV_EXC_TYPES(GV_TYPE_PTR)
#undef GV_TYPE_PTR
};

GvType *const *gv_exc_all_types(size_t *count) {
    *count = sizeof all_types / sizeof all_types[0];
    return all_types;
}

/* The public names (include/gilvm.h). */
#define GV_PUBLIC_TYPE(name, base) GvObject *const GvExc_##name = &gv_type_##name.ob;
GV_EXC_TYPES(GV_PUBLIC_TYPE)
#undef GV_PUBLIC_TYPE

bool gv_type_is_subtype(const GvType *t, const GvType *base) {
    for (; t; t = t->base)
        if (t == base) return true;
    return false;
}

GvObject *gv_exc_new(GvType *type, GvObject *message, GvValue arg) {
    GvException *e = (GvException *)gv_object_new(GV_KEXC, sizeof(GvException));
    if (!e) return NULL;
    e->type = type;
    e->message = message;
    if (message) gv_incref(message);
    e->arg = gv_vincref(arg);
    return &e->ob;
}

void gv_exc_dealloc(GvObject *o) {
    GvException *e = (GvException *)o;
    /* Called from gv_dealloc's trashcan: an arg or context that dies here is
     * queued, not freed in a nested call, so chains do not recurse. */
    gv_xdecref(e->message);
    gv_vdecref(e->arg);
    gv_xdecref(e->context);
    if (e->traceback) gv_decref(&e->traceback->ob);
    gv_free(e);
}

void gv_exc_add_traceback(GvException *e, GvCode *code, uint32_t pc) {
    if (e->ob.flags & GV_OBJ_STATIC) return;
    /* A failed allocation sets MemoryError, which would replace the exception
     * in flight (often e itself): set it aside meanwhile. A shorter
     * traceback is the lesser loss. */
    GvThreadState *ts = gv_tstate_get();
    GvObject *in_flight = ts ? gv_err_take(ts) : NULL;
    GvTraceback *tb = (GvTraceback *)gv_object_new(GV_KTRACEBACK, sizeof(GvTraceback));
    if (ts) {
        gv_err_clear(ts);
        ts->current_exception = in_flight;
    }
    if (!tb) return;
    tb->code = code;
    gv_incref(&code->ob);
    tb->pc = pc;
    tb->next = e->traceback; /* steals e's reference */
    e->traceback = tb;
}

void gv_traceback_dealloc(GvObject *o) {
    /* Iterative: a traceback of a million frames must not recurse. */
    GvTraceback *tb = (GvTraceback *)o;
    while (tb) {
        GvTraceback *next = tb->next;
        gv_decref(&tb->code->ob);
        gv_free(tb);
        if (!next || --next->ob.refcnt > 0) break;
        tb = next;
    }
}

/* ---- printing ---- */

/* The text of one source line (without leading blanks), from a file read
 * once per print. */
typedef struct SourceCache {
    const char *name;
    char *text;
    size_t len;
} SourceCache;

static void source_line(SourceCache *sc, const char *file, uint32_t line, char *out, size_t outsz) {
    out[0] = '\0';
    if (line == 0) return;
    if (!sc->name || strcmp(sc->name, file) != 0) {
        free(sc->text);
        sc->text = NULL;
        sc->len = 0;
        sc->name = file;
        FILE *f = fopen(file, "rb");
        if (!f) return;
        /* Only the first 16 MiB: a traceback is no reason to read a huge file. */
        size_t cap = 1 << 16, len = 0;
        char *buf = malloc(cap);
        while (buf) {
            size_t n = fread(buf + len, 1, cap - len, f);
            len += n;
            if (n == 0 || len >= (16u << 20)) break;
            if (len == cap) {
                char *nb = realloc(buf, cap * 2);
                if (!nb) break;
                buf = nb;
                cap *= 2;
            }
        }
        fclose(f);
        sc->text = buf;
        sc->len = buf ? len : 0;
    }
    if (!sc->text) return;
    const char *p = sc->text, *end = sc->text + sc->len;
    for (uint32_t l = 1; l < line && p < end; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) return;
        p = nl + 1;
    }
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const char *e = p;
    while (e < end && *e != '\n' && *e != '\r') e++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
    size_t n = (size_t)(e - p);
    if (n >= outsz) n = outsz - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static void print_message(GvException *e, FILE *f) {
    const char *msg = e->message ? gv_str_cstr(e->message) : "";
    if (*msg)
        fprintf(f, "%s: %s\n", e->type->name, msg);
    else
        fprintf(f, "%s\n", e->type->name);
}

static void print_traceback(GvTraceback *tb, SourceCache *sc, FILE *f) {
    if (!tb) return;
    fprintf(f, "Traceback (most recent call last):\n");
    /* As Python does, a run of identical entries (deep recursion) prints
     * three times and then a count. */
    const GvCode *last_code = NULL;
    uint32_t last_line = 0;
    unsigned long repeats = 0;
    for (; tb; tb = tb->next) {
        uint32_t line = gv_code_line(tb->code, tb->pc);
        if (tb->code == last_code && line == last_line) {
            if (++repeats >= 3) continue;
        } else {
            if (repeats > 2)
                fprintf(f, "  [Previous line repeated %lu more time%s]\n", repeats - 2,
                        repeats - 2 == 1 ? "" : "s");
            repeats = 0;
            last_code = tb->code;
            last_line = line;
        }
        const char *file = tb->code->filename ? gv_str_cstr(tb->code->filename) : "?";
        const char *func = tb->code->name ? gv_str_cstr(tb->code->name) : "?";
        fprintf(f, "  File \"%s\", line %u, in %s\n", file, line, func);
        char src[512];
        source_line(sc, file, line, src, sizeof src);
        if (src[0]) fprintf(f, "    %s\n", src);
    }
    if (repeats > 2)
        fprintf(f, "  [Previous line repeated %lu more time%s]\n", repeats - 2,
                repeats - 2 == 1 ? "" : "s");
}

/* Stands in for the exceptions of a chain that are not printed. */
static void print_omitted(uint64_t n, FILE *f) {
    if (n == GV_CONTEXT_OMITTED_UNKNOWN)
        fprintf(f, "... (older exceptions in the chain not shown) ...\n");
    else
        fprintf(f, "... (%llu more exception%s in the chain not shown) ...\n", (unsigned long long)n,
                n == 1 ? "" : "s");
    fprintf(f, "\nDuring handling of the above exception, another exception occurred:\n\n");
}

void gv_exc_print(GvObject *exc, void *file) {
    FILE *f = file;
    /* The chain prints oldest first: the root (the first cause), then the
     * newest ones. Chains are capped where they are made (gv_err_set_exc),
     * so this shows a whole chain unless one was lengthened by raising an
     * exception from its middle again; then the links between the root and
     * the newest are counted and left out. */
    enum { SHOWN = GV_CONTEXT_CHAIN_MAX };
    GvException *chain[SHOWN];
    uint64_t before[SHOWN]; /* how many are left out before chain[i] (its older side) */
    int n = 0;
    GvException *e = (GvException *)exc;
    for (; e && n < SHOWN - 1; e = (GvException *)e->context) {
        chain[n] = e;
        before[n] = e->context_omitted;
        n++;
    }
    if (e) {
        /* More than fit: walk to the root. Chains have no cycles
         * (gv_err_set_exc never makes one), so this ends. */
        uint64_t gap = before[n - 1];
        while (e->context) {
            gap = gap == GV_CONTEXT_OMITTED_UNKNOWN || e->context_omitted == GV_CONTEXT_OMITTED_UNKNOWN
                      ? GV_CONTEXT_OMITTED_UNKNOWN
                      : gap + 1 + e->context_omitted;
            e = (GvException *)e->context;
        }
        before[n - 1] = gap;
        chain[n] = e;
        before[n] = e->context_omitted;
        n++;
    }
    SourceCache sc = {0};
    for (int i = n - 1; i >= 0; i--) {
        /* The root's count is set only when its older side was cut off. */
        if (before[i] && (i < n - 1 || before[i] == GV_CONTEXT_OMITTED_UNKNOWN)) print_omitted(before[i], f);
        print_traceback(chain[i]->traceback, &sc, f);
        print_message(chain[i], f);
        if (i > 0)
            fprintf(f, "\nDuring handling of the above exception, another exception occurred:\n\n");
    }
    free(sc.text);
    fflush(f);
}
