/* What the three fuzz targets share (each target is its own executable and
 * includes this once).
 *
 * A target must behave the same run by fuzz/run.sh or by hand
 * (`./fuzz_exec crash-1234` to reproduce), so the settings that matter live in
 * the binary, not on a command line: the sanitizer options below, the
 * stdout redirection, the memory cap. */
#ifndef GV_FUZZ_COMMON_H
#define GV_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../runtime/code.h"
#include "../runtime/str.h"
#include "gilvm.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GV_FUZZ_ASAN 1
#endif
#endif
#ifndef GV_FUZZ_ASAN
#define GV_FUZZ_ASAN 0
#endif

/* The name programs are assembled under. It must not exist on disk: a
 * traceback reads source lines from the file it names. */
#define GV_FUZZ_FILENAME "<fuzz>"

#define GV_FUZZ_USED __attribute__((used, visibility("default")))

/* UBSan findings are bugs like any crash: stop at the first one (the build
 * also passes -fno-sanitize-recover, this covers builds that do not). */
GV_FUZZ_USED const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

/* Programs print; a fuzzer wants none of it. Without ASan (whose shadow
 * memory needs terabytes of address space) an address-space limit makes
 * malloc fail, as it would on a small machine; with ASan the target's
 * __asan_default_options does the same with max_allocation_size_mb. */
static inline void fuzz_setup(rlim_t address_space_limit) {
    if (!freopen("/dev/null", "w", stdout)) abort();
    if (!GV_FUZZ_ASAN && address_space_limit) {
        struct rlimit rl = {address_space_limit, address_space_limit};
        setrlimit(RLIMIT_AS, &rl);
    }
}

static inline bool fuzz_str_eq(GvObject *a, GvObject *b) {
    if (!a || !b) return a == b;
    return gv_str_equal((GvStr *)a, (GvStr *)b);
}

/* Same kind and the same value, floats bit for bit (so -0.0 and 0.0 differ). */
static inline bool fuzz_const_eq(GvValue a, GvValue b) {
    if (a.tag != b.tag) return false;
    switch (a.tag) {
    case GV_TFLOAT: return memcmp(&a.as.f, &b.as.f, sizeof a.as.f) == 0;
    case GV_TOBJ: return fuzz_str_eq(a.as.o, b.as.o);
    default: return a.as.i == b.as.i;
    }
}

static inline bool fuzz_names_eq(GvObject **a, GvObject **b, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (!fuzz_str_eq(a[i], b[i])) return false;
    return true;
}

static inline bool fuzz_code_eq(const GvCode *a, const GvCode *b) {
    if (!fuzz_str_eq(a->name, b->name) || a->nparams != b->nparams || a->nlocals != b->nlocals ||
        a->ninstrs != b->ninstrs || a->nconsts != b->nconsts || a->nnames != b->nnames ||
        a->nexc != b->nexc)
        return false;
    if (a->ninstrs && memcmp(a->instrs, b->instrs, a->ninstrs * sizeof *a->instrs) != 0)
        return false;
    for (uint32_t i = 0; i < a->nconsts; i++)
        if (!fuzz_const_eq(a->consts[i], b->consts[i])) return false;
    if (!fuzz_names_eq(a->names, b->names, a->nnames) ||
        !fuzz_names_eq(a->localnames, b->localnames, a->nlocals))
        return false;
    for (uint32_t i = 0; i < a->nexc; i++) {
        const GvExcEntry *x = &a->exc[i], *y = &b->exc[i];
        if (x->start != y->start || x->end != y->end || x->handler != y->handler) return false;
    }
    return true;
}

/* Two programs have the same functions, instructions, constants and names
 * (source positions and file names aside): what a disassembly promises to
 * give back when it is assembled again. */
static inline bool fuzz_program_eq(const GvProgram *a, const GvProgram *b) {
    if (a->ncode != b->ncode) return false;
    for (uint32_t i = 0; i < a->ncode; i++)
        if (!fuzz_code_eq(a->code[i], b->code[i])) return false;
    return true;
}

