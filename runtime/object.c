/* Generic operations on values: allocation, deallocation, type names,
 * truthiness, equality, ordering, hashing, str() and repr().
 *
 * Everything here follows Python's answer: 1 == 1.0 == True, lists and dicts
 * compare by value, floats print in the shortest form that reads back to the
 * same double. Recursive operations on containers (==, <, repr) carry a
 * depth and raise RecursionError past GV_NEST_LIMIT instead of running off the
 * C stack; deallocation is made iterative by a trashcan (below). */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "code.h"
#include "dict.h"
#include "errors.h"
#include "exc.h"
#include "func.h"
#include "list.h"
#include "object.h"
#include "str.h"
#include "gen.h"
#include "tstate.h"

#if defined(__APPLE__)
#include <malloc/malloc.h>
#define usable_size(p) malloc_size(p)
#else
#include <malloc.h> /* malloc_usable_size: glibc, musl, Android */
#define usable_size(p) malloc_usable_size(p)
#endif

/* How deep ==, ordering and repr may recurse into nested containers. Python
 * stops at its recursion limit (1000); so do we, whatever the thread's stack. */
#define GV_NEST_LIMIT 1000

/* ---- allocation and the memory limit ----
 *
 * A program whose list grows forever should see MemoryError, not the OOM
 * killer. On Linux malloc almost never fails (memory is overcommitted), so the
 * VM counts what it allocates itself and refuses an allocation that would
 * take the count past the limit (Gv_SetMemoryLimit; `gilvm run
 * --max-memory`). Why a count rather than setrlimit(RLIMIT_AS or RLIMIT_DATA):
 * - an rlimit limits the whole process: an embedder's own memory, every
 *   thread's stack (8 MiB of address space each, counted by RLIMIT_AS and,
 *   on kernels since 4.7, by RLIMIT_DATA) and the sanitizers' shadow memory
 *   (terabytes of reserved address space: ASan and TSan builds could not run
 *   at all); and it makes *every* malloc fail, libc's own and those that
 *   error reporting needs included;
 * - a count limits exactly what programs make grow, fails only the
 *   allocation that crosses the line (with MemoryError, which a program may
 *   catch and go on), and works the same under every sanitizer.
 * The price is discipline: every release of counted memory goes through
 * gv_free (see object.h). Sizes are malloc_usable_size's, so the count is
 * what the blocks really hold, and a block freed the wrong way only makes the
 * count drift (it never corrupts memory; test_api_misuse checks that the
 * count returns to zero after Gv_Finalize).
 *
 * Two counters, because an atomic read-modify-write per allocation and per
 * free cost 35% of the time of an allocation-heavy loop (2M iterations each
 * making a list, a str and a dict, and freeing the last ones: 0.41 s ->
 * 0.57 s user time), while a relaxed load and store (and malloc_usable_size)
 * cost 7% (0.41 s -> 0.44 s); code that does not allocate pays nothing:
 * - `in_use_gil` counts blocks allocated and freed only by a thread holding
 *   the GIL (objects and everything they own): the GIL orders the updates,
 *   so a relaxed load and store suffice;
 * - `in_use_any` counts blocks that may come and go without the GIL (data-
 *   stack chunks: thread states are made and freed by threads without it),
 *   updated with atomic adds (GV_MEM_ANY_THREAD; rare).
 * Both are process-wide, like malloc: memory is allocated where there is no
 * thread state (finalization, thread states being made). Every allocation
 * the limit may refuse is made with the GIL, so the GIL orders the checks
 * too; GV_MEM_NO_LIMIT blocks (a thread state's first chunk, a MemoryError
 * instance) are counted but never refused. */

static _Atomic int64_t in_use_gil; /* under the GIL: relaxed load + store */
static _Atomic int64_t in_use_any; /* any thread: atomic adds */
static _Atomic int64_t mem_limit = INT64_MAX;
/* Set when a second interpreter is made (never unset): its threads run under
 * another GIL, so in_use_gil needs atomic adds too. One relaxed load per
 * allocation while there is one interpreter. */
static _Atomic bool mem_shared;

void gv_mem_set_shared(void) { atomic_store_explicit(&mem_shared, true, memory_order_relaxed); }

