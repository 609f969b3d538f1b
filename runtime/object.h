/* The object model: tagged values and refcounted heap objects.
 *
 * A GvValue is 16 bytes: a tag and a payload. Ints (int64), floats, bools and
 * none live in the value itself and cost nothing to copy; everything else is a
 * pointer to a heap object that starts with GvObject and is reference counted.
 * This is Lua's TValue with CPython's refcounting: arithmetic never allocates,
 * and objects die as soon as the last reference goes.
 *
 * Refcounts are plain (not atomic): every thread that touches an object holds
 * the GIL. Static objects (the builtin exception types) are immortal: their
 * count starts huge and dealloc is never reached.
 *
 * Reference conventions, as in CPython: a function that returns a GvValue or
 * an object pointer returns a NEW (strong) reference unless its comment says
 * "borrowed"; functions taking values borrow them unless they say "steals".
 * Fallible functions return 0 / non-NULL on success and -1 / NULL with the
 * thread's current exception set on failure. */
#ifndef GV_OBJECT_H
#define GV_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gilvm.h"

/* Marks a function that runs only on a rare path (an error, a hook, a stack
 * chunk switch). GCC and clang then treat every branch that leads to a call
 * of it as unlikely: they move that code out of the hot path and keep the
 * registers for the rest, as a profile would tell them (measured in
 * bench/README.md, "PGO and compilers"). */
#if defined(__GNUC__)
#define GV_COLD __attribute__((cold))
#else
#define GV_COLD
#endif

typedef enum GvTag {
    GV_TNONE = 0,
    GV_TBOOL,
    GV_TINT,
    GV_TFLOAT,
    GV_TOBJ,
} GvTag;

/* Kinds of heap object; the first field of every object says which. */
typedef enum GvKind {
    GV_KSTR = 1,
    GV_KLIST,
    GV_KDICT,
    GV_KFUNC,     /* a bytecode function: code + its globals */
    GV_KBUILTIN,  /* a C function callable from bytecode */
    GV_KCODE,
    GV_KEXC,      /* an exception instance */
    GV_KTYPE,     /* an exception type (the only classes programs see) */
    GV_KTRACEBACK,
    GV_KNATIVE,   /* runtime-defined objects with a destructor: locks, queues, threads */
    GV_KGENFUNC,  /* a bytecode function whose code is a generator's (GvFunction too):
                     a kind of its own so that CALL's test for GV_KFUNC, its fast
                     path, stays the only one it makes */
    GV_KGEN,      /* a generator or async generator (runtime/gen.h): laid out as a
                     GvNative with a clear, but closed (code runs) before it is freed */
} GvKind;

/* The header of every heap object. */
struct GvObject {
    int64_t refcnt;
    uint32_t kind;   /* GvKind */
    uint32_t flags;  /* GV_OBJ_* */
};

#define GV_OBJ_STATIC 0x1u  /* immortal: never freed */
#define GV_OBJ_TRACKED 0x2u /* a container on the interpreter's list (see gv_track) */

typedef struct GvValue {
    uint32_t tag; /* GvTag */
    uint32_t pad_;
    union {
        int64_t i; /* int, and bool (0 or 1) */
        double f;
        GvObject *o;
    } as;
} GvValue;

_Static_assert(sizeof(GvValue) == 16, "GvValue is two words");

/* ---- constructors and tests (no allocation, no failure) ---- */
static inline GvValue gv_none(void) { GvValue v = {GV_TNONE, 0, {.i = 0}}; return v; }
static inline GvValue gv_bool(bool b) { GvValue v = {GV_TBOOL, 0, {.i = b ? 1 : 0}}; return v; }
static inline GvValue gv_int(int64_t i) { GvValue v = {GV_TINT, 0, {.i = i}}; return v; }
static inline GvValue gv_float(double f) { GvValue v = {GV_TFLOAT, 0, {.f = f}}; return v; }
/* Wraps an object pointer: borrows it (no incref). */
static inline GvValue gv_obj(GvObject *o) { GvValue v = {GV_TOBJ, 0, {.o = o}}; return v; }

