/* Helpers for the tests of the thread-state services
 * (test_tls, test_async_exc, test_pending, test_trace).
 *
 * - Each test gets a fresh interpreter (svc_setup / svc_teardown), so a test
 *   can be run and stepped through on its own:
 *       meson test -C build --gdb test_async_exc
 * - Programs: svc_load() defines a .gva source's functions as globals once;
 *   svc_call*() call them by name with arguments.
 * - Threads: svc_find() looks a VM thread up by its id, svc_wait_parked()
 *   waits (without the GIL) until it is blocked in a VM wait.
 * Timing bounds are generous ("promptly" means within SVC_PROMPT seconds):
 * the tests share two cores with other builds and run under TSan too. */
#ifndef GV_SVC_TESTUTIL_H
#define GV_SVC_TESTUTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "testutil.h"

/* "Promptly": a wait interrupted by a service ends within this many seconds
 * (the waits themselves are 30-60 s, so a missed wake-up cannot pass). */
#define SVC_PROMPT 2.0

static inline int svc_setup(void **state) {
    (void)state;
    return Gv_Initialize() ? 0 : -1;
}

static inline int svc_teardown(void **state) {
    (void)state;
    GvErr_Clear();
    Gv_Finalize();
    return 0;
}

static inline double svc_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static inline void svc_msleep(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
}

/* Assembles src and defines its functions as globals. GIL held. */
static inline void svc_load(const char *src) {
    GvDiag diag;
    memset(&diag, 0, sizeof diag);
    GvProgram *p = GvProgram_Assemble(src, strlen(src), "svc.gva", &diag);
    if (!p) fail_msg("load error: %s", diag.text);
    GvDict *globals = (GvDict *)GvThreadState_Get()->interp->globals;
    for (uint32_t i = 0; i < p->ncode; i++) {
        GvObject *fn = gv_function_new(p->code[i]);
        assert_non_null(fn);
        assert_int_equal(gv_dict_set(globals, gv_obj(p->code[i]->name), gv_obj(fn)), 0);
        gv_decref(fn);
    }
    GvProgram_Free(p);
}

/* The global `name` (a new reference); fails the test if there is none. */
static inline GvValue svc_global(const char *name) {
    GvDict *globals = (GvDict *)GvThreadState_Get()->interp->globals;
    GvObject *key = gv_str_from_cstr(name);
    GvValue v;
    int found = gv_dict_get(globals, gv_obj(key), &v);
    gv_decref(key);
    if (found != 1) fail_msg("no global '%s'", name);
    return v;
}

/* True if the global `name` exists. */
static inline bool svc_has_global(const char *name) {
    GvDict *globals = (GvDict *)GvThreadState_Get()->interp->globals;
    GvObject *key = gv_str_from_cstr(name);
    GvValue v;
    int found = gv_dict_get(globals, gv_obj(key), &v);
    gv_decref(key);
    if (found == 1) gv_vdecref(v);
    return found == 1;
}

/* Calls the global function `name`. 0 with *out (a new reference, or dropped
 * when out is NULL), or -1 with the exception left set. */
static inline int svc_call(const char *name, int argc, GvValue *argv, GvValue *out) {
    GvValue fn = svc_global(name);
    GvValue r = gv_none();
    int rc = gv_eval_call(GvThreadState_Get(), fn, argc, argv, &r);
    gv_vdecref(fn);
    if (rc == 0) {
        if (out) *out = r;
        else gv_vdecref(r);
    }
    return rc;
}

/* Calls `name` and fails the test if it raised. */
static inline GvValue svc_call_ok(const char *name, int argc, GvValue *argv) {
    GvValue r;
    if (svc_call(name, argc, argv, &r) < 0) {
        GvType *t = gv_test_exc_type();
        fail_msg("%s() raised %s: %s", name, t ? t->name : "?", gv_test_exc_message());
    }
    return r;
}

static inline int64_t svc_call_int(const char *name, int argc, GvValue *argv) {
    GvValue r = svc_call_ok(name, argc, argv);
    if (!gv_is_intlike(r)) fail_msg("%s() returned a %s, not an int", name, gv_type_name(r));
    return r.as.i;
}

/* Calls `name`, which must return a str; asserts it equals `want`. */
static inline void svc_call_expect_str(const char *name, int argc, GvValue *argv, const char *want) {
    GvValue r = svc_call_ok(name, argc, argv);
    if (!gv_is_kind(r, GV_KSTR)) {
        const char *t = gv_type_name(r);
        gv_vdecref(r);
        fail_msg("%s() returned a %s, not a str", name, t);
    }
    /* Compared on a copy: a failing assert must not leak the result. */
    char got[256];
    snprintf(got, sizeof got, "%s", gv_str_cstr(r.as.o));
    gv_vdecref(r);
    assert_string_equal(got, want);
}

/* A new str value (a new reference). */
static inline GvValue svc_str(const char *s) {
    GvObject *o = gv_str_from_cstr(s);
    assert_non_null(o);
    return gv_obj(o);
}

/* The thread state with that id, or NULL. Caller holds interp->mutex. */
static inline GvThreadState *svc_find_locked(GvInterpreterState *interp, unsigned long id) {
    for (GvThreadState *t = interp->threads; t; t = t->next)
        if (t->id == id) return t;
    return NULL;
}

/* Waits until the thread with that id is parked in a VM wait (sleep, lock,
 * queue, join); false if it was not within `seconds`. Call it WITHOUT the
 * GIL (inside Gv_BEGIN_ALLOW_THREADS, or from a thread that never had it). */
static inline bool svc_wait_parked(GvInterpreterState *interp, unsigned long id, double seconds) {
    double end = svc_now() + seconds;
    for (;;) {
        pthread_mutex_lock(&interp->mutex);
        GvThreadState *t = svc_find_locked(interp, id);
        bool parked = t && t->parked;
        pthread_mutex_unlock(&interp->mutex);
        if (parked) return true;
        if (svc_now() > end) return false;
        svc_msleep(1);
    }
}

/* As svc_wait_parked, from a thread that holds the GIL: releases it while
 * waiting (so that the thread can get there). */
static inline bool svc_wait_parked_gil(unsigned long id, double seconds) {
    GvInterpreterState *interp = GvInterpreterState_Get();
    bool ok;
    Gv_BEGIN_ALLOW_THREADS
    ok = svc_wait_parked(interp, id, seconds);
    Gv_END_ALLOW_THREADS
    return ok;
}

#endif
