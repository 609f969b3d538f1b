/* The binary format (.gvc): saving and loading programs.
 *
 * Grammar (every integer little-endian; u8/u32/u64 unsigned, i64 two's
 * complement):
 *
 *   file     := "GVC\0" version:u32 program              ; version == 2
 *   program  := filename:str nfuncs:u32 func{nfuncs}
 *   func     := name:str nparams:u32 nlocals:u32 localname:str{nlocals}
 *               firstline:u32 flags:u32                   ; flags: 2 = .async (version 2)
 *               ninstrs:u32 instr:u32{ninstrs} pos{ninstrs}
 *               nconsts:u32 const{nconsts}
 *               nnames:u32 name:str{nnames}
 *               nexc:u32 exc{nexc}
 *   pos      := line:u32 col:u32
 *   const    := 0                     ; none
 *             | 1                     ; false
 *             | 2                     ; true
 *             | 3 value:i64           ; int
 *             | 4 bits:u64            ; float, its IEEE-754 bits
 *             | 5 str                 ; str
 *              (the tag is a u8)
 *   exc      := start:u32 end:u32 handler:u32 line:u32 col:u32
 *   str      := size:u32 byte{size}   ; valid UTF-8, no terminating NUL
 *
 * The file ends right after the last function: trailing bytes are an error.
 *
 * What is deliberately NOT stored: max_stack and the depth/exc_depth of
 * exception entries. The verifier computes them, and it always runs after a
 * load; storing them would only give a corrupted file a way to lie.
 *
 * The stored filename is the source file the code came from (.gva), used by
 * tracebacks; the filename passed to gv_bytecode_load is the .gvc file being
 * read, used only in load diagnostics.
 *
 * Loading trusts nothing: every count is checked against the bytes that
 * remain (times the smallest size one item can take) before anything is
 * allocated, so a count of 2^31 in a short file is an immediate error rather
 * than a huge allocation. Strings must be valid UTF-8; names (of functions,
 * locals and globals) must not contain NUL bytes; opcodes must exist.
 * Operands, jump targets and exception ranges are the verifier's to check. */
#include "bytecode.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../runtime/errors.h"
#include "../runtime/str.h"
#include "diag.h"
#include "opcodes.h"

/* Smallest encodings, used to bound counts before allocating. */
enum {
    MIN_STR = 4,            /* size */
    MIN_FUNC = 4 * 9,       /* empty name + eight u32 fields */
    INSTR_SIZE = 4 + 8,     /* word + pos */
    MIN_CONST = 1,          /* tag alone */
    EXC_SIZE = 5 * 4,
};

enum { CONST_NONE, CONST_FALSE, CONST_TRUE, CONST_INT, CONST_FLOAT, CONST_STR };

/* ================================================================ saving */

typedef struct Out {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} Out;