void Gv_SetMemoryLimit(size_t bytes) {
    int64_t lim = bytes == 0 || bytes > (size_t)INT64_MAX ? INT64_MAX : (int64_t)bytes;
    atomic_store_explicit(&mem_limit, lim, memory_order_relaxed);
}

int64_t gv_mem_in_use(void) {
    return atomic_load_explicit(&in_use_gil, memory_order_relaxed) +
           atomic_load_explicit(&in_use_any, memory_order_relaxed);
}

size_t Gv_GetMemoryUsage(void) {
    int64_t n = gv_mem_in_use();
    return n > 0 ? (size_t)n : 0;
}

/* Would `more` bytes take the count past the limit? */
static bool over_limit(size_t more) {
    int64_t lim = atomic_load_explicit(&mem_limit, memory_order_relaxed);
    if (lim == INT64_MAX) return false;
    return more > (size_t)lim || gv_mem_in_use() > lim - (int64_t)more;
}

static void count(int64_t n, unsigned flags) {
    if (flags & GV_MEM_ANY_THREAD)
        atomic_fetch_add_explicit(&in_use_any, n, memory_order_relaxed);
    else if (atomic_load_explicit(&mem_shared, memory_order_relaxed))
        atomic_fetch_add_explicit(&in_use_gil, n, memory_order_relaxed);
    else
        atomic_store_explicit(&in_use_gil, atomic_load_explicit(&in_use_gil, memory_order_relaxed) + n,
                              memory_order_relaxed);
}

void *gv_mem_alloc(size_t size, unsigned flags) {
    if (size == 0) size = 1;
    if (!(flags & GV_MEM_NO_LIMIT) && over_limit(size)) return NULL;
    void *p = flags & GV_MEM_ZERO ? calloc(1, size) : malloc(size);
    if (p) count((int64_t)usable_size(p), flags);
    return p;
}

void gv_mem_free(void *p, unsigned flags) {
    if (!p) return;
    count(-(int64_t)usable_size(p), flags);
    free(p);
}

void gv_mem_forget(void *p, unsigned flags) {
    if (p) count(-(int64_t)usable_size(p), flags);
}

void gv_free(void *p) { gv_mem_free(p, 0); }

void *gv_malloc(size_t size) {
    void *p = gv_mem_alloc(size, 0);
    if (!p) gv_err_nomemory();
    return p;
}

void *gv_realloc(void *p, size_t size) {
    if (size == 0) size = 1;
    size_t old = p ? usable_size(p) : 0;
    if (size > old && over_limit(size - old)) {
        gv_err_nomemory();
        return NULL;
    }
    void *q = realloc(p, size);
    if (!q) {
        gv_err_nomemory();
        return NULL;
    }
    count((int64_t)usable_size(q) - (int64_t)old, 0);
    return q;
}

void *gv_calloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) {
        gv_err_nomemory();
        return NULL;
    }
    void *p = gv_mem_alloc(n * size, GV_MEM_ZERO);
    if (!p) gv_err_nomemory();
    return p;
}

GvObject *gv_object_new(GvKind kind, size_t size) {
    assert(size >= sizeof(GvObject));
    GvObject *o = gv_calloc(1, size);
    if (!o) return NULL;
    o->refcnt = 1;
    o->kind = (uint32_t)kind;
    return o;
}

/* ---- deallocation: the trashcan ----
 * Freeing a list frees its items, which may be lists: done naively, a list
 * nested a million deep recurses a million C frames. Instead, a container
 * whose count drops to zero while another container is already being freed
 * on this thread is not freed on the spot but pushed on a per-thread list of
 * dead containers, and the outermost gv_dealloc frees them one after another.
 * The C stack stays two frames deep whatever the nesting. "Container" here is
 * every kind that can hold an arbitrary value: lists, dicts, natives with a
 * clear (queues, thread handles) and exceptions (their arg and context).
 *
 * The dead containers are chained through their (no longer needed) `link`
 * field, so deferring never allocates. The state is per OS thread rather than
 * on GvThreadState because objects also die where there is no thread state
 * (during finalization); it holds only dead objects, never interpreter data. */
