/* The test-support library (libgvtest, tests/support/): what the unit tests
 * (cmocka) and the stress tests (plain programs) share. Real functions, so
 * that gdb can break on them (`break gvt_fail`, `break gvt_call`).
 *
 *   load.c      programs: assemble, define the globals, call by name
 *   watchdog.c  watchdogs, and whether a debugger is watching
 *   fork.c      running code in a child process
 *   threads.c   time, sanitizer scaling, thread states, capturing output
 *   testmain.c  the shared cmocka main (gvt_run)
 *
 * A failed check calls gvt_fail: inside a cmocka case it fails the case as
 * fail_msg does; elsewhere (stress tests, before gvt_run) it prints
 * "FAIL: ..." and exits 1. */
#ifndef GVTEST_H
#define GVTEST_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "gilvm.h"
#include "../../runtime/breaker.h"
#include "../../runtime/dict.h"
#include "../../runtime/errors.h"
#include "../../runtime/exc.h"
#include "../../runtime/func.h"
#include "../../runtime/list.h"
#include "../../runtime/services.h"
#include "../../runtime/str.h"
#include "../../runtime/tstate.h"
#include "../../vm/eval.h"

/* ---- failing ---- */

__attribute__((format(printf, 1, 2), noreturn)) void gvt_fail(const char *fmt, ...);

#define GVT_CHECK(cond, ...)                \
    do {                                    \
        if (!(cond)) gvt_fail(__VA_ARGS__); \
    } while (0)

/* ---- the shared cmocka main (testmain.c) ----
 * Every unit executable ends its main() with
 *     return gvt_run(argc, argv, tests, setup, teardown);
 * which runs the cases whose names match a pattern (all of them by default):
 *     build/tests/test_gil 'test_gil_*handoff*'
 *     GV_TEST_FILTER=test_gil_two_threads build/tests/test_gil
 *     meson test -C build test_gil --test-args='*handoff*'
 * The pattern is cmocka's: `*` any text, `?` one character, anything else
 * itself; argv[1] wins over GV_TEST_FILTER. A pattern that matches no case is
 * an error, so a typo cannot pass as "0 tests, all passed". */
int gvt_run_group(int argc, char **argv, const char *group, const struct CMUnitTest *tests, size_t n,
                  CMFixtureFunction setup, CMFixtureFunction teardown);
