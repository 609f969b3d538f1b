/* The assembler: .gva text to GvCode objects (the language is docs/LANGUAGE.md).
 *
 * One pass over the lines, one function at a time. Inside a function the
 * instructions, constants, global names, locals and labels accumulate in
 * growable arrays, each table with a hash index so that a huge function still
 * assembles in linear time. A jump holds its label's table index until `.end`,
 * when every label of the function is known: then the targets are patched in
 * and the GvCode is built. Nothing here checks stack effects or jump targets;
 * that is the verifier's work.
 *
 * Choices the contract leaves open:
 * - `.local` may appear anywhere in a function, any number of times, but a
 *   local must be declared (as a parameter or on a `.local` line) above the
 *   first instruction that names it.
 * - Errors are reported as they are found: a malformed line at once, label
 *   errors at the function's `.end` (the earliest use of an undefined label,
 *   in an instruction or a `.try`). A function still open at the end of the
 *   file is reported at the end of its last line.
 * - Columns count bytes from 1 (a tab is one column). A UTF-8 byte-order
 *   mark at the start of the file is skipped. A line ends at "\n" or "\r\n".
 * - NUL bytes are rejected anywhere, comments included (as CPython does).
 * - Float constants that overflow to infinity are errors, as integers are.
 * - The assembler does not require `main`: a file without functions is an
 *   empty program, and running one without `main` is the runner's error. */
#include "asm.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/errors.h"
#include "../runtime/str.h"
#include "diag.h"
#include "opcodes.h"

/* Table limits, from the 24-bit operand. tests/unit/test_asm.c compiles a
 * copy of this file with smaller ones (and an allocator that fails on
 * demand) to reach them without assembling gigabytes. */
#ifndef GV_ASM_MAX_ENTRIES
#define GV_ASM_MAX_ENTRIES (GV_ARG_MAX + 1u) /* constants, names, locals, labels */
#endif
#ifndef GV_ASM_MAX_INSTRS
#define GV_ASM_MAX_INSTRS GV_ARG_MAX /* a label after the last one must fit too */
#endif

#define NONE_IDX UINT32_MAX

typedef struct Slice {
    const char *p; /* into the source, which outlives the assembly */
    size_t n;
} Slice;

/* An entry of a name table (locals, global names, functions). */
typedef struct Sym {
    Slice name;
    uint32_t line; /* where it was defined, for "first defined at" */
} Sym;

typedef struct Label {
    Sym sym;                   /* first member: label tables are searched as Syms */
    uint32_t target;           /* instruction index, once defined */
    bool defined;
    uint32_t use_line, use_col;/* first use, if used before being defined */
} Label;

typedef struct Try {
    uint32_t label[3]; /* start, end, handler: label indexes */
    GvSrcPos pos;
} Try;

/* Open addressing: a slot is (hash << 32) | (index + 1); 0 is empty. */
typedef struct Map {
    uint64_t *slots;
    uint32_t cap, count;
} Map;

/* The function being assembled. */
typedef struct Func {
    bool open;
    Sym name;
    uint32_t nparams;
    Sym *locals;
    uint32_t nlocals, caplocals;
    Map localmap;
    Sym *names;
    uint32_t nnames, capnames;
    Map namemap;
    Label *labels;
    uint32_t nlabels, caplabels;
    Map labelmap;
    GvValue *consts; /* strong: the strs are owned here until moved to the code */
    uint32_t nconsts, capconsts;
    Map constmap;
    GvInstr *instrs;
    uint32_t ninstrs, capinstrs;
    GvSrcPos *pos;
    uint32_t cappos;
    Try *tries;
    uint32_t ntries, captries;
    bool is_async;       /* `.async` seen */
    GvSrcPos async_pos;  /* where, for "no YIELD_VALUE" */
} Func;

typedef struct Asm {
    const char *file; /* for diagnostics, as the caller gave it */
    GvDiag *diag;
    const char *ls, *le; /* the current line, without its line end */
    uint32_t line;
    GvObject *filename;  /* str, strong */
    Func fn;
    Sym *funcs; /* every function seen, in order; funcs[i] is codes[i] once ended */
    uint32_t nfuncs, capfuncs;
    Map funcmap;
    GvCode **codes; /* strong */
    uint32_t ncodes, capcodes;
    char *buf; /* scratch: decoded strings, number text */
    size_t bufcap;
} Asm;

/* ---- errors ---- */

/* Text from the source, made safe to print: non-printable bytes as \xNN,
 * long text cut with "...". The array lives until the end of the full
 * expression that called quote(), long enough for a printf argument. */
typedef struct Quoted {
    char s[72];
} Quoted;

static Quoted quote(const char *p, size_t n) {
    Quoted q;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 8 >= sizeof q.s) {
            memcpy(q.s + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f)
            q.s[o++] = (char)c;
        else
            o += (size_t)snprintf(q.s + o, sizeof q.s - o, "\\x%02x", c);
    }
    q.s[o] = '\0';
    return q;
}