typedef struct Trash {
    int active;       /* a container is being freed on this thread */
    GvTracked *head;  /* dead containers waiting, chained through link.next */
} Trash;
static _Thread_local Trash trash;

_Static_assert(offsetof(GvList, link) == offsetof(GvDict, link) &&
                   offsetof(GvList, link) == offsetof(GvNative, link) &&
                   offsetof(GvList, link) == offsetof(GvException, link),
               "the trashcan finds the link of a list, a dict, a native and an exception at the same place");

static GvTracked *link_of(GvObject *o) { return &((GvList *)o)->link; }
static GvObject *object_of(GvTracked *l) {
    return (GvObject *)((char *)l - offsetof(GvList, link));
}

/* GvNative is declared with the object model, so its generic destructor
 * lives here: the type frees what the object owns, then the object goes. */
void gv_native_dealloc(GvObject *o) {
    GvNative *n = (GvNative *)o;
    if (n->type && n->type->dealloc) n->type->dealloc(o);
    gv_free(o);
}

GvObject *gv_native_new(const GvNativeType *type, size_t size) {
    assert(size >= sizeof(GvNative));
    GvNative *n = (GvNative *)gv_object_new(GV_KNATIVE, size);
    if (!n) return NULL;
    n->type = type;
    if (type->clear) {
        gv_track(&n->link);
        n->ob.flags |= GV_OBJ_TRACKED;
    }
    return &n->ob;
}

static void free_container(GvObject *o) {
    switch ((GvKind)o->kind) {
    case GV_KLIST: gv_list_dealloc(o); return;
    case GV_KDICT: gv_dict_dealloc(o); return;
    case GV_KEXC: gv_exc_dealloc(o); return;
    default: gv_native_dealloc(o); return;
    }
}

void gv_dealloc(GvObject *o) {
    if (o->flags & GV_OBJ_STATIC) {
        /* Immortal: a stray extra decref must not free it; re-arm the count. */
        o->refcnt = INT64_MAX / 2;
        return;
    }
    switch ((GvKind)o->kind) {
    case GV_KSTR: gv_str_dealloc(o); return;
    case GV_KLIST:
    case GV_KDICT: break;
    case GV_KFUNC: gv_function_dealloc(o); return;
    case GV_KBUILTIN: gv_builtin_dealloc(o); return;
    case GV_KCODE: gv_code_dealloc(o); return;
    case GV_KEXC: break; /* its arg and context nest: through the trashcan */
    case GV_KTYPE: return; /* types are static */
    case GV_KTRACEBACK: gv_traceback_dealloc(o); return;
    case GV_KGENFUNC: gv_function_dealloc(o); return;
    case GV_KGEN:
        /* Closing it may run code, which may store it somewhere again. */
        o->refcnt = 1;
        gv_gen_finalize(o);
        if (--o->refcnt > 0) return;
        break; /* then freed as a container (a GvNative) */
    case GV_KNATIVE:
        /* One that holds no references cannot nest: free it now. */
        if (!((GvNative *)o)->type->clear) {
            gv_native_dealloc(o);
            return;
        }
        break;
    }
    /* A container (a queue nested in a queue nests as deep as a list in a
     * list): off the interpreter's list first, which also frees its
     * link for chaining in the trashcan. */
    if (o->flags & GV_OBJ_TRACKED) {
        gv_untrack(link_of(o));
        o->flags &= ~GV_OBJ_TRACKED;
    }
    if (trash.active) {
        link_of(o)->next = trash.head;
        trash.head = link_of(o);
        return;
    }
    trash.active = 1;
    free_container(o);
    while (trash.head) {
        GvTracked *l = trash.head;
        trash.head = l->next;
        free_container(object_of(l));
    }
    trash.active = 0;
}

/* ---- type names and truthiness ---- */

