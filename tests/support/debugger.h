/* Test support shared by the unit and stress tests: whether a debugger is
 * watching, so that a test paused at a breakpoint is not aborted by its own
 * watchdog once it continues. */
#ifndef GV_TEST_DEBUGGER_H
#define GV_TEST_DEBUGGER_H

#include <stdbool.h>

/* True if this process, or the test process it was forked from, is traced
 * (gdb, strace: TracerPid in /proc/PID/status). */
bool gv_test_traced(void);

/* The one decision every watchdog (timer thread or alarm()) asks before it
 * aborts a test: false under a debugger or with GV_NO_WATCHDOG=1 in the
 * environment, true otherwise (a hang in CI must still abort). */
bool gv_test_watchdogs_enabled(void);

#endif
