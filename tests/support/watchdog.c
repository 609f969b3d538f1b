#include "gvtest.h"

/* ---- is a debugger watching? ---- */

/* The test process: a forked child (a test that checks a crash, say) asks
 * about it too, since the learner may be following the parent in gdb. */
static pid_t test_pid;

__attribute__((constructor)) static void remember_test_pid(void) {
    test_pid = getpid();
}

/* Non-zero TracerPid in /proc/PID/status: PID is being traced. False where
 * /proc is missing (not Linux): watchdogs then stay on. */
static bool pid_traced(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[256];
    long tracer = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "TracerPid:", 10) == 0) {
            tracer = strtol(line + 10, NULL, 10);
            break;
        }
    }
    fclose(f);
    return tracer != 0;
}

bool gvt_traced(void) {
    if (pid_traced(getpid())) return true;
    return test_pid != 0 && test_pid != getpid() && pid_traced(test_pid);
}

bool gvt_watchdogs_enabled(void) {
    const char *off = getenv("GV_NO_WATCHDOG");
    if (off && strcmp(off, "1") == 0) return false;
    return !gvt_traced();
}

/* ---- the watchdog thread ---- */

static struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    pthread_t thread;
    bool armed;
    double seconds;
    double deadline; /* gvt_now() seconds */
    char what[128];
} wd = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false, 0, 0, ""};

static void *watchdog_main(void *p) {
    (void)p;
    /* Every signal blocked: test_signals sends SIGINT to the process and it
     * must land in a thread the VM knows about, not here. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&wd.m);
    while (wd.armed) {
        double left = wd.deadline - gvt_now();
        if (left <= 0) {
            /* Under a debugger the clock ran on while the test sat at a
             * breakpoint: wait for the disarm instead. */
            if (!gvt_watchdogs_enabled()) {
                pthread_cond_wait(&wd.c, &wd.m);
                continue;
            }
            fflush(stdout);
            fprintf(stderr, "FAIL: watchdog: %s did not finish within %.0f s (a hang): aborting\n", wd.what,
                    wd.seconds);
            fflush(stderr);
            abort();
        }
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        double step = left < 0.2 ? left : 0.2;
        long ns = t.tv_nsec + (long)(step * 1e9);
        t.tv_sec += ns / 1000000000L;
        t.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&wd.c, &wd.m, &t);
    }
    pthread_mutex_unlock(&wd.m);
    return NULL;
}

void gvt_watchdog_arm(double seconds, const char *what) {
    pthread_mutex_lock(&wd.m);
    wd.armed = true;
    wd.seconds = seconds;
    wd.deadline = gvt_now() + seconds;
    snprintf(wd.what, sizeof wd.what, "%s", what);
    pthread_mutex_unlock(&wd.m);
    if (pthread_create(&wd.thread, NULL, watchdog_main, NULL) != 0) gvt_fail("cannot start the watchdog");
}

void gvt_watchdog_disarm(void) {
    pthread_mutex_lock(&wd.m);
    wd.armed = false;
    pthread_cond_signal(&wd.c);
    pthread_mutex_unlock(&wd.m);
    pthread_join(wd.thread, NULL);
}

void gvt_watchdog_reset(void) {
    pthread_mutex_lock(&wd.m);
    bool armed = wd.armed;
    pthread_mutex_unlock(&wd.m);
    if (armed) gvt_watchdog_disarm();
}
