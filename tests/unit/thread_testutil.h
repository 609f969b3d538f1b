/* Helpers for the tests of threads, the GIL and finalization
 * (test_gil, test_gilstate, test_threads, test_finalize, test_signals).
 *
 * - A watchdog: a test that waits on another thread arms it, so that a bug
 *   that would hang the test aborts it with a message instead.
 * - Programs: load .gva source into the interpreter's globals once, then call
 *   its functions by name, with arguments, as many times as needed.
 * - Capturing what the VM writes on stdout/stderr into a string.
 * - Counting the interpreter's thread states.
 * - GV_TEST_TSAN and gv_scale(): fewer iterations under ThreadSanitizer,
 *   which runs threaded code 5-20x slower. Never zero: every behaviour is
 *   still exercised. */
#ifndef GV_THREAD_TESTUTIL_H
#define GV_THREAD_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#include "../../runtime/list.h"

#if defined(__SANITIZE_THREAD__)
#define GV_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GV_TEST_TSAN 1
#endif
#endif
#ifndef GV_TEST_TSAN
#define GV_TEST_TSAN 0
#endif

/* n under a plain or ASan build, n / div (at least 1) under TSan. */
static inline long gv_scale(long n, long div) {
    if (!GV_TEST_TSAN) return n;
    return n / div > 0 ? n / div : 1;
}

static inline double gv_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static inline void gv_msleep(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
}

/* ---- the watchdog ---- */

static struct {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    pthread_t thread;
    bool armed;
    double seconds;
    const char *what;
} gv_wd = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false, 0, NULL};

static inline void *gv_wd_main(void *p) {
    (void)p;
    /* Blocks SIGINT: test_signals sends it to the process and it must land
     * in a thread the VM knows about, not here. */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)gv_wd.seconds;
    pthread_mutex_lock(&gv_wd.mutex);
    bool timed = true;
    while (gv_wd.armed) {
        int rc = timed ? pthread_cond_timedwait(&gv_wd.cond, &gv_wd.mutex, &deadline)
                       : pthread_cond_wait(&gv_wd.cond, &gv_wd.mutex);
        if (rc == ETIMEDOUT && gv_wd.armed) {
            /* Under a debugger the clock ran on while the test sat at a
             * breakpoint: wait for the disarm instead. */
            if (!gv_test_watchdogs_enabled()) {
                timed = false;
                continue;
            }
            fprintf(stderr, "watchdog: %s did not finish within %.0f s (a hang: aborting)\n", gv_wd.what,
                    gv_wd.seconds);
            fflush(stderr);
            abort();
        }
    }
    pthread_mutex_unlock(&gv_wd.mutex);
    return NULL;
}

/* Aborts the process with a message unless gv_watchdog_disarm() is called
 * within `seconds` (never under a debugger or with GV_NO_WATCHDOG=1: see
 * gv_test_watchdogs_enabled). One at a time. */
static inline void gv_watchdog_arm(double seconds, const char *what) {
    gv_wd.armed = true;
    gv_wd.seconds = seconds;
    gv_wd.what = what;
    if (pthread_create(&gv_wd.thread, NULL, gv_wd_main, NULL) != 0) fail_msg("cannot start the watchdog");
}

static inline void gv_watchdog_disarm(void) {
    pthread_mutex_lock(&gv_wd.mutex);
    gv_wd.armed = false;
    pthread_cond_signal(&gv_wd.cond);
    pthread_mutex_unlock(&gv_wd.mutex);
    pthread_join(gv_wd.thread, NULL);
}

/* ---- programs ---- */

/* Assembles `src` and defines its functions as globals (fails the test on a
 * load error). The caller holds the GIL. */