const char *gv_type_name(GvValue v) {
    switch ((GvTag)v.tag) {
    case GV_TNONE: return "NoneType";
    case GV_TBOOL: return "bool";
    case GV_TINT: return "int";
    case GV_TFLOAT: return "float";
    case GV_TOBJ: break;
    }
    GvObject *o = v.as.o;
    switch ((GvKind)o->kind) {
    case GV_KSTR: return "str";
    case GV_KLIST: return "list";
    case GV_KDICT: return "dict";
    case GV_KFUNC:
    case GV_KGENFUNC: return "function";
    case GV_KBUILTIN: return "builtin_function_or_method";
    case GV_KCODE: return "code";
    case GV_KEXC: return ((GvException *)o)->type->name;
    case GV_KTYPE: return "type";
    case GV_KTRACEBACK: return "traceback";
    case GV_KNATIVE:
    case GV_KGEN: return ((GvNative *)o)->type->name;
    }
    return "object";
}

bool gv_truthy(GvValue v) {
    switch ((GvTag)v.tag) {
    case GV_TNONE: return false;
    case GV_TBOOL:
    case GV_TINT: return v.as.i != 0;
    case GV_TFLOAT: return v.as.f != 0.0; /* nan is true, as in Python */
    case GV_TOBJ: break;
    }
    switch ((GvKind)v.as.o->kind) {
    case GV_KSTR: return ((GvStr *)v.as.o)->size != 0;
    case GV_KLIST: return ((GvList *)v.as.o)->size != 0;
    case GV_KDICT: return ((GvDict *)v.as.o)->used != 0;
    default: return true;
    }
}

/* ---- numbers ---- */

static bool is_number(GvValue v) {
    return v.tag == GV_TINT || v.tag == GV_TBOOL || v.tag == GV_TFLOAT;
}

#define UNORDERED 2

/* Compares an int with a double exactly (no rounding of large ints):
 * -1, 0, 1, or UNORDERED for nan. */
static int int_float_cmp(int64_t i, double d) {
    if (isnan(d)) return UNORDERED;
    if (d >= 9223372036854775808.0) return -1; /* 2^63: above every int64 */
    if (d < -9223372036854775808.0) return 1;
    double fl = floor(d);
    int64_t t = (int64_t)fl; /* exact: fl is integral and in range */
    if (i < t) return -1;
    if (i > t) return 1;
    return d > fl ? -1 : 0;
}

/* Numeric three-way comparison of two numbers (int, bool, float). */
static int num_cmp(GvValue a, GvValue b) {
    bool af = a.tag == GV_TFLOAT, bf = b.tag == GV_TFLOAT;
    if (!af && !bf) return a.as.i < b.as.i ? -1 : a.as.i > b.as.i;
    if (af && bf) {
        if (isnan(a.as.f) || isnan(b.as.f)) return UNORDERED;
        return a.as.f < b.as.f ? -1 : a.as.f > b.as.f;
    }
    if (bf) return int_float_cmp(a.as.i, b.as.f);
    int r = int_float_cmp(b.as.i, a.as.f);
    return r == UNORDERED ? r : -r;
}

/* ---- equality ---- */

static int eq(GvValue a, GvValue b, int depth);

static int list_eq(GvList *a, GvList *b, int depth) {
    if (a->size != b->size) return 0;
    for (size_t i = 0; i < a->size && i < b->size; i++) {
        int r = eq(a->items[i], b->items[i], depth + 1);
        if (r != 1) return r;
    }
    return 1;
}

static int dict_eq(GvDict *a, GvDict *b, int depth) {
    if (a->used != b->used) return 0;
    size_t it = 0;
    GvValue k, v;
    while (gv_dict_next(a, &it, &k, &v)) {
        GvValue w;
        int found = gv_dict_get(b, k, &w);
        if (found <= 0) return found;
        int r = eq(v, w, depth + 1);
        gv_vdecref(w);
        if (r != 1) return r;
    }
    return 1;
}

static int eq(GvValue a, GvValue b, int depth) {
    if (is_number(a) && is_number(b)) return num_cmp(a, b) == 0;
    if (a.tag != b.tag) return 0;
    if (a.tag == GV_TNONE) return 1;
    GvObject *x = a.as.o, *y = b.as.o;
    if (x == y) return 1; /* identity implies equality, as Python's containers assume */
    if (x->kind != y->kind) return 0;
    switch ((GvKind)x->kind) {
    case GV_KSTR: return gv_str_equal((GvStr *)x, (GvStr *)y);
    case GV_KLIST:
    case GV_KDICT:
        if (depth >= GV_NEST_LIMIT)
            return gv_err_format(&gv_type_RecursionError,
                                 "maximum recursion depth exceeded in comparison");
        return x->kind == GV_KLIST ? list_eq((GvList *)x, (GvList *)y, depth)
                                   : dict_eq((GvDict *)x, (GvDict *)y, depth);
    default: return 0;
    }
}

