/* Shared helpers of the stress suite (tests/stress/).
 *
 * A stress test is a plain C program: it runs many iterations of one
 * mechanism, checks counts that must agree, prints its figures on stdout
 * (one "FIGURES name: key value ..." line) and exits 0, or prints
 * "FAIL: ..." and exits 1. A hang is a failure too: every test arms a
 * watchdog that aborts the process if it is not done in time.
 *
 * Scale: counts are multiplied by GV_STRESS_SCALE (set by tests/stress/
 * meson.build from the build's sanitizer: 1 plain, 0.1 ASan, 0.05 TSan);
 * without the variable, the same defaults come from the compiler's
 * __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__. A scaled count is never
 * below its floor, so every behaviour still runs. */
#ifndef GV_STRESS_H
#define GV_STRESS_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gilvm.h"
#include "../../runtime/dict.h"
#include "../../runtime/errors.h"
#include "../../runtime/exc.h"
#include "../../runtime/func.h"
#include "../../runtime/str.h"
#include "../../runtime/breaker.h"
#include "../../runtime/services.h"
#include "../../runtime/tstate.h"
#include "../../vm/eval.h"
#include "../support/debugger.h"

#if defined(__SANITIZE_THREAD__)
#define ST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ST_TSAN 1
#endif
#endif
#ifndef ST_TSAN
#define ST_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ST_ASAN 1
#endif
#endif
#ifndef ST_ASAN
#define ST_ASAN 0
#endif

static inline double st_scale(void) {
    const char *e = getenv("GV_STRESS_SCALE");
    if (e && *e) {
        double s = atof(e);
        if (s > 0) return s;
    }
    return ST_TSAN ? 0.05 : ST_ASAN ? 0.1 : 1.0;
}

/* n scaled, at least `floor`. */
static inline long st_scaled(long n, long floor) {
    long v = (long)((double)n * st_scale());
    return v < floor ? floor : v;
}

static inline double st_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static inline void st_msleep(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

/* Prints "FAIL: ..." and exits 1. */
__attribute__((format(printf, 1, 2), noreturn)) static inline void st_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    exit(1);
}

#define ST_CHECK(cond, ...)                \
    do {                                   \
        if (!(cond)) st_fail(__VA_ARGS__); \
    } while (0)

/* ---- the watchdog: aborts the process unless disarmed in time ---- */

static struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    pthread_t thread;
    bool armed;
    double deadline; /* st_now() seconds */
    char what[128];
} st_wd = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false, 0, ""};

static inline void *st_wd_main(void *p) {
    (void)p;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&st_wd.m);
    while (st_wd.armed) {
        double left = st_wd.deadline - st_now();
        if (left <= 0) {
            /* Under a debugger the clock ran on while the test sat at a
             * breakpoint: wait for the disarm instead. */
            if (!gv_test_watchdogs_enabled()) {
                pthread_cond_wait(&st_wd.c, &st_wd.m);
                continue;
            }
            fflush(stdout);
            fprintf(stderr, "FAIL: watchdog: %s did not finish in time (a hang): aborting\n", st_wd.what);
            fflush(stderr);
            abort();
        }
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        double step = left < 0.2 ? left : 0.2;
        long ns = t.tv_nsec + (long)(step * 1e9);
        t.tv_sec += ns / 1000000000L;
        t.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&st_wd.c, &st_wd.m, &t);
    }
    pthread_mutex_unlock(&st_wd.m);
    return NULL;
}

/* One at a time; never fires under a debugger or with GV_NO_WATCHDOG=1
 * (gv_test_watchdogs_enabled). */
static inline void st_watchdog_arm(double seconds, const char *what) {
    pthread_mutex_lock(&st_wd.m);
    st_wd.armed = true;
    st_wd.deadline = st_now() + seconds;
    snprintf(st_wd.what, sizeof st_wd.what, "%s", what);
    pthread_mutex_unlock(&st_wd.m);
    if (pthread_create(&st_wd.thread, NULL, st_wd_main, NULL) != 0) st_fail("cannot start the watchdog");
}