#define gvt_run(argc, argv, tests, setup, teardown) \
    gvt_run_group(argc, argv, #tests, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)

/* cmocka fixtures: a fresh interpreter (Gv_Initialize); teardown disarms a
 * watchdog a failed case left armed, clears any exception left set and
 * finalizes. */
int gvt_setup(void **state);
int gvt_teardown(void **state);

/* ---- programs (load.c; the caller holds the GIL) ---- */

/* Assembles and verifies src; fails the test on a load error. */
GvProgram *gvt_assemble(const char *src);
/* Assembles src and defines its functions as globals. */
void gvt_load(const char *src);
/* gvt_load(src), then gvt_call(fname, 0, NULL, out). */
int gvt_load_call(const char *src, const char *fname, GvValue *out);

/* The global `name` (a new reference), or fails the test. */
GvValue gvt_global(const char *name);
bool gvt_has_global(const char *name);
int64_t gvt_global_int(const char *name);
/* Sets the global `name` to v (borrowed). */
void gvt_set_global(const char *name, GvValue v);

/* Calls the global function `name` with argc arguments (borrowed). Returns 0
 * with the result in *out (a new reference; out may be NULL to drop it), or
 * -1 with the exception left set. */
int gvt_call(const char *name, int argc, GvValue *argv, GvValue *out);
/* Calls `name` and fails the test if it raised; returns its result. */
GvValue gvt_call_ok(const char *name, int argc, GvValue *argv);
int64_t gvt_call_int(const char *name, int argc, GvValue *argv);
/* Calls `name`, which must return a str equal to `want`. */
void gvt_call_expect_str(const char *name, int argc, GvValue *argv, const char *want);
/* Calls `name`, expecting it to raise `type`; clears the exception. */
void gvt_call_raises(const char *name, int argc, GvValue *argv, GvType *type);

/* A new str value (a new reference). */
GvValue gvt_str(const char *s);
/* The type of the exception in flight (borrowed), or NULL; its message ("" if
 * none). */
GvType *gvt_exc_type(void);
const char *gvt_exc_message(void);

/* The whole file, NUL-terminated (malloc'ed; its length in *len unless NULL),
 * or NULL if it cannot be read. */
char *gvt_read_file(const char *path, size_t *len);

/* ---- watchdogs (watchdog.c) ---- */

/* Aborts the process with a message unless gvt_watchdog_disarm() is called
 * within `seconds`; never under a debugger or with GV_NO_WATCHDOG=1 (see
 * gvt_watchdogs_enabled). One at a time. */
void gvt_watchdog_arm(double seconds, const char *what);
void gvt_watchdog_disarm(void);
/* For a teardown after a failed case: disarms the watchdog if it is armed. */
void gvt_watchdog_reset(void);

/* True if this process, or the test process it was forked from, is traced
 * (gdb, strace: TracerPid in /proc/PID/status). */
bool gvt_traced(void);
/* The one decision every watchdog (timer thread or alarm()) asks before it
 * aborts a test: false under a debugger or with GV_NO_WATCHDOG=1 in the
 * environment, true otherwise (a hang in CI must still abort). */
bool gvt_watchdogs_enabled(void);

/* ---- child processes (fork.c) ---- */

/* How a child ended: its wait status and what it wrote on stderr. */
typedef struct GvtChild {
    int status;
    char err[4096];
} GvtChild;

/* Runs body(arg) in a forked child, which inherits the interpreter (and the
 * GIL, if the caller holds it) and _exits with body's return value; its
 * stderr goes into the result. Returns once the child has ended.
 * In gdb: the debugger stays with the parent; to step into body give
 * `set follow-fork-mode child` (and `set detach-on-fork off` to keep the
 * parent too: `inferior 1` goes back to it) before `run`. */
GvtChild gvt_run_in_child(int (*body)(void *), void *arg);
/* Runs body() in a child (gvt_run_in_child) that must end with abort()
 * after printing "gilvm: fatal error: " and `want` (a misuse of the C API
 * that is fatal by design); fails the test otherwise, naming `what`. */
void gvt_expect_fatal(const char *what, void (*body)(void), const char *want);
/* waitpid with a time limit; false if the child is still running. */
bool gvt_wait_child(pid_t pid, int *status, double seconds);

/* ---- time, sanitizers, threads, output (threads.c) ---- */

/* "Promptly": a wait interrupted by a service ends within this many seconds
 * (the waits themselves are 30-60 s, so a missed wake-up cannot pass). */
#define GVT_PROMPT 2.0

double gvt_now(void); /* monotonic seconds */
void gvt_msleep(long ms);

bool gvt_under_tsan(void);
bool gvt_under_asan(void);
/* n under a plain or ASan build, n / div (at least 1) under TSan: threaded
 * code runs 5-20x slower there. */
long gvt_scale_tsan(long n, long div);
/* The stress tests' scale: GV_STRESS_SCALE (set by tests/stress/meson.build),
 * else 1 plain, 0.1 ASan, 0.05 TSan; gvt_scaled: n times it, at least floor. */
double gvt_stress_scale(void);
long gvt_scaled(long n, long floor);

/* How many thread states the interpreter has. Any thread. */
int gvt_count_tstates(void);
/* True once ts is parked in a blocking wait (sleep, lock, queue, join). */
bool gvt_is_parked(GvThreadState *ts);
/* Waits, WITHOUT the GIL, until ts (or the thread with that id) parks; false
 * if it did not within `seconds`. */
bool gvt_wait_parked(GvThreadState *ts, double seconds);
bool gvt_wait_parked_id(GvInterpreterState *interp, unsigned long id, double seconds);
/* As gvt_wait_parked_id, from a thread that holds the GIL: releases it while
 * waiting (so that the thread can get there). */
bool gvt_wait_parked_id_gil(unsigned long id, double seconds);

/* Starts fn(arg) on a new pthread; fails the test if it cannot. */
pthread_t gvt_start_thread(void *(*fn)(void *), void *arg);
/* Joins t, releasing the GIL meanwhile (t may need it). GIL held. */
void gvt_join_releasing_gil(pthread_t t);

/* A thread with its own thread state (made by the test with
 * GvThreadState_New) that runs the program's spin_until_stop() (the test
 * defines it: spin until the global `stop` is true, return the number of
 * rounds), then keeps its GIL counters before giving the state back. */
typedef struct GvtSpinner {
    GvThreadState *ts;
    pthread_t th;
    GvGILStats stats;
    int64_t iterations;
} GvtSpinner;
void *gvt_spinner_main(void *spinner);

/* Number of duplicated values in ids[0..n) (sorts it). */
long gvt_count_duplicates(unsigned long *ids, long n);

/* Capturing what is written on fd 1 or 2 into a string. */
typedef struct GvtCapture {
    int fd;    /* 1 or 2 */
    int saved; /* the original, dup'ed */
    FILE *tmp;
} GvtCapture;
void gvt_capture_begin(GvtCapture *c, int fd);
/* Restores the stream; returns what was written meanwhile (malloc'ed). */
char *gvt_capture_end(GvtCapture *c);

#endif