int gv_equal(GvValue a, GvValue b) { return eq(a, b, 0); }

/* ---- ordering ---- */

static const char *op_symbol(int op) {
    switch (op) {
    case '<': return "<";
    case 'l': return "<=";
    case '>': return ">";
    default: return ">=";
    }
}

/* Applies op to a three-way result c (-1, 0, 1, or UNORDERED). */
static int apply_op(int c, int op) {
    if (c == UNORDERED) return 0;
    switch (op) {
    case '<': return c < 0;
    case 'l': return c <= 0;
    case '>': return c > 0;
    default: return c >= 0;
    }
}

static int cmp(GvValue a, GvValue b, int op, int depth) {
    if (is_number(a) && is_number(b)) return apply_op(num_cmp(a, b), op);
    if (gv_is_kind(a, GV_KSTR) && gv_is_kind(b, GV_KSTR))
        return apply_op(gv_str_compare(gv_as_str(a), gv_as_str(b)), op);
    if (gv_is_kind(a, GV_KLIST) && gv_is_kind(b, GV_KLIST)) {
        if (depth >= GV_NEST_LIMIT)
            return gv_err_format(&gv_type_RecursionError,
                                 "maximum recursion depth exceeded in comparison");
        GvList *x = gv_as_list(a), *y = gv_as_list(b);
        /* The first items that differ decide; if none, the shorter is less. */
        for (size_t i = 0; i < x->size && i < y->size; i++) {
            int r = eq(x->items[i], y->items[i], depth + 1);
            if (r < 0) return -1;
            if (!r) return cmp(x->items[i], y->items[i], op, depth + 1);
        }
        int c = x->size < y->size ? -1 : x->size > y->size;
        return apply_op(c, op);
    }
    return gv_err_format(&gv_type_TypeError,
                         "'%s' not supported between instances of '%s' and '%s'",
                         op_symbol(op), gv_type_name(a), gv_type_name(b));
}

int gv_compare(GvValue a, GvValue b, int op) { return cmp(a, b, op, 0); }

/* ---- hashing ---- */

static uint64_t hash_int(int64_t i) {
    /* splitmix64's finalizer: consecutive ints spread over the low bits. */
    uint64_t x = (uint64_t)i;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

int gv_hash(GvValue v, uint64_t *out) {
    switch ((GvTag)v.tag) {
    case GV_TNONE: *out = 0x6e6f6e65ull; return 0;
    case GV_TBOOL:
    case GV_TINT: *out = hash_int(v.as.i); return 0;
    case GV_TFLOAT: {
        double d = v.as.f;
        /* An integral float equal to an int must hash as that int. */
        if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && floor(d) == d) {
            *out = hash_int((int64_t)d);
        } else {
            uint64_t bits;
            memcpy(&bits, &d, sizeof bits);
            *out = hash_int((int64_t)(bits ^ 0x5bd1e9955bd1e995ull));
        }
        return 0;
    }
    case GV_TOBJ: break;
    }
    if (v.as.o->kind == GV_KSTR) {
        *out = gv_str_hash((GvStr *)v.as.o);
        return 0;
    }
    return gv_err_format(&gv_type_TypeError, "unhashable type: '%s'", gv_type_name(v));
}

/* ---- float repr: shortest round-trip digits ---- */

/* Finds the shortest decimal digit string that reads back as x (x finite,
 * > 0): digits[0..*ndigits) with the value 0.DIGITS * 10^*decpt. Among strings
 * of that length it takes the one nearest x, as Python does. printf rounds
 * correctly, so the nearest p-digit string is "%.{p-1}e"; when it misses, a
 * neighbour one unit away in the last digit can still round-trip (the
 * rounding interval is lopsided at powers of two), so those are tried too. */