static void put(Out *o, const void *p, size_t n) {
    if (o->failed) return;
    if (n > o->cap - o->len) {
        size_t cap = o->cap ? o->cap : 256;
        while (n > cap - o->len) {
            if (cap > SIZE_MAX / 2) {
                o->failed = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *d = realloc(o->data, cap);
        if (!d) {
            o->failed = true;
            return;
        }
        o->data = d;
        o->cap = cap;
    }
    memcpy(o->data + o->len, p, n);
    o->len += n;
}

static void put_u8(Out *o, uint8_t v) { put(o, &v, 1); }

static void put_u32(Out *o, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(o, b, 4);
}

static void put_u64(Out *o, uint64_t v) {
    put_u32(o, (uint32_t)v);
    put_u32(o, (uint32_t)(v >> 32));
}

/* A NULL string (a half-built code object) is written as the empty string. */
static void put_str(Out *o, const GvObject *s) {
    if (!s) {
        put_u32(o, 0);
        return;
    }
    const GvStr *str = (const GvStr *)s;
    if (str->size > UINT32_MAX) {
        o->failed = true;
        return;
    }
    put_u32(o, (uint32_t)str->size);
    put(o, str->data, str->size);
}

static void put_const(Out *o, GvValue v) {
    switch (v.tag) {
    case GV_TNONE: put_u8(o, CONST_NONE); return;
    case GV_TBOOL: put_u8(o, v.as.i ? CONST_TRUE : CONST_FALSE); return;
    case GV_TINT: {
        uint64_t u;
        memcpy(&u, &v.as.i, sizeof u);
        put_u8(o, CONST_INT);
        put_u64(o, u);
        return;
    }
    case GV_TFLOAT: {
        uint64_t u;
        memcpy(&u, &v.as.f, sizeof u);
        put_u8(o, CONST_FLOAT);
        put_u64(o, u);
        return;
    }
    case GV_TOBJ:
        if (v.as.o->kind == GV_KSTR) {
            put_u8(o, CONST_STR);
            put_str(o, v.as.o);
            return;
        }
        break;
    }
    o->failed = true; /* no encoding for this constant: code the assembler cannot make */
}

static void put_code(Out *o, const GvCode *c) {
    put_str(o, c->name);
    put_u32(o, c->nparams);
    put_u32(o, c->nlocals);
    for (uint32_t i = 0; i < c->nlocals; i++) put_str(o, c->localnames ? c->localnames[i] : NULL);
    put_u32(o, c->firstline);
    put_u32(o, c->flags & GV_CODE_ASYNC); /* GV_CODE_GENERATOR is found again by the verifier */
    put_u32(o, c->ninstrs);
    for (uint32_t i = 0; i < c->ninstrs; i++) put_u32(o, c->instrs[i]);
    for (uint32_t i = 0; i < c->ninstrs; i++) {
        put_u32(o, c->pos ? c->pos[i].line : 0);
        put_u32(o, c->pos ? c->pos[i].col : 0);
    }
    put_u32(o, c->nconsts);
    for (uint32_t i = 0; i < c->nconsts; i++) put_const(o, c->consts[i]);
    put_u32(o, c->nnames);
    for (uint32_t i = 0; i < c->nnames; i++) put_str(o, c->names[i]);
    put_u32(o, c->nexc);
    for (uint32_t i = 0; i < c->nexc; i++) {
        const GvExcEntry *e = &c->exc[i];
        put_u32(o, e->start);
        put_u32(o, e->end);
        put_u32(o, e->handler);
        put_u32(o, e->pos.line);
        put_u32(o, e->pos.col);
    }
}

int gv_bytecode_save(const GvProgram *p, uint8_t **out, size_t *outlen) {
    Out o = {0};
    put(&o, GV_BYTECODE_MAGIC, 4);
    put_u32(&o, GV_BYTECODE_VERSION);
    put_str(&o, p->filename);
    put_u32(&o, p->ncode);
    for (uint32_t i = 0; i < p->ncode && !o.failed; i++) {
        if (!p->code[i]) {
            o.failed = true;
            break;
        }
        put_code(&o, p->code[i]);
    }
    if (o.failed) {
        free(o.data);
        *out = NULL;
        *outlen = 0;
        return -1;
    }
    *out = o.data;
    *outlen = o.len;
    return 0;
}

int gv_bytecode_is(const uint8_t *data, size_t len) {
    return data && len >= 4 && memcmp(data, GV_BYTECODE_MAGIC, 4) == 0;
}

/* Why bytes without the magic number are still a bytecode file (a damaged
 * one), or NULL when nothing says so and they are to be read as text. */
static const char *damaged_because(const uint8_t *data, size_t len, const char *filename) {
    enum { MAGIC_LEN = 4, HEADER_LEN = 8 }; /* the magic, then the u32 version */
    if (!data) len = 0;
    /* A NUL in the header: .gva text never holds one (the assembler rejects
     * it), while a header holds several (the magic's last byte and the
     * version's high bytes). */
    if (len > 0 && memchr(data, '\0', len < HEADER_LEN ? len : HEADER_LEN))
        return "it looks like a damaged .gvc";
    /* One byte of the magic flipped, or the file cut inside it ("GV", "GVC"). */
    int same = 0;
    for (size_t i = 0; i < MAGIC_LEN && i < len; i++) same += data[i] == (uint8_t)GV_BYTECODE_MAGIC[i];
    if ((len >= MAGIC_LEN && same >= MAGIC_LEN - 1) || (len >= 2 && len < MAGIC_LEN && same == (int)len))
        return "it looks like a damaged .gvc";
    /* Named as bytecode: read as such, as Python reads a .pyc, rather than
     * report a text error in what its writer meant as bytecode. */
    size_t n = filename ? strlen(filename) : 0;
    if (n >= 4 && strcasecmp(filename + n - 4, ".gvc") == 0)
        return len == 0 ? "the file is empty" : "a .gvc file must hold bytecode (a text program is a .gva)";
    return NULL;
}

bool gv_bytecode_looks_damaged(const uint8_t *data, size_t len, const char *filename) {
    return !gv_bytecode_is(data, len) && damaged_because(data, len, filename) != NULL;
}

/* ================================================================ loading */

typedef struct Reader {
    const uint8_t *data;
    size_t len, off;
    const char *file; /* for diagnostics */
    GvDiag *diag;
} Reader;

/* Records the first error, at byte offset `at`. Always returns false. */
static bool fail(Reader *r, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(Reader *r, size_t at, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gv_diag_set(r->diag, r->file, 0, 0, "at byte offset %zu: %s", at, msg);
    return false;
}

/* gv_str_new and friends report MemoryError as a VM exception; a load never
 * raises, so it becomes a diagnostic. */
static bool fail_nomem(Reader *r) {
    GvThreadState *ts = gv_tstate_get();
    if (ts) gv_err_clear(ts);
    return fail(r, r->off, "out of memory");
}

static size_t left(const Reader *r) { return r->len - r->off; }

static bool need(Reader *r, size_t n, const char *what) {
    if (n > left(r))
        return fail(r, r->off, "file ends inside %s (%zu bytes needed, %zu left)", what, n,
                    left(r));
    return true;
}

static bool rd_u8(Reader *r, const char *what, uint8_t *v) {
    if (!need(r, 1, what)) return false;
    *v = r->data[r->off++];
    return true;
}

static bool rd_u32(Reader *r, const char *what, uint32_t *v) {
    if (!need(r, 4, what)) return false;
    const uint8_t *b = r->data + r->off;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    r->off += 4;
    return true;
}

static bool rd_u64(Reader *r, const char *what, uint64_t *v) {
    uint32_t lo = 0, hi = 0;
    if (!need(r, 8, what)) return false;
    rd_u32(r, what, &lo);
    rd_u32(r, what, &hi);
    *v = (uint64_t)hi << 32 | lo;
    return true;
}

/* A count of items that take at least `size` bytes each, checked against
 * what is left of the file before anyone allocates for it. */
static bool rd_count(Reader *r, const char *what, size_t size, uint32_t *n) {
    size_t at = r->off;
    if (!rd_u32(r, what, n)) return false;
    if (*n > left(r) / size)
        return fail(r, at, "%s (%" PRIu32 ") is more than the %zu bytes left can hold", what,
                    *n, left(r));
    return true;
}

/* A string; a name (is_name) may not contain NUL. New reference in *out. */
static bool rd_str(Reader *r, const char *what, bool is_name, GvObject **out) {
    uint32_t size;
    size_t at = r->off;
    char len_what[64];
    snprintf(len_what, sizeof len_what, "the length of %s", what);
    if (!rd_count(r, len_what, 1, &size)) return false;
    const char *s = (const char *)r->data + r->off;
    size_t length;
    if (!gv_utf8_valid(s, size, &length)) return fail(r, at, "%s is not valid UTF-8", what);
    if (is_name && memchr(s, '\0', size)) return fail(r, at, "%s contains a NUL byte", what);
    *out = gv_str_new(s, size);
    if (!*out) return fail_nomem(r);
    r->off += size;
    return true;
}

static bool rd_const(Reader *r, GvValue *v) {
    size_t at = r->off;
    uint8_t tag;
    uint64_t u;
    if (!rd_u8(r, "a constant", &tag)) return false;
    switch (tag) {
    case CONST_NONE: *v = gv_none(); return true;
    case CONST_FALSE: *v = gv_bool(false); return true;
    case CONST_TRUE: *v = gv_bool(true); return true;
    case CONST_INT: {
        int64_t i;
        if (!rd_u64(r, "an int constant", &u)) return false;
        memcpy(&i, &u, sizeof i);
        *v = gv_int(i);
        return true;
    }
    case CONST_FLOAT: {
        double f;
        if (!rd_u64(r, "a float constant", &u)) return false;
        memcpy(&f, &u, sizeof f);
        *v = gv_float(f);
        return true;
    }
    case CONST_STR: {
        GvObject *s;
        if (!rd_str(r, "a str constant", false, &s)) return false;
        *v = gv_obj(s);
        return true;
    }
    }
    return fail(r, at, "unknown constant tag %u", (unsigned)tag);
}

/* The pieces of one function, read before its code object can be made
 * (gv_code_new wants every count up front, and they are spread through the
 * record). Fixed-size sections are read in place later from their offsets. */
typedef struct Parts {
    GvObject *name;
    uint32_t nparams, nlocals, firstline, flags, ninstrs, nconsts, nnames, nexc;
    GvObject **localnames; /* nlocals, strong */
    size_t instrs_at;      /* ninstrs words then ninstrs positions */
    GvValue *consts;       /* nconsts, strong */
    GvObject **names;      /* nnames, strong */
    size_t exc_at;
} Parts;

static void parts_free(Parts *f) {
    gv_xdecref(f->name);
    if (f->localnames)
        for (uint32_t i = 0; i < f->nlocals; i++) gv_xdecref(f->localnames[i]);
    if (f->consts)
        for (uint32_t i = 0; i < f->nconsts; i++) gv_vdecref(f->consts[i]);
    if (f->names)
        for (uint32_t i = 0; i < f->nnames; i++) gv_xdecref(f->names[i]);
    free(f->localnames);
    free(f->consts);
    free(f->names);
}

/* calloc that never asks for zero bytes (so NULL always means failure). */
static void *alloc(size_t n, size_t size) { return calloc(n ? n : 1, size); }

static bool rd_parts(Reader *r, Parts *f) {
    if (!rd_str(r, "the function name", true, &f->name)) return false;
    size_t at = r->off;
    if (!rd_u32(r, "the parameter count", &f->nparams)) return false;
    uint32_t nlocals;
    if (!rd_count(r, "the local count", MIN_STR, &nlocals)) return false;
    if (f->nparams > nlocals)
        return fail(r, at, "%" PRIu32 " parameters but only %" PRIu32 " locals", f->nparams,
                    nlocals);
    f->localnames = alloc(nlocals, sizeof(GvObject *));
    if (!f->localnames) return fail(r, r->off, "out of memory");
    f->nlocals = nlocals; /* only now, so parts_free sees a real array */
    for (uint32_t i = 0; i < nlocals; i++)
        if (!rd_str(r, "a local name", true, &f->localnames[i])) return false;
    if (!rd_u32(r, "the first line", &f->firstline)) return false;
    size_t flags_at = r->off;
    if (!rd_u32(r, "the function flags", &f->flags)) return false;
    if (f->flags & ~(uint32_t)GV_CODE_ASYNC)
        return fail(r, flags_at, "unknown function flags 0x%" PRIx32, f->flags);

    if (!rd_count(r, "the instruction count", INSTR_SIZE, &f->ninstrs)) return false;
    f->instrs_at = r->off;
    for (uint32_t i = 0; i < f->ninstrs; i++) {
        uint32_t w = 0;
        rd_u32(r, "an instruction", &w); /* in bounds: checked by the count */
        if (GV_OP(w) >= GV_NUM_OPCODES)
            return fail(r, r->off - 4, "unknown opcode %u in instruction %" PRIu32, GV_OP(w), i);
    }
    r->off += (size_t)f->ninstrs * 8; /* positions: any value is fine */

    uint32_t nconsts;
    if (!rd_count(r, "the constant count", MIN_CONST, &nconsts)) return false;
    f->consts = alloc(nconsts, sizeof(GvValue)); /* zeroed: none */
    if (!f->consts) return fail(r, r->off, "out of memory");
    f->nconsts = nconsts;
    for (uint32_t i = 0; i < nconsts; i++)
        if (!rd_const(r, &f->consts[i])) return false;

    uint32_t nnames;
    if (!rd_count(r, "the name count", MIN_STR, &nnames)) return false;
    f->names = alloc(nnames, sizeof(GvObject *));
    if (!f->names) return fail(r, r->off, "out of memory");
    f->nnames = nnames;
    for (uint32_t i = 0; i < nnames; i++)
        if (!rd_str(r, "a global name", true, &f->names[i])) return false;

    if (!rd_count(r, "the exception entry count", EXC_SIZE, &f->nexc)) return false;
    f->exc_at = r->off;
    r->off += (size_t)f->nexc * EXC_SIZE;
    return true;
}

static uint32_t u32_at(const Reader *r, size_t off) {
    const uint8_t *b = r->data + off;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Moves the parts into a new code object (the parts are left empty). */
static GvCode *build_code(Reader *r, Parts *f, GvObject *filename) {
    GvCode *c = gv_code_new(f->name, filename, f->nparams, f->nlocals, f->ninstrs, f->nconsts,
                            f->nnames, f->nexc);
    if (!c) {
        fail_nomem(r);
        return NULL;
    }
    c->firstline = f->firstline;
    c->flags = (uint8_t)f->flags;
    /* Ownership of the objects passes to the code; the temporary arrays go. */
    memcpy(c->localnames, f->localnames, f->nlocals * sizeof(GvObject *));
    memcpy(c->consts, f->consts, f->nconsts * sizeof(GvValue));
    memcpy(c->names, f->names, f->nnames * sizeof(GvObject *));
    f->nlocals = f->nconsts = f->nnames = 0;

    size_t off = f->instrs_at;
    for (uint32_t i = 0; i < f->ninstrs; i++, off += 4) c->instrs[i] = u32_at(r, off);
    for (uint32_t i = 0; i < f->ninstrs; i++, off += 8) {
        c->pos[i].line = u32_at(r, off);
        c->pos[i].col = u32_at(r, off + 4);
    }
    off = f->exc_at;
    for (uint32_t i = 0; i < f->nexc; i++, off += EXC_SIZE) {
        GvExcEntry *e = &c->exc[i];
        e->start = u32_at(r, off);
        e->end = u32_at(r, off + 4);
        e->handler = u32_at(r, off + 8);
        e->pos.line = u32_at(r, off + 12);
        e->pos.col = u32_at(r, off + 16);
        e->depth = e->exc_depth = 0; /* the verifier's to fill */
    }
    return c;
}

static void program_free(GvProgram *p) {
    for (uint32_t i = 0; i < p->ncode; i++)
        if (p->code[i]) gv_decref(&p->code[i]->ob);
    gv_xdecref(p->filename);
    free(p->code);
    free(p);
}

GvProgram *gv_bytecode_load(const uint8_t *data, size_t len, const char *filename, GvDiag *diag) {
    Reader r = {data, data ? len : 0, 0, filename ? filename : "<bytecode>", diag};
    if (diag) memset(diag, 0, sizeof *diag); /* as every loading entry point does */
    if (!gv_bytecode_is(data, len)) {
        const char *why = damaged_because(data, len, filename);
        gv_diag_set(diag, r.file, 0, 0, "not a gilvm bytecode file (bad magic number)%s%s",
                    why ? "; " : "", why ? why : "");
        return NULL;
    }
    r.off = 4;
    uint32_t version;
    if (!rd_u32(&r, "the version", &version)) return NULL;
    if (version != GV_BYTECODE_VERSION) {
        gv_diag_set(diag, r.file, 0, 0,
                    "unsupported bytecode version %" PRIu32 " (this gilvm reads version %u)",
                    version, GV_BYTECODE_VERSION);
        return NULL;
    }

    GvObject *srcname = NULL;
    if (!rd_str(&r, "the source filename", true, &srcname)) return NULL;
    uint32_t nfuncs;
    if (!rd_count(&r, "the function count", MIN_FUNC, &nfuncs)) {
        gv_decref(srcname);
        return NULL;
    }
    GvProgram *p = gv_program_new(srcname, nfuncs);
    gv_decref(srcname); /* the program holds it now */
    if (!p) {
        fail_nomem(&r);
        return NULL;
    }
    for (uint32_t i = 0; i < nfuncs; i++) {
        Parts f = {0};
        bool ok = rd_parts(&r, &f);
        if (ok) {
            p->code[i] = build_code(&r, &f, p->filename);
            ok = p->code[i] != NULL;
        }
        parts_free(&f);
        if (!ok) {
            program_free(p);
            return NULL;
        }
    }
    if (r.off != r.len) {
        fail(&r, r.off, "%zu trailing bytes after the last function", r.len - r.off);
        program_free(p);
        return NULL;
    }
    return p;
}