/* ---- allocation failure injection ----
 * The targets link with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc (see
 * fuzz/meson.build), so every allocation the VM makes comes here first. A
 * target arms a countdown from an input line `; fail-alloc: K` (a comment to
 * the VM): the K-th allocation after that fails, once, as when memory runs
 * out, and the VM must report it (MemoryError, an "out of memory"
 * diagnostic) and carry on without crashing or leaking. The input alone says
 * which allocation fails, so a crash reproduces.
 *
 * `; fail-alloc: each` sweeps: the target runs the input again and again,
 * failing allocation 1, then 2, ... until a run makes fewer allocations than
 * that, or FUZZ_SWEEP_RUNS runs or FUZZ_SWEEP_ALLOCS allocations in all (a
 * mutated input must not turn into a sweep longer than libFuzzer's timeout). The regression inputs
 * in fuzz/regressions/ use it: they keep hitting their bug when the code
 * around it allocates a little more or less. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
GV_FUZZ_USED void *__wrap_malloc(size_t n);
GV_FUZZ_USED void *__wrap_calloc(size_t n, size_t size);
GV_FUZZ_USED void *__wrap_realloc(void *p, size_t n);

#define FUZZ_ALLOC_EACH (-1L)
#define FUZZ_SWEEP_RUNS 150L
#define FUZZ_SWEEP_ALLOCS 200000L

static struct {
    long countdown; /* allocations until the failing one; 0: disarmed */
    long counted;   /* allocations seen while armed, all runs of a sweep */
    bool fired;     /* the current run's K-th allocation came and failed */
} fuzz_alloc;

static inline bool fuzz_alloc_fails(void) {
    if (fuzz_alloc.countdown <= 0) return false;
    fuzz_alloc.counted++;
    if (--fuzz_alloc.countdown > 0) return false;
    fuzz_alloc.fired = true;
    return true;
}
void *__wrap_malloc(size_t n) { return fuzz_alloc_fails() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) {
    return fuzz_alloc_fails() ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) { return fuzz_alloc_fails() ? NULL : __real_realloc(p, n); }

/* K from the input's `; fail-alloc: K` line, FUZZ_ALLOC_EACH for `each`,
 * or 0 if it has none. */
static inline long fuzz_fail_alloc_request(const uint8_t *data, size_t size) {
    static const char tag[] = "; fail-alloc: ";
    const uint8_t *p = memmem(data, size, tag, sizeof tag - 1);
    if (!p) return 0;
    p += sizeof tag - 1;
    const uint8_t *end = data + size;
    if (end - p >= 4 && memcmp(p, "each", 4) == 0) return FUZZ_ALLOC_EACH;
    long k = 0;
    for (; p < end && *p >= '0' && *p <= '9' && k < 1000000; p++) k = k * 10 + (*p - '0');
    return k;
}

static inline void fuzz_alloc_arm(long k) {
    fuzz_alloc.countdown = k;
    fuzz_alloc.fired = false;
}
static inline void fuzz_alloc_disarm(void) { fuzz_alloc.countdown = 0; }

/* Calls run(data, size, k) once with the input's K, or, for `each`, with
 * K = 1, 2, ... as long as each run reaches its K-th allocation. run arms
 * the injection around the part it tests. */
static inline void fuzz_with_alloc_failures(const uint8_t *data, size_t size,
                                            void (*run)(const uint8_t *, size_t, long)) {
    /* GV_FUZZ_SWEEP=1: every input sweeps (binary .gvc input has no room
     * for a comment). */
    long k = getenv("GV_FUZZ_SWEEP") ? FUZZ_ALLOC_EACH : fuzz_fail_alloc_request(data, size);
    if (k != FUZZ_ALLOC_EACH) {
        run(data, size, k);
        return;
    }
    /* To see which K a crash happened at: GV_FUZZ_SHOW_SWEEP=1. */
    bool show = getenv("GV_FUZZ_SHOW_SWEEP") != NULL;
    fuzz_alloc.counted = 0;
    for (k = 1; k <= FUZZ_SWEEP_RUNS && fuzz_alloc.counted < FUZZ_SWEEP_ALLOCS; k++) {
        if (show) fprintf(stderr, "fuzz: fail-alloc %ld\n", k);
        fuzz_alloc.fired = false; /* stays false if run never arms (no program) */
        run(data, size, k);
        if (!fuzz_alloc.fired) break;
    }
}

/* A finding the sanitizers cannot see: say what, then crash so that libFuzzer
 * saves the input. */
static inline void fuzz_fail(const char *what) {
    fprintf(stderr, "fuzz: %s\n", what);
    abort();
}

#endif