static void shortest_digits(double x, char *digits, int *ndigits, int *decpt) {
    char buf[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, x);
        /* buf is "D.DDDDe[+-]XX" (or "De[+-]XX" when p == 1) */
        char d[24];
        int n = 0;
        const char *s = buf;
        for (; *s != 'e'; s++)
            if (*s != '.') d[n++] = *s;
        int e = atoi(s + 1);
        if (strtod(buf, NULL) == x) {
            memcpy(digits, d, (size_t)n);
            *ndigits = n;
            *decpt = e + 1;
            goto strip;
        }
        if (p < 2) continue;
        uint64_t m = 0, lo = 1;
        for (int k = 0; k < n; k++) m = m * 10 + (uint64_t)(d[k] - '0');
        for (int k = 1; k < n; k++) lo *= 10;
        for (int dir = -1; dir <= 1; dir += 2) {
            uint64_t c = dir < 0 ? m - 1 : m + 1;
            if (c < lo || c >= lo * 10) continue; /* changes length: not this p */
            snprintf(buf, sizeof buf, "%" PRIu64 "e%d", c, e - (n - 1));
            if (strtod(buf, NULL) == x) {
                snprintf(d, sizeof d, "%" PRIu64, c);
                memcpy(digits, d, (size_t)n);
                *ndigits = n;
                *decpt = e + 1;
                goto strip;
            }
        }
    }
    /* Unreachable: 17 significant digits always round-trip. */
    snprintf(buf, sizeof buf, "%.16e", x);
    digits[0] = buf[0];
    memcpy(digits + 1, buf + 2, 16);
    *ndigits = 17;
    *decpt = atoi(buf + 19) + 1;
strip:
    while (*ndigits > 1 && digits[*ndigits - 1] == '0') (*ndigits)--;
}

