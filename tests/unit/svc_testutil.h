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

#include "thread_testutil.h"

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

/* The program helpers are thread_testutil.h's, under the names these tests
 * were written with. */
#define svc_now gv_now
#define svc_msleep gv_msleep
#define svc_load gv_load
#define svc_global gv_global
#define svc_call gv_call
#define svc_call_ok gv_call_ok
#define svc_call_int gv_call_int

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