static inline void gv_load(const char *src) {
    GvDiag diag;
    memset(&diag, 0, sizeof diag);
    GvProgram *p = GvProgram_Assemble(src, strlen(src), "test.gva", &diag);
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

/* The global `name` (a new reference), or fails the test. GIL held. */
static inline GvValue gv_global(const char *name) {
    GvDict *globals = (GvDict *)GvThreadState_Get()->interp->globals;
    GvObject *key = gv_str_from_cstr(name);
    GvValue v;
    int found = gv_dict_get(globals, gv_obj(key), &v);
    gv_decref(key);
    if (found != 1) fail_msg("no global '%s'", name);
    return v;
}

/* Sets the global `name` to v (borrowed). GIL held. */
static inline void gv_set_global(const char *name, GvValue v) {
    GvDict *globals = (GvDict *)GvThreadState_Get()->interp->globals;
    GvObject *key = gv_str_from_cstr(name);
    assert_int_equal(gv_dict_set(globals, gv_obj(key), v), 0);
    gv_decref(key);
}

static inline int64_t gv_global_int(const char *name) {
    GvValue v = gv_global(name);
    if (!gv_is_intlike(v)) fail_msg("global '%s' is a %s, not an int", name, gv_type_name(v));
    return v.as.i;
}

/* Calls the global function `name` with argc arguments (borrowed). Returns
 * 0 with the result in *out (a new reference; out may be NULL to drop it), or
 * -1 with the exception left set. GIL held. */
static inline int gv_call(const char *name, int argc, GvValue *argv, GvValue *out) {
    GvValue fn = gv_global(name);
    GvValue r = gv_none();
    int rc = gv_eval_call(GvThreadState_Get(), fn, argc, argv, &r);
    gv_vdecref(fn);
    if (rc == 0) {
        if (out) *out = r;
        else gv_vdecref(r);
    }
    return rc;
}

/* Calls `name` and fails the test if it raised; returns its result. */
static inline GvValue gv_call_ok(const char *name, int argc, GvValue *argv) {
    GvValue r;
    if (gv_call(name, argc, argv, &r) < 0) {
        GvType *t = gv_test_exc_type();
        fail_msg("%s() raised %s: %s", name, t ? t->name : "?", gv_test_exc_message());
    }
    return r;
}

static inline int64_t gv_call_int(const char *name, int argc, GvValue *argv) {
    GvValue r = gv_call_ok(name, argc, argv);
    if (!gv_is_intlike(r)) fail_msg("%s() returned a %s, not an int", name, gv_type_name(r));
    gv_vdecref(r);
    return r.as.i;
}

/* Calls `name`, expecting it to raise `type`; clears the exception. */
static inline void gv_call_raises(const char *name, int argc, GvValue *argv, GvType *type) {
    GvValue r = gv_none();
    if (gv_call(name, argc, argv, &r) == 0) {
        gv_vdecref(r);
        fail_msg("%s() returned; expected %s", name, type->name);
    }
    GvType *t = gv_test_exc_type();
    if (t != type) fail_msg("%s() raised %s (%s); expected %s", name, t ? t->name : "?", gv_test_exc_message(), type->name);
    GvErr_Clear();
}

/* ---- state ---- */

/* ---- CPU-bound threads driven through the C API ---- */

/* A thread with its own thread state (made by the test with
 * GvThreadState_New) that runs the program's spin_until_stop() (which the
 * test defines: spin until the global `stop` is true, return the number of
 * rounds), then keeps its GIL counters before giving the state back. */
typedef struct Spinner {
    GvThreadState *ts;
    pthread_t th;
    GvGILStats stats;
    int64_t iterations;
} Spinner;

static inline void *spinner_main(void *p) {
    Spinner *s = p;
    GvEval_AcquireThread(s->ts);
    s->iterations = gv_call_int("spin_until_stop", 0, NULL);
    GvThreadState_GetGILStats(s->ts, &s->stats);
    GvThreadState_Clear(s->ts);
    GvThreadState_DeleteCurrent();
    return NULL;
}


/* How many thread states the interpreter has. Any thread. */
static inline int gv_count_tstates(void) {
    GvInterpreterState *interp = GvInterpreterState_Get();
    if (!interp) return -1;
    int n = 0;
    pthread_mutex_lock(&interp->mutex);
    for (GvThreadState *t = interp->threads; t; t = t->next) n++;
    pthread_mutex_unlock(&interp->mutex);
    return n;
}

/* True once ts is parked in a blocking wait (sleep, lock, queue, join). */
static inline bool gv_is_parked(GvThreadState *ts) {
    pthread_mutex_lock(&ts->interp->mutex);
    bool p = ts->parked;
    pthread_mutex_unlock(&ts->interp->mutex);
    return p;
}

/* Waits (without the GIL: call it from a thread that does not hold it) until
 * ts parks; false if it did not within `seconds`. */
static inline bool gv_wait_parked(GvThreadState *ts, double seconds) {
    double end = gv_now() + seconds;
    while (!gv_is_parked(ts)) {
        if (gv_now() > end) return false;
        gv_msleep(1);
    }
    return true;
}

/* ---- capturing stdout / stderr ---- */

typedef struct GvCapture {
    int fd;    /* 1 or 2 */
    int saved; /* the original, dup'ed */
    FILE *tmp;
} GvCapture;

static inline void gv_capture_begin(GvCapture *c, int fd) {
    fflush(fd == 1 ? stdout : stderr);
    c->fd = fd;
    c->tmp = tmpfile();
    assert_non_null(c->tmp);
    c->saved = dup(fd);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->tmp), fd) >= 0);
}

/* Restores the stream; returns what was written meanwhile (malloc'ed). */
static inline char *gv_capture_end(GvCapture *c) {
    fflush(c->fd == 1 ? stdout : stderr);
    dup2(c->saved, c->fd);
    close(c->saved);
    fseek(c->tmp, 0, SEEK_END);
    long n = ftell(c->tmp);
    rewind(c->tmp);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, (size_t)n, c->tmp);
    buf[got] = '\0';
    fclose(c->tmp);
    return buf;
}

#endif