static inline bool gv_is_none(GvValue v) { return v.tag == GV_TNONE; }
static inline bool gv_is_bool(GvValue v) { return v.tag == GV_TBOOL; }
static inline bool gv_is_int(GvValue v) { return v.tag == GV_TINT; }
/* int or bool: bool is a subtype of int */
static inline bool gv_is_intlike(GvValue v) { return v.tag == GV_TINT || v.tag == GV_TBOOL; }
static inline bool gv_is_float(GvValue v) { return v.tag == GV_TFLOAT; }
static inline bool gv_is_obj(GvValue v) { return v.tag == GV_TOBJ; }
static inline bool gv_is_kind(GvValue v, GvKind k) { return v.tag == GV_TOBJ && v.as.o->kind == (uint32_t)k; }

/* ---- reference counting ---- */
void gv_dealloc(GvObject *o); /* called when a count reaches zero */

/* Static objects (the exception types, the static MemoryError) are shared
 * by every interpreter, whose threads run in parallel under different GILs:
 * their count is never touched (immortal, as in CPython 3.12), so there is
 * no race on it. Every other object belongs to one interpreter. */
static inline void gv_incref(GvObject *o) {
    if (!(o->flags & GV_OBJ_STATIC)) o->refcnt++;
}
static inline void gv_decref(GvObject *o) {
    if (o->flags & GV_OBJ_STATIC) return;
    if (--o->refcnt == 0) gv_dealloc(o);
}
static inline void gv_xdecref(GvObject *o) {
    if (o) gv_decref(o);
}
static inline GvValue gv_vincref(GvValue v) {
    if (v.tag == GV_TOBJ) gv_incref(v.as.o);
    return v;
}
static inline void gv_vdecref(GvValue v) {
    if (v.tag == GV_TOBJ) gv_decref(v.as.o);
}

/* Destructors, one per kind, called by gv_dealloc (each in its type's file). */
void gv_str_dealloc(GvObject *o);
void gv_list_dealloc(GvObject *o);
void gv_dict_dealloc(GvObject *o);
void gv_function_dealloc(GvObject *o);
void gv_builtin_dealloc(GvObject *o);
void gv_code_dealloc(GvObject *o);
void gv_exc_dealloc(GvObject *o);
void gv_traceback_dealloc(GvObject *o);
void gv_native_dealloc(GvObject *o);

/* ---- tracking containers so that reference cycles are freed at exit ----
 * Refcounting alone never frees a list that contains itself. Every list and
 * dict, and every native object that holds references (queues, thread
 * handles), is linked into the interpreter's list of containers;
 * finalization empties all of them, which breaks any cycle (see
 * gv_containers_clear). */
typedef struct GvTracked {
    struct GvTracked *prev, *next;
} GvTracked;

/* Objects the runtime defines outside the core kinds (locks, queues, thread
 * handles): a GvNative header and a type with a name and a destructor. */
typedef struct GvNativeType {
    const char *name;              /* type_name() */
    void (*dealloc)(GvObject *o);  /* frees what the object owns, not the object */
    /* Drops every reference the object holds, leaving it empty but valid;
     * NULL if it holds none. Called by finalization, when no other thread
     * runs, to break cycles such as a queue that contains itself. A type
     * with a clear is tracked like a list. */
    void (*clear)(GvObject *o);
} GvNativeType;
typedef struct GvNative {
    GvObject ob;
    GvTracked link;  /* at the same offset as a list's: the trashcan and the
                        container list treat both alike */
    const GvNativeType *type;
} GvNative;

/* A zeroed native object of `size` bytes (a struct that starts with a
 * GvNative) with one reference, tracked if its type has a clear. */
GvObject *gv_native_new(const GvNativeType *type, size_t size);