static inline void st_watchdog_disarm(void) {
    pthread_mutex_lock(&st_wd.m);
    st_wd.armed = false;
    pthread_cond_signal(&st_wd.c);
    pthread_mutex_unlock(&st_wd.m);
    pthread_join(st_wd.thread, NULL);
}

/* ---- programs (the caller holds the GIL) ---- */

/* Assembles src and defines its functions as globals. */
static inline void st_load(const char *src) {
    GvDiag diag;
    memset(&diag, 0, sizeof diag);
    GvProgram *p = GvProgram_Assemble(src, strlen(src), "stress.gva", &diag);
    if (!p) st_fail("load error: %s", diag.text);
    GvDict *globals = (GvDict *)GvThreadState_Get()->interp->globals;
    for (uint32_t i = 0; i < p->ncode; i++) {
        GvObject *fn = gv_function_new(p->code[i]);
        ST_CHECK(fn != NULL, "out of memory");
        ST_CHECK(gv_dict_set(globals, gv_obj(p->code[i]->name), gv_obj(fn)) == 0, "dict_set failed");
        gv_decref(fn);
    }
    GvProgram_Free(p);
}

static inline GvValue st_global(const char *name) {
    GvDict *globals = (GvDict *)GvThreadState_Get()->interp->globals;
    GvObject *key = gv_str_from_cstr(name);
    GvValue v;
    int found = gv_dict_get(globals, gv_obj(key), &v);
    gv_decref(key);
    if (found != 1) st_fail("no global '%s'", name);
    return v;
}

static inline void st_set_global(const char *name, GvValue v) {
    GvDict *globals = (GvDict *)GvThreadState_Get()->interp->globals;
    GvObject *key = gv_str_from_cstr(name);
    ST_CHECK(gv_dict_set(globals, gv_obj(key), v) == 0, "dict_set failed");
    gv_decref(key);
}

/* The message of the exception in flight, for failure reports. */
static inline const char *st_exc_text(void) {
    GvThreadState *ts = GvThreadState_Get();
    if (!ts || !ts->current_exception) return "(none)";
    GvException *e = (GvException *)ts->current_exception;
    return e->type->name;
}

/* Calls global `name` with argc arguments (borrowed); returns its result (a
 * new reference), or fails the test if it raised. */
static inline GvValue st_call(const char *name, int argc, GvValue *argv) {
    GvValue fn = st_global(name);
    GvValue r = gv_none();
    int rc = gv_eval_call(GvThreadState_Get(), fn, argc, argv, &r);
    gv_vdecref(fn);
    if (rc < 0) st_fail("%s() raised %s", name, st_exc_text());
    return r;
}

static inline int64_t st_call_int(const char *name, int argc, GvValue *argv) {
    GvValue r = st_call(name, argc, argv);
    if (!gv_is_intlike(r)) st_fail("%s() returned a %s, not an int", name, gv_type_name(r));
    gv_vdecref(r);
    return r.as.i;
}

/* How many thread states the interpreter has. Any thread. */
static inline int st_count_tstates(void) {
    GvInterpreterState *interp = GvInterpreterState_Get();
    if (!interp) return -1;
    int n = 0;
    pthread_mutex_lock(&interp->mutex);
    for (GvThreadState *t = interp->threads; t; t = t->next) n++;
    pthread_mutex_unlock(&interp->mutex);
    return n;
}

static inline int st_cmp_ulong(const void *a, const void *b) {
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? -1 : x > y;
}

/* Number of duplicated values in ids[0..n) (sorts it). */
static inline long st_duplicates(unsigned long *ids, long n) {
    qsort(ids, (size_t)n, sizeof *ids, st_cmp_ulong);
    long d = 0;
    for (long i = 1; i < n; i++) d += ids[i] == ids[i - 1];
    return d;
}

#endif
