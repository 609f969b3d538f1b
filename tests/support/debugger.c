#include "debugger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

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

bool gv_test_traced(void) {
    if (pid_traced(getpid())) return true;
    return test_pid != 0 && test_pid != getpid() && pid_traced(test_pid);
}

bool gv_test_watchdogs_enabled(void) {
    const char *off = getenv("GV_NO_WATCHDOG");
    if (off && strcmp(off, "1") == 0) return false;
    return !gv_test_traced();
}