static Quoted qsl(Slice s) { return quote(s.p, s.n); }

static int err_at(Asm *a, uint32_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int err_at(Asm *a, uint32_t line, uint32_t col, const char *fmt, ...) {
    char msg[sizeof a->diag->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gv_diag_set(a->diag, a->file, line, col, "%s", msg);
    return -1;
}

static uint32_t col_of(const Asm *a, const char *p) {
    size_t c = (size_t)(p - a->ls) + 1;
    return c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
}

/* An error at p, a position in the current line. */
#define err(a, p, ...) err_at((a), (a)->line, col_of((a), (p)), __VA_ARGS__)

/* Out of memory, in our arrays or in the runtime's allocator: a diagnostic,
 * never an exception left behind. */
static int oom(Asm *a) {
    GvThreadState *ts = gv_tstate_get();
    if (ts) gv_err_clear(ts);
    gv_diag_set(a->diag, a->file, 0, 0, "out of memory");
    return -1;
}

/* ---- growable arrays and hash maps ---- */

/* Doubles an array's capacity; the new array, or NULL after reporting. */
static void *grow(Asm *a, void *arr, uint32_t *cap, size_t size) {
    uint64_t ncap = *cap ? (uint64_t)*cap * 2 : 8;
    if (ncap > UINT32_MAX) ncap = UINT32_MAX;
    if (ncap <= *cap || ncap > SIZE_MAX / size) {
        oom(a);
        return NULL;
    }
    void *p = realloc(arr, (size_t)ncap * size);
    if (!p) {
        oom(a);
        return NULL;
    }
    *cap = (uint32_t)ncap;
    return p;
}

/* Makes room for element n of arr; returns -1 from the caller on failure. */
#define RESERVE(a, arr, n, cap)                                     \
    do {                                                            \
        if ((n) >= (cap)) {                                         \
            void *grown_ = grow((a), (arr), &(cap), sizeof *(arr)); \
            if (!grown_) return -1;                                 \
            (arr) = grown_;                                         \
        }                                                           \
    } while (0)

static int reserve_buf(Asm *a, size_t n) {
    if (n <= a->bufcap) return 0;
    size_t cap = a->bufcap ? a->bufcap : 64;
    while (cap < n) {
        if (cap > SIZE_MAX / 2) return oom(a);
        cap *= 2;
    }
    char *p = realloc(a->buf, cap);
    if (!p) return oom(a);
    a->buf = p;
    a->bufcap = cap;
    return 0;
}

static uint32_t hash_bytes(uint32_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    h ^= 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

typedef bool (*EqFn)(const void *ctx, uint32_t idx);

/* Ensures room for one more entry. */
static int map_reserve(Asm *a, Map *m) {
    if ((uint64_t)(m->count + 1) * 4 <= (uint64_t)m->cap * 3) return 0;
    uint64_t ncap = m->cap ? (uint64_t)m->cap * 2 : 16;
    if (ncap > UINT32_MAX / 2 + 1) return oom(a);
    uint64_t *slots = calloc((size_t)ncap, sizeof *slots);
    if (!slots) return oom(a);
    uint32_t mask = (uint32_t)ncap - 1;
    for (uint32_t i = 0; i < m->cap; i++) {
        uint64_t s = m->slots[i];
        if (!s) continue;
        uint32_t j = (uint32_t)(s >> 32) & mask;
        while (slots[j]) j = (j + 1) & mask;
        slots[j] = s;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = (uint32_t)ncap;
    return 0;
}

/* The index stored under a key equal to ctx's, or NONE_IDX with *hole set
 * to the empty slot where it belongs (the map must have been reserved). */
static uint32_t map_find(Map *m, uint32_t h, EqFn eq, const void *ctx, uint64_t **hole) {
    *hole = NULL;
    if (!m->cap) return NONE_IDX;
    uint32_t mask = m->cap - 1;
    for (uint32_t j = h & mask;; j = (j + 1) & mask) {
        uint64_t s = m->slots[j];
        if (!s) {
            *hole = &m->slots[j];
            return NONE_IDX;
        }
        if ((uint32_t)(s >> 32) == h && eq(ctx, (uint32_t)s - 1)) return (uint32_t)s - 1;
    }
}

static void map_put(Map *m, uint64_t *hole, uint32_t h, uint32_t idx) {
    *hole = ((uint64_t)h << 32) | ((uint64_t)idx + 1);
    m->count++;
}

typedef struct SymKey {
    const char *base; /* an array of Syms, or of structs starting with one */
    size_t stride;
    Slice key;
} SymKey;

static bool sym_eq(const void *ctx, uint32_t idx) {
    const SymKey *k = ctx;
    const Sym *s = (const Sym *)(const void *)(k->base + (size_t)idx * k->stride);
    return s->name.n == k->key.n && memcmp(s->name.p, k->key.p, k->key.n) == 0;
}

/* Looks a name up in a table (reserving room to add it). */
static int sym_find(Asm *a, Map *m, const void *base, size_t stride, Slice key, uint32_t *idx,
                    uint64_t **hole, uint32_t *h) {
    if (map_reserve(a, m)) return -1;
    SymKey k = {base, stride, key};
    *h = hash_bytes(0, key.p, key.n);
    *idx = map_find(m, *h, sym_eq, &k, hole);
    return 0;
}

/* ---- lexing ---- */

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_ident_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }

static bool is_ident(const char *p, size_t n) {
    if (n == 0 || !is_ident_start(p[0])) return false;
    for (size_t i = 1; i < n; i++)
        if (!is_ident_char(p[i])) return false;
    return true;
}

static const char *skip_ws(const char *p, const char *e) {
    while (p < e && is_ws(*p)) p++;
    return p;
}

/* Nothing but a comment (or nothing) from p to the end of the line. */
static bool at_end(const char *p, const char *e) { return p == e || *p == ';'; }

static const char *token_end(const char *p, const char *e) {
    while (p < e && !is_ws(*p) && *p != ';') p++;
    return p;
}

static bool slice_is(Slice s, const char *word) {
    size_t n = strlen(word);
    return s.n == n && memcmp(s.p, word, n) == 0;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq(const char *p, size_t n) {
    const unsigned char *u = (const unsigned char *)p;
    size_t len;
    uint32_t cp, min;
    if (u[0] < 0x80) return 1;
    if (u[0] >= 0xc2 && u[0] <= 0xdf) {
        len = 2, cp = u[0] & 0x1fu, min = 0x80;
    } else if ((u[0] & 0xf0) == 0xe0) {
        len = 3, cp = u[0] & 0x0fu, min = 0x800;
    } else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
        len = 4, cp = u[0] & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (u[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* ---- function tables ---- */

static int add_local(Asm *a, Slice name, const char *p) {
    Func *f = &a->fn;
    uint32_t idx, h;
    uint64_t *hole;
    if (sym_find(a, &f->localmap, f->locals, sizeof(Sym), name, &idx, &hole, &h)) return -1;
    if (idx != NONE_IDX)
        return err(a, p, "duplicate local '%s' (first defined at line %u)", qsl(name).s,
                   f->locals[idx].line);
    if (f->nlocals >= GV_ASM_MAX_ENTRIES)
        return err(a, p, "too many locals in function '%s' (at most %u)", qsl(f->name.name).s,
                   (unsigned)GV_ASM_MAX_ENTRIES);
    RESERVE(a, f->locals, f->nlocals, f->caplocals);
    f->locals[f->nlocals] = (Sym){name, a->line};
    map_put(&f->localmap, hole, h, f->nlocals++);
    return 0;
}

static int find_local(Asm *a, Slice name, const char *p, uint32_t *out) {
    Func *f = &a->fn;
    uint32_t h;
    uint64_t *hole;
    if (sym_find(a, &f->localmap, f->locals, sizeof(Sym), name, out, &hole, &h)) return -1;
    if (*out == NONE_IDX) return err(a, p, "unknown local '%s'", qsl(name).s);
    return 0;
}

static int add_name(Asm *a, Slice name, const char *p, uint32_t *out) {
    Func *f = &a->fn;
    uint32_t h;
    uint64_t *hole;
    if (sym_find(a, &f->namemap, f->names, sizeof(Sym), name, out, &hole, &h)) return -1;
    if (*out != NONE_IDX) return 0;
    if (f->nnames >= GV_ASM_MAX_ENTRIES)
        return err(a, p, "too many names in function '%s' (at most %u)", qsl(f->name.name).s,
                   (unsigned)GV_ASM_MAX_ENTRIES);
    RESERVE(a, f->names, f->nnames, f->capnames);
    f->names[f->nnames] = (Sym){name, a->line};
    map_put(&f->namemap, hole, h, f->nnames);
    *out = f->nnames++;
    return 0;
}

/* The label's index, adding it (undefined, used here) if it is new. */
static int label_ref(Asm *a, Slice name, const char *p, uint32_t *out) {
    Func *f = &a->fn;
    uint32_t h;
    uint64_t *hole;
    if (sym_find(a, &f->labelmap, f->labels, sizeof(Label), name, out, &hole, &h)) return -1;
    if (*out != NONE_IDX) return 0;
    if (f->nlabels >= GV_ASM_MAX_ENTRIES)
        return err(a, p, "too many labels in function '%s' (at most %u)", qsl(f->name.name).s,
                   (unsigned)GV_ASM_MAX_ENTRIES);
    RESERVE(a, f->labels, f->nlabels, f->caplabels);
    f->labels[f->nlabels] = (Label){{name, 0}, 0, false, a->line, col_of(a, p)};
    map_put(&f->labelmap, hole, h, f->nlabels);
    *out = f->nlabels++;
    return 0;
}

typedef struct ConstKey {
    const GvValue *consts;
    GvValue v;
    const char *s; /* a str's bytes, when v.tag is GV_TOBJ */
    size_t n;
} ConstKey;

/* Equal by type and value: 1, 1.0 and true differ, so do 0.0 and -0.0. */
static bool const_eq(const void *ctx, uint32_t idx) {
    const ConstKey *k = ctx;
    GvValue c = k->consts[idx];
    if (c.tag != k->v.tag) return false;
    if (c.tag == GV_TOBJ) {
        const GvStr *s = (const GvStr *)c.as.o;
        return s->size == k->n && memcmp(s->data, k->s, k->n) == 0;
    }
    if (c.tag == GV_TFLOAT) {
        if (isnan(c.as.f)) return false; /* NaN never merges */
        return memcmp(&c.as.f, &k->v.as.f, sizeof(double)) == 0;
    }
    return c.as.i == k->v.as.i;
}

/* Adds a constant (v, or a str of s[0..n) when v.tag is GV_TOBJ). */
static int add_const(Asm *a, GvValue v, const char *s, size_t n, const char *p, uint32_t *out) {
    Func *f = &a->fn;
    if (map_reserve(a, &f->constmap)) return -1;
    uint32_t h;
    if (v.tag == GV_TOBJ) {
        h = hash_bytes(GV_TOBJ, s, n);
    } else {
        uint64_t bits;
        memcpy(&bits, &v.as, sizeof bits);
        h = hash_bytes(v.tag, &bits, sizeof bits);
    }
    ConstKey k = {f->consts, v, s, n};
    uint64_t *hole;
    uint32_t idx = map_find(&f->constmap, h, const_eq, &k, &hole);
    if (idx != NONE_IDX) {
        *out = idx;
        return 0;
    }
    if (f->nconsts >= GV_ASM_MAX_ENTRIES)
        return err(a, p, "too many constants in function '%s' (at most %u)", qsl(f->name.name).s,
                   (unsigned)GV_ASM_MAX_ENTRIES);
    RESERVE(a, f->consts, f->nconsts, f->capconsts);
    if (v.tag == GV_TOBJ) {
        GvObject *o = gv_str_new(s, n);
        if (!o) return oom(a);
        v = gv_obj(o);
    }
    f->consts[f->nconsts] = v;
    map_put(&f->constmap, hole, h, f->nconsts);
    *out = f->nconsts++;
    return 0;
}

static void func_free(Func *f) {
    for (uint32_t i = 0; i < f->nconsts; i++) gv_vdecref(f->consts[i]);
    free(f->locals);
    free(f->localmap.slots);
    free(f->names);
    free(f->namemap.slots);
    free(f->labels);
    free(f->labelmap.slots);
    free(f->consts);
    free(f->constmap.slots);
    free(f->instrs);
    free(f->pos);
    free(f->tries);
    memset(f, 0, sizeof *f);
}

/* ---- operands ---- */

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* An int or float constant spelled in p[0..e). */
static int parse_number(Asm *a, const char *p, const char *e, GvValue *v) {
    const char *s = p;
    bool neg = false;
    if (s < e && (*s == '+' || *s == '-')) neg = *s++ == '-';
    uint64_t limit = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
    uint64_t m = 0;
    bool over = false;

    if (e - s >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        if (s == e) return err(a, p, "invalid hexadecimal constant '%s'", quote(p, (size_t)(e - p)).s);
        for (; s < e; s++) {
            int d = hex_digit(*s);
            if (d < 0)
                return err(a, p, "invalid hexadecimal constant '%s'", quote(p, (size_t)(e - p)).s);
            if (m > (limit - (uint64_t)d) / 16)
                over = true;
            else
                m = m * 16 + (uint64_t)d;
        }
    } else {
        /* digits [. digits] [e [sign] digits], with a digit in the mantissa */
        const char *q = s;
        size_t ndigits = 0;
        bool is_float = false;
        for (; q < e && is_digit(*q); q++) ndigits++;
        if (q < e && *q == '.') {
            is_float = true;
            for (q++; q < e && is_digit(*q); q++) ndigits++;
        }
        if (ndigits && q < e && (*q == 'e' || *q == 'E')) {
            is_float = true;
            q++;
            if (q < e && (*q == '+' || *q == '-')) q++;
            const char *x = q;
            while (q < e && is_digit(*q)) q++;
            if (q == x) ndigits = 0;
        }
        if (!ndigits || q != e)
            return err(a, p, "invalid numeric constant '%s'", quote(p, (size_t)(e - p)).s);
        if (is_float) {
            size_t n = (size_t)(e - p);
            if (reserve_buf(a, n + 1)) return -1;
            memcpy(a->buf, p, n);
            a->buf[n] = '\0';
            double d = strtod(a->buf, NULL);
            if (isinf(d)) return err(a, p, "float constant out of range");
            *v = gv_float(d);
            return 0;
        }
        for (; s < e; s++) {
            uint64_t d = (uint64_t)(*s - '0');
            if (m > (limit - d) / 10)
                over = true;
            else
                m = m * 10 + d;
        }
    }
    if (over) return err(a, p, "integer constant out of range");
    int64_t i = neg ? (m == (uint64_t)1 << 63 ? INT64_MIN : -(int64_t)m) : (int64_t)m;
    *v = gv_int(i);
    return 0;
}

/* A double-quoted string starting at p; *end is set past the closing quote. */
static int parse_string(Asm *a, const char *p, const char *e, uint32_t *out, const char **end) {
    if (reserve_buf(a, (size_t)(e - p) + 1)) return -1; /* decoding never lengthens */
    size_t n = 0;
    const char *s = p + 1;
    for (;;) {
        if (s == e) return err(a, p, "unterminated string");
        char c = *s;
        if (c == '"') {
            s++;
            break;
        }
        if (c == '\\') {
            if (s + 1 == e) return err(a, p, "unterminated string");
            switch (s[1]) {
            case 'n': a->buf[n++] = '\n'; break;
            case 't': a->buf[n++] = '\t'; break;
            case '"': a->buf[n++] = '"'; break;
            case '\\': a->buf[n++] = '\\'; break;
            default: {
                size_t k = utf8_seq(s + 1, (size_t)(e - s - 1));
                return err(a, s, "invalid escape sequence '\\%s'", quote(s + 1, k ? k : 1).s);
            }
            }
            s += 2;
            continue;
        }
        size_t k = utf8_seq(s, (size_t)(e - s));
        if (!k) return err(a, s, "invalid UTF-8 in string");
        memcpy(a->buf + n, s, k);
        n += k;
        s += k;
    }
    *end = s;
    return add_const(a, gv_obj(NULL), a->buf, n, p, out);
}

static int parse_const(Asm *a, const char *p, const char *e, uint32_t *out, const char **end) {
    if (*p == '"') return parse_string(a, p, e, out, end);
    const char *t = token_end(p, e);
    Slice tok = {p, (size_t)(t - p)};
    *end = t;
    GvValue v;
    if (slice_is(tok, "none")) {
        v = gv_none();
    } else if (slice_is(tok, "true")) {
        v = gv_bool(true);
    } else if (slice_is(tok, "false")) {
        v = gv_bool(false);
    } else if (is_digit(*p) || *p == '+' || *p == '-' || *p == '.') {
        if (parse_number(a, p, t, &v)) return -1;
    } else {
        return err(a, p, "expected a constant, found '%s'", qsl(tok).s);
    }
    return add_const(a, v, NULL, 0, p, out);
}

static int parse_count(Asm *a, const char *p, const char *t, uint32_t *out) {
    const char *s = p + (*p == '-');
    bool digits = s < t;
    for (const char *q = s; q < t; q++) digits = digits && is_digit(*q);
    if (!digits) return err(a, p, "expected a count, found '%s'", quote(p, (size_t)(t - p)).s);
    if (*p == '-') return err(a, p, "count must not be negative");
    uint64_t m = 0;
    for (; s < t; s++) {
        m = m * 10 + (uint64_t)(*s - '0');
        if (m > GV_ARG_MAX) return err(a, p, "count out of range (at most %u)", (unsigned)GV_ARG_MAX);
    }
    *out = (uint32_t)m;
    return 0;
}

static const char *kind_phrase(GvOperandKind k) {
    switch (k) {
    case GV_OPK_CONST: return "a constant";
    case GV_OPK_LOCAL: return "a local name";
    case GV_OPK_NAME: return "a name";
    case GV_OPK_LABEL: return "a label";
    case GV_OPK_COUNT: return "a count";
    case GV_OPK_NONE: break;
    }
    return "no operand";
}

/* ---- lines ---- */

static int do_instr(Asm *a, const char *p, const char *t) {
    const char *e = a->le;
    size_t n = (size_t)(t - p);
    int op = gv_op_lookup(p, n);
    if (op < 0) {
        char upper[32];
        if (n < sizeof upper) {
            for (size_t i = 0; i < n; i++)
                upper[i] = (p[i] >= 'a' && p[i] <= 'z') ? (char)(p[i] - 'a' + 'A') : p[i];
            if (gv_op_lookup(upper, n) >= 0)
                return err(a, p, "unknown mnemonic '%s' (mnemonics are all upper or all lower case)",
                           quote(p, n).s);
        }
        return err(a, p, "unknown mnemonic '%s'", quote(p, n).s);
    }
    Func *f = &a->fn;
    if (!f->open) return err(a, p, "instruction outside a function");
    if (f->ninstrs >= GV_ASM_MAX_INSTRS)
        return err(a, p, "too many instructions in function '%s' (at most %u)", qsl(f->name.name).s,
                   (unsigned)GV_ASM_MAX_INSTRS);

    const GvOpInfo *info = &gv_opinfo[op];
    const char *o = skip_ws(t, e);
    uint32_t arg = 0;
    if (info->kind == GV_OPK_NONE) {
        if (!at_end(o, e)) return err(a, o, "'%s' takes no operand", info->name);
    } else {
        if (at_end(o, e))
            return err(a, t, "missing operand: '%s' expects %s", info->name, kind_phrase(info->kind));
        const char *oe = token_end(o, e);
        Slice tok = {o, (size_t)(oe - o)};
        if (info->kind == GV_OPK_CONST) {
            if (parse_const(a, o, e, &arg, &oe)) return -1;
        } else if (info->kind == GV_OPK_COUNT) {
            if (parse_count(a, o, oe, &arg)) return -1;
        } else if (!is_ident(tok.p, tok.n)) {
            return err(a, o, "expected %s, found '%s'", kind_phrase(info->kind), qsl(tok).s);
        } else if (info->kind == GV_OPK_LOCAL) {
            if (find_local(a, tok, o, &arg)) return -1;
        } else if (info->kind == GV_OPK_NAME) {
            if (add_name(a, tok, o, &arg)) return -1;
        } else { /* GV_OPK_LABEL: the label's index until .end patches in its target */
            if (label_ref(a, tok, o, &arg)) return -1;
        }
        const char *r = skip_ws(oe, e);
        if (!at_end(r, e)) return err(a, r, "too many operands for '%s'", info->name);
    }

    RESERVE(a, f->instrs, f->ninstrs, f->capinstrs);
    RESERVE(a, f->pos, f->ninstrs, f->cappos);
    f->instrs[f->ninstrs] = GV_MAKE_INSTR(op, arg);
    f->pos[f->ninstrs] = (GvSrcPos){a->line, col_of(a, p)};
    f->ninstrs++;
    return 0;
}

static int do_label(Asm *a, const char *p, const char *t) {
    Slice name = {p, (size_t)(t - p)};
    if (!is_ident(name.p, name.n)) return err(a, p, "invalid label name '%s'", qsl(name).s);
    const char *r = skip_ws(t + 1, a->le);
    if (!at_end(r, a->le)) return err(a, r, "a label must be on a line of its own");
    Func *f = &a->fn;
    if (!f->open) return err(a, p, "label outside a function");
    uint32_t idx;
    if (label_ref(a, name, p, &idx)) return -1;
    Label *l = &f->labels[idx];
    if (l->defined)
        return err(a, p, "duplicate label '%s' (first defined at line %u)", qsl(name).s, l->sym.line);
    l->defined = true;
    l->target = f->ninstrs;
    l->sym.line = a->line;
    return 0;
}

/* Reads identifiers to the end of the line; each(a, name, position) for each. */
static int each_ident(Asm *a, const char *o, const char *what, int (*each)(Asm *, Slice, const char *)) {
    const char *e = a->le;
    for (o = skip_ws(o, e); !at_end(o, e); o = skip_ws(o, e)) {
        const char *t = token_end(o, e);
        Slice s = {o, (size_t)(t - o)};
        if (!is_ident(s.p, s.n)) return err(a, o, "invalid %s '%s'", what, qsl(s).s);
        if (each(a, s, o)) return -1;
        o = t;
    }
    return 0;
}

static int add_param(Asm *a, Slice name, const char *p) {
    if (add_local(a, name, p)) return -1;
    a->fn.nparams++;
    return 0;
}

static int do_func(Asm *a, const char *p, const char *t) {
    const char *e = a->le;
    Func *f = &a->fn;
    if (f->open)
        return err(a, p, "'.func' inside function '%s' (missing '.end'?)", qsl(f->name.name).s);
    const char *o = skip_ws(t, e);
    if (at_end(o, e)) return err(a, t, "missing function name after '.func'");
    const char *oe = token_end(o, e);
    Slice name = {o, (size_t)(oe - o)};
    if (!is_ident(name.p, name.n)) return err(a, o, "invalid function name '%s'", qsl(name).s);

    uint32_t idx, h;
    uint64_t *hole;
    if (sym_find(a, &a->funcmap, a->funcs, sizeof(Sym), name, &idx, &hole, &h)) return -1;
    if (idx != NONE_IDX)
        return err(a, o, "duplicate function '%s' (first defined at line %u)", qsl(name).s,
                   a->funcs[idx].line);
    RESERVE(a, a->funcs, a->nfuncs, a->capfuncs);
    a->funcs[a->nfuncs] = (Sym){name, a->line};
    map_put(&a->funcmap, hole, h, a->nfuncs++);

    f->open = true;
    f->name = (Sym){name, a->line};
    return each_ident(a, oe, "parameter name", add_param);
}

static int do_try(Asm *a, const char *p, const char *t) {
    const char *e = a->le;
    Func *f = &a->fn;
    if (!f->open) return err(a, p, "'.try' outside a function");
    Try entry = {{0, 0, 0}, {a->line, col_of(a, p)}};
    const char *o = t;
    for (int i = 0; i < 3; i++) {
        o = skip_ws(o, e);
        if (at_end(o, e)) return err(a, o, "'.try' expects three labels: START END HANDLER");
        const char *oe = token_end(o, e);
        Slice s = {o, (size_t)(oe - o)};
        if (!is_ident(s.p, s.n)) return err(a, o, "expected a label, found '%s'", qsl(s).s);
        if (label_ref(a, s, o, &entry.label[i])) return -1;
        o = oe;
    }
    o = skip_ws(o, e);
    if (!at_end(o, e)) return err(a, o, "too many operands for '.try'");
    RESERVE(a, f->tries, f->ntries, f->captries);
    f->tries[f->ntries++] = entry;
    return 0;
}

typedef struct TryOrder {
    int64_t size; /* end - start: negative for a backwards range (the verifier rejects it) */
    uint32_t idx;
} TryOrder;

static int try_cmp(const void *x, const void *y) {
    const TryOrder *l = x, *r = y;
    if (l->size != r->size) return l->size < r->size ? -1 : 1;
    return l->idx < r->idx ? -1 : l->idx > r->idx; /* stable */
}

static int new_str(Asm *a, Slice s, GvObject **out) {
    *out = gv_str_new(s.p, s.n); /* identifiers are ASCII */
    return *out ? 0 : oom(a);
}

/* `.end`: resolves the labels and turns the function into a GvCode. */
static int end_func(Asm *a) {
    Func *f = &a->fn;
    /* Labels are added in source order, so the first undefined one is the
     * earliest use. */
    for (uint32_t i = 0; i < f->nlabels; i++) {
        const Label *l = &f->labels[i];
        if (!l->defined) return err_at(a, l->use_line, l->use_col, "undefined label '%s'", qsl(l->sym.name).s);
    }
    for (uint32_t i = 0; i < f->ninstrs; i++) {
        GvInstr ins = f->instrs[i];
        if (gv_opinfo[GV_OP(ins)].kind == GV_OPK_LABEL)
            f->instrs[i] = GV_MAKE_INSTR(GV_OP(ins), f->labels[GV_ARG(ins)].target);
    }
    if (f->is_async) {
        bool yields = false;
        for (uint32_t i = 0; i < f->ninstrs && !yields; i++)
            yields = GV_OP(f->instrs[i]) == GV_OP_YIELD_VALUE;
        if (!yields)
            return err_at(a, f->async_pos.line, f->async_pos.col,
                          "'.async' in function '%s', which has no YIELD_VALUE (only a generator "
                          "function can be async)",
                          qsl(f->name.name).s);
    }
    TryOrder *order = NULL;
    if (f->ntries) {
        order = malloc((size_t)f->ntries * sizeof *order);
        if (!order) return oom(a);
        for (uint32_t i = 0; i < f->ntries; i++) {
            const Try *t = &f->tries[i];
            order[i] = (TryOrder){(int64_t)f->labels[t->label[1]].target -
                                      (int64_t)f->labels[t->label[0]].target,
                                  i};
        }
        qsort(order, f->ntries, sizeof *order, try_cmp);
    }
    if (a->ncodes >= a->capcodes) {
        void *grown = grow(a, a->codes, &a->capcodes, sizeof *a->codes);
        if (!grown) goto fail;
        a->codes = grown;
    }

    GvObject *name;
    if (new_str(a, f->name.name, &name)) goto fail;
    GvCode *c = gv_code_new(name, a->filename, f->nparams, f->nlocals, f->ninstrs, f->nconsts,
                            f->nnames, f->ntries);
    gv_decref(name);
    if (!c) {
        oom(a);
        goto fail;
    }
    c->firstline = f->name.line;
    c->flags = f->is_async ? GV_CODE_ASYNC : 0; /* GV_CODE_GENERATOR: the verifier's */
    if (f->ninstrs) {
        memcpy(c->instrs, f->instrs, (size_t)f->ninstrs * sizeof *c->instrs);
        memcpy(c->pos, f->pos, (size_t)f->ninstrs * sizeof *c->pos);
    }
    for (uint32_t i = 0; i < f->nconsts; i++) c->consts[i] = f->consts[i];
    f->nconsts = 0; /* moved to the code */
    for (uint32_t i = 0; i < f->nnames; i++)
        if (new_str(a, f->names[i].name, &c->names[i])) goto fail_code;
    for (uint32_t i = 0; i < f->nlocals; i++)
        if (new_str(a, f->locals[i].name, &c->localnames[i])) goto fail_code;
    for (uint32_t i = 0; i < f->ntries; i++) {
        const Try *t = &f->tries[order[i].idx];
        c->exc[i] = (GvExcEntry){f->labels[t->label[0]].target, f->labels[t->label[1]].target,
                                 f->labels[t->label[2]].target, 0, 0, t->pos};
    }
    free(order);
    a->codes[a->ncodes++] = c;
    func_free(f);
    return 0;

fail_code:
    gv_decref(&c->ob);
fail:
    free(order);
    return -1;
}

static int do_directive(Asm *a, const char *p) {
    const char *e = a->le;
    const char *t = token_end(p, e);
    Slice d = {p, (size_t)(t - p)};
    if (slice_is(d, ".func")) return do_func(a, p, t);
    if (slice_is(d, ".try")) return do_try(a, p, t);
    if (slice_is(d, ".local")) {
        if (!a->fn.open) return err(a, p, "'.local' outside a function");
        if (at_end(skip_ws(t, e), e)) return err(a, t, "missing local name after '.local'");
        return each_ident(a, t, "local name", add_local);
    }
    if (slice_is(d, ".async")) {
        Func *f = &a->fn;
        if (!f->open) return err(a, p, "'.async' outside a function");
        if (f->is_async) return err(a, p, "duplicate '.async' in function '%s'", qsl(f->name.name).s);
        if (f->ninstrs)
            return err(a, p, "'.async' after an instruction (it must come before the body of '%s')",
                       qsl(f->name.name).s);
        const char *r = skip_ws(t, e);
        if (!at_end(r, e)) return err(a, r, "'.async' takes no operands");
        f->is_async = true;
        f->async_pos = (GvSrcPos){a->line, col_of(a, p)};
        return 0;
    }
    if (slice_is(d, ".end")) {
        if (!a->fn.open) return err(a, p, "'.end' outside a function");
        const char *r = skip_ws(t, e);
        if (!at_end(r, e)) return err(a, r, "'.end' takes no operands");
        return end_func(a);
    }
    return err(a, p, "unknown directive '%s'", qsl(d).s);
}

static int do_line(Asm *a) {
    const char *e = a->le;
    const char *nul = memchr(a->ls, '\0', (size_t)(e - a->ls));
    if (nul) return err(a, nul, "NUL byte in source");
    const char *p = skip_ws(a->ls, e);
    if (at_end(p, e)) return 0;
    if (*p == '.') return do_directive(a, p);
    const char *t = p;
    while (t < e && !is_ws(*t) && *t != ';' && *t != ':') t++;
    if (t < e && *t == ':') return do_label(a, p, t);
    return do_instr(a, p, token_end(t, e));
}

/* The filename as a str: a path need not be UTF-8, a str must be. */
static GvObject *filename_str(const char *file) {
    size_t n = strlen(file);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(file + i, n - i);
        if (k) {
            memcpy(s + i, file + i, k);
            i += k;
        } else {
            s[i++] = '?';
        }
    }
    GvObject *o = gv_str_new(s, n);
    free(s);
    return o;
}

static void asm_free(Asm *a) {
    func_free(&a->fn);
    for (uint32_t i = 0; i < a->ncodes; i++) gv_decref(&a->codes[i]->ob);
    free(a->codes);
    free(a->funcs);
    free(a->funcmap.slots);
    free(a->buf);
    gv_xdecref(a->filename);
}

GvProgram *gv_assemble(const char *src, size_t len, const char *filename, GvDiag *diag) {
    GvDiag scratch;
    if (!diag) diag = &scratch; /* errors still have to stop the assembly */
    memset(diag, 0, sizeof *diag);
    Asm a;
    memset(&a, 0, sizeof a);
    a.file = filename ? filename : "<input>";
    a.diag = diag;
    if (!gv_tstate_get()) {
        gv_diag_set(diag, a.file, 0, 0, "no thread state (call Gv_Initialize first)");
        return NULL;
    }
    if (!src) len = 0;
    a.filename = filename_str(a.file);
    if (!a.filename) {
        oom(&a);
        return NULL;
    }

    const char *p = src, *end = src + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        a.ls = p;
        a.le = nl ? nl : end;
        if (a.le > a.ls && a.le[-1] == '\r') a.le--;
        if (a.line < UINT32_MAX) a.line++;
        if (do_line(&a)) goto fail;
        p = nl ? nl + 1 : end;
    }
    if (a.fn.open) {
        /* a.ls/a.le still hold the last line */
        err(&a, a.le, "missing '.end' for function '%s' (opened at line %u)", qsl(a.fn.name.name).s,
            a.fn.name.line);
        goto fail;
    }

    GvProgram *prog = gv_program_new(a.filename, a.ncodes);
    if (!prog) {
        oom(&a);
        goto fail;
    }
    for (uint32_t i = 0; i < a.ncodes; i++) prog->code[i] = a.codes[i];
    a.ncodes = 0; /* moved to the program */
    asm_free(&a);
    return prog;

fail:
    asm_free(&a);
    return NULL;
}
