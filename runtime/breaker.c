/* The eval breaker's slow path, and Ctrl-C.
 *
 * The eval loop pays one relaxed load per backward jump and function entry
 * to look at ts->eval_breaker; everything that needs the loop's attention
 * sets a bit there and lands here. */
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "breaker.h"
#include "errors.h"
#include "services.h"
#include "timeline.h"
#include "wait.h"

/* Made as `RAISE KeyboardInterrupt` makes it, with no message, so that both
 * repr as KeyboardInterrupt(). */
static int raise_keyboard_interrupt(void) {
    GvThreadState *ts = gv_tstate_get();
    if (!ts) return -1;
    GvObject *exc = gv_exc_new(&gv_type_KeyboardInterrupt, NULL, gv_none());
    if (!exc) return -1; /* MemoryError is set */
    gv_err_set_exc(ts, exc);
    return -1;
}

/* ---- SIGINT ----
 * The handler may only do async-signal-safe things: it sets the signal bit
 * in the main thread's eval breaker and posts a semaphore. A watcher thread
 * waiting on that semaphore then interrupts the main thread's blocking wait
 * (which needs a mutex, so the handler cannot do it itself). */
static struct {
    _Atomic(GvThreadState *) main;
    _Atomic bool pending;
    _Atomic bool stop;
    sem_t sem;
    pthread_t watcher;
    bool installed;
    struct sigaction old;
} sig;

static void on_sigint(int signo) {
    (void)signo;
    GvThreadState *ts = atomic_load(&sig.main);
    atomic_store(&sig.pending, true);
    if (ts) gv_eb_set(ts, GV_EB_SIGNAL);
    int saved = errno;
    sem_post(&sig.sem);
    errno = saved;
}

static void *watch(void *p) {
    (void)p;
    for (;;) {
        while (sem_wait(&sig.sem) != 0 && errno == EINTR) {
        }
        if (atomic_load(&sig.stop)) return NULL;
        GvThreadState *ts = atomic_load(&sig.main);
        if (ts) gv_thread_interrupt(ts, GV_EB_SIGNAL);
    }
}

int gv_signals_install(GvThreadState *main_ts) {
    if (sig.installed) return 0;
    if (sem_init(&sig.sem, 0, 0) != 0) return -1;
    atomic_store(&sig.stop, false);
    atomic_store(&sig.main, main_ts);
    /* The watcher must not take SIGINT itself. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(&sig.watcher, NULL, watch, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        sem_destroy(&sig.sem);
        return -1;
    }
    struct sigaction sa;
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, &sig.old);
    sig.installed = true;
    return 0;
}

void gv_signals_uninstall(void) {
    if (!sig.installed) return;
    sigaction(SIGINT, &sig.old, NULL);
    atomic_store(&sig.main, NULL);
    atomic_store(&sig.stop, true);
    sem_post(&sig.sem);
    pthread_join(sig.watcher, NULL);
    sem_destroy(&sig.sem);
    sig.installed = false;
}

/* ---- the slow path ---- */

static int handle_signal(GvThreadState *ts) {
    gv_eb_clear(ts, GV_EB_SIGNAL);
    if (atomic_exchange(&sig.pending, false)) {
        GV_TL(gv_tl_instant(ts, "signal", 0));
        return raise_keyboard_interrupt();
    }
    return 0;
}

/* Handles the interruptions among `bits`, read before anything else ran:
 * what arrives meanwhile (while this thread waited for the GIL, say) waits
 * for the next check, so a check is a point in the program, not a window. */
static int handle_interrupts(GvThreadState *ts, uint32_t bits) {
    if ((bits & GV_EB_SIGNAL) && handle_signal(ts) < 0) return -1;
    if ((bits & GV_EB_PENDING_CALLS) && gv_pending_run(ts) < 0) return -1;
    if ((bits & GV_EB_ASYNC_EXC) && gv_raise_async_exc(ts) < 0) return -1;
    return 0;
}

int gv_breaker_handle_interrupts(GvThreadState *ts) { return handle_interrupts(ts, gv_eb_test(ts, GV_EB_INTERRUPTS)); }

int gv_breaker_handle(GvThreadState *ts) {
    uint32_t bits = gv_eb_test(ts, ~0u);
    ts->eval_breaker_hits++;
    /* TRACING: the eval loop switches the frame's instruction array itself,
     * right after this returns. */
    if (bits & (GV_EB_TEST | GV_EB_TRACING)) gv_eb_clear(ts, GV_EB_TEST | GV_EB_TRACING);
    if ((bits & GV_EB_GIL_DROP_REQUEST) && gv_gil_yield(ts->interp->gil, ts) < 0) gv_tstate_abandon(ts);
    return handle_interrupts(ts, bits);
}