static int float_repr(GvBuf *b, double x) {
    if (isnan(x)) return gv_buf_puts(b, "nan");
    if (isinf(x)) return gv_buf_puts(b, x < 0 ? "-inf" : "inf");
    if (signbit(x)) gv_buf_puts(b, "-");
    x = fabs(x);
    if (x == 0.0) return gv_buf_puts(b, "0.0");
    char d[20];
    int n, decpt;
    shortest_digits(x, d, &n, &decpt);
    if (decpt > 16 || decpt < -3) {
        /* Python switches to exponent form outside 1e-4 <= |x| < 1e16. */
        gv_buf_append(b, d, 1);
        if (n > 1) {
            gv_buf_puts(b, ".");
            gv_buf_append(b, d + 1, (size_t)(n - 1));
        }
        int e = decpt - 1;
        return gv_buf_printf(b, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    if (decpt <= 0) {
        gv_buf_puts(b, "0.");
        for (int k = 0; k < -decpt; k++) gv_buf_puts(b, "0");
        return gv_buf_append(b, d, (size_t)n);
    }
    if (decpt < n) {
        gv_buf_append(b, d, (size_t)decpt);
        gv_buf_puts(b, ".");
        return gv_buf_append(b, d + decpt, (size_t)(n - decpt));
    }
    gv_buf_append(b, d, (size_t)n);
    for (int k = n; k < decpt; k++) gv_buf_puts(b, "0");
    return gv_buf_puts(b, ".0");
}

/* ---- repr and str ---- */

/* The containers whose repr is being built, innermost first: a container
 * met again inside itself prints as [...] or {...}, as in Python. */
typedef struct ReprFrame {
    GvObject *o;
    const struct ReprFrame *outer;
} ReprFrame;

static int repr_into(GvBuf *b, GvValue v, const ReprFrame *outer, int depth);

static int repr_container(GvBuf *b, GvObject *o, const ReprFrame *outer, int depth) {
    bool is_list = o->kind == GV_KLIST;
    for (const ReprFrame *f = outer; f; f = f->outer)
        if (f->o == o) return gv_buf_puts(b, is_list ? "[...]" : "{...}");
    if (depth >= GV_NEST_LIMIT)
        return gv_err_format(&gv_type_RecursionError,
                             "maximum recursion depth exceeded while getting the repr of an object");
    ReprFrame here = {o, outer};
    if (is_list) {
        GvList *l = (GvList *)o;
        gv_buf_puts(b, "[");
        for (size_t i = 0; i < l->size; i++) {
            if (i) gv_buf_puts(b, ", ");
            if (repr_into(b, l->items[i], &here, depth + 1) < 0) return -1;
        }
        return gv_buf_puts(b, "]");
    }
    GvDict *d = (GvDict *)o;
    gv_buf_puts(b, "{");
    size_t it = 0;
    GvValue k, v;
    bool first = true;
    while (gv_dict_next(d, &it, &k, &v)) {
        if (!first) gv_buf_puts(b, ", ");
        first = false;
        if (repr_into(b, k, &here, depth + 1) < 0) return -1;
        gv_buf_puts(b, ": ");
        if (repr_into(b, v, &here, depth + 1) < 0) return -1;
    }
    return gv_buf_puts(b, "}");
}

static int exc_repr(GvBuf *b, GvException *e, const ReprFrame *outer, int depth) {
    gv_buf_puts(b, e->type->name);
    gv_buf_puts(b, "(");
    if (!gv_is_none(e->arg)) {
        if (repr_into(b, e->arg, outer, depth + 1) < 0) return -1;
    } else if (e->message && ((GvStr *)e->message)->size) {
        gv_str_repr_into(b, (GvStr *)e->message);
    }
    return gv_buf_puts(b, ")");
}

static int repr_into(GvBuf *b, GvValue v, const ReprFrame *outer, int depth) {
    switch ((GvTag)v.tag) {
    case GV_TNONE: return gv_buf_puts(b, "None");
    case GV_TBOOL: return gv_buf_puts(b, v.as.i ? "True" : "False");
    case GV_TINT: return gv_buf_printf(b, "%" PRId64, v.as.i);
    case GV_TFLOAT: return float_repr(b, v.as.f);
    case GV_TOBJ: break;
    }
    GvObject *o = v.as.o;
    switch ((GvKind)o->kind) {
    case GV_KSTR: return gv_str_repr_into(b, (GvStr *)o);
    case GV_KLIST:
    case GV_KDICT: return repr_container(b, o, outer, depth);
    case GV_KFUNC:
    case GV_KGENFUNC: {
        GvFunction *f = (GvFunction *)o;
        const char *name = f->code && f->code->name ? gv_str_cstr(f->code->name) : "?";
        return gv_buf_printf(b, "<function %s>", name);
    }
    case GV_KBUILTIN: return gv_buf_printf(b, "<built-in function %s>", ((GvBuiltin *)o)->name);
    case GV_KCODE: {
        GvCode *c = (GvCode *)o;
        return gv_buf_printf(b, "<code object %s>", c->name ? gv_str_cstr(c->name) : "?");
    }
    case GV_KEXC: return exc_repr(b, (GvException *)o, outer, depth);
    case GV_KTYPE: return gv_buf_printf(b, "<class '%s'>", ((GvType *)o)->name);
    case GV_KTRACEBACK: return gv_buf_printf(b, "<traceback object at %p>", (void *)o);
    case GV_KGEN: return gv_gen_repr(b, o);
    case GV_KNATIVE:
        return gv_buf_printf(b, "<%s object at %p>", ((GvNative *)o)->type->name, (void *)o);
    }
    return gv_buf_printf(b, "<object at %p>", (void *)o);
}

GvObject *gv_repr(GvValue v) {
    GvBuf b;
    gv_buf_init(&b);
    GvObject *r = repr_into(&b, v, NULL, 0) < 0 ? NULL : gv_buf_to_str(&b);
    gv_buf_free(&b);
    return r;
}

GvObject *gv_str(GvValue v) {
    if (gv_is_kind(v, GV_KSTR)) {
        gv_incref(v.as.o);
        return v.as.o;
    }
    if (gv_is_kind(v, GV_KEXC)) {
        GvObject *m = gv_as_exc(v)->message;
        if (m) {
            gv_incref(m);
            return m;
        }
        return gv_str_new("", 0);
    }
    return gv_repr(v);
}