/* ---- allocation ----
 * Everything a program can make grow (objects, list items, dict tables, str
 * data, buffers, queue rings, data-stack chunks) is allocated here and counted
 * against the memory limit (Gv_SetMemoryLimit; see object.c for why a count
 * and not setrlimit). The rule that keeps the count right: memory from
 * gv_malloc/gv_calloc/gv_realloc/gv_mem_alloc is released with gv_free,
 * never free(); memory from plain malloc never goes to gv_free. */
/* Allocates a zeroed object of `size` bytes with refcount 1. On failure sets
 * MemoryError and returns NULL. */
GvObject *gv_object_new(GvKind kind, size_t size);
/* malloc/realloc/calloc that raise MemoryError on failure, on size overflow
 * and past the memory limit. gv_realloc leaves p valid when it fails. */
void *gv_malloc(size_t size);
void *gv_realloc(void *p, size_t size);
void *gv_calloc(size_t n, size_t size);
/* The same without raising, for callers with no thread state or holding a
 * lock: NULL on failure. Flags: GV_MEM_ZERO zeroes the block; GV_MEM_NO_LIMIT
 * counts it but never refuses it (small fixed blocks that error handling
 * itself needs); GV_MEM_ANY_THREAD for a block that may be allocated or freed
 * by a thread without the GIL (every other counted block is allocated and
 * freed with the GIL held). */
#define GV_MEM_ZERO 0x1u
#define GV_MEM_NO_LIMIT 0x2u
#define GV_MEM_ANY_THREAD 0x4u
void *gv_mem_alloc(size_t size, unsigned flags);
/* Releases a block from gv_mem_alloc: the same GV_MEM_ANY_THREAD flag as it
 * was allocated with. NULL is allowed. */
void gv_mem_free(void *p, unsigned flags);
/* Stops counting a block from gv_mem_alloc that is deliberately kept for the
 * process's lifetime (a thread state's tombstone); it is never freed. */
void gv_mem_forget(void *p, unsigned flags);
/* Releases a block from gv_malloc, gv_calloc, gv_realloc or gv_mem_alloc
 * without GV_MEM_ANY_THREAD; the GIL is held. NULL is allowed. */
void gv_free(void *p);
/* Bytes those allocations hold now (as malloc_usable_size counts them);
 * signed, so that a count gone below zero (a gv_free of memory that was
 * never counted) shows. Gv_GetMemoryUsage is the public, clamped form. */
int64_t gv_mem_in_use(void);
/* A second interpreter exists: from now on blocks counted "under the GIL"
 * are counted with atomic adds, as several GILs no longer order them. */
void gv_mem_set_shared(void);

/* ---- generic operations on values (runtime/object.c) ---- */
const char *gv_type_name(GvValue v);      /* Python's name: "int", "str", "ValueError", ... */
bool gv_truthy(GvValue v);                /* Python truthiness; never fails */
/* ==: 1 == 1.0, lists/dicts by value, the rest by identity. -1 on error
 * (recursion too deep), else 0/1. */
int gv_equal(GvValue a, GvValue b);
/* Ordering: op is one of '<' 'l'(<=) '>' 'g'(>=). Returns 0/1, or -1 with
 * TypeError set for unrelated types. */
int gv_compare(GvValue a, GvValue b, int op);
/* str(v) / repr(v) as new str objects; NULL on failure. */
GvObject *gv_str(GvValue v);
GvObject *gv_repr(GvValue v);
/* Hash for dict keys: int, float, bool, str, none (equal keys hash equal,
 * 1 == 1.0 == true). -1 with TypeError set for other kinds. */
int gv_hash(GvValue v, uint64_t *out);

/* ---- arithmetic (runtime/number.c): exact, raise instead of UB ---- */
/* op is a GvBinop; result is a new reference on success. */
typedef enum GvBinop {
    GV_OP_ADD, GV_OP_SUB, GV_OP_MUL, GV_OP_DIV, GV_OP_FLOORDIV, GV_OP_MOD,
} GvBinop;
int gv_binary_op(GvBinop op, GvValue a, GvValue b, GvValue *out);
int gv_negate(GvValue a, GvValue *out);

#endif
