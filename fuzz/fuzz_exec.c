/* fuzz_exec: any bytes as a .gva program, assembled and, if it loads, run.
 *
 * Whatever the program does, the run must end (return, exception, or the
 * instruction budget), without a crash, a sanitizer report or a leak, and a
 * program that asks for too much memory must get MemoryError.
 *
 * Each input runs in a fresh interpreter (Gv_Initialize .. Gv_Finalize), so
 * that no global, recursion limit or cached value leaks into the next input
 * and every crash reproduces from its input alone.
 *
 * What keeps a run bounded:
 * - Gv_SetInstructionBudget: the eval loop counts its checkpoints (backward
 *   jumps, function entries) and stops the program when they run out.
 * - Builtins that wait (sleep, blocking lock, queue and channel calls) or
 *   start threads or interpreters are removed: one thread, nothing to wait
 *   for (an interpreter left waiting on a channel would keep the exit wait
 *   from ending).
 * - Memory: single allocations above a cap fail (ASan's
 *   max_allocation_size_mb with allocator_may_return_null, or RLIMIT_AS
 *   without ASan), so the VM's out-of-memory paths run and must raise
 *   MemoryError.
 * - An input line `; fail-alloc: K` makes the K-th allocation of the run
 *   fail (fuzz_common.h): the program must see MemoryError, nothing worse.
 * - Landing on a handler placed before the raising instruction counts as a
 *   backward jump (the eval breaker is checked), so RAISE-to-handler loops
 *   end with the budget like any other loop. */
#include "fuzz_common.h"

#include "../runtime/dict.h"
#include "../runtime/tstate.h"

/* Checkpoints per run. Between two checkpoints a frame runs forward only,
 * so this bounds a run to about BUDGET times the longest function; the
 * recursion limit (1000 frames) stays reachable. */
#define BUDGET 5000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bigger single allocations fail instead of reporting a crash: a list that
 * doubles in a loop must end in MemoryError. 64 MB keeps a run that copies
 * such a list on every iteration fast enough. */
GV_FUZZ_USED const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "allocator_may_return_null=1:max_allocation_size_mb=64";
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_setup((rlim_t)2 << 30);
    return 0;
}

/* Builtins that could wait forever in a single-threaded run (or start
 * threads): not every VM version has them all; absent ones are skipped. */
static const char *const blocking_builtins[] = {
    "sleep",        "thread_start", "thread_start_daemon", "thread_join", "lock_acquire",
    "queue_get",    "interp_start", "interp_join",         "chan_get",
};

static void remove_blocking_builtins(GvThreadState *ts) {
    GvDict *b = (GvDict *)ts->interp->builtins;
    for (size_t i = 0; i < sizeof blocking_builtins / sizeof *blocking_builtins; i++) {
        GvObject *name = gv_str_from_cstr(blocking_builtins[i]);
        if (!name) abort();
        int rc = gv_dict_del(b, gv_obj(name)); /* 0: this VM has no such builtin */
        gv_decref(name);
        if (rc < 0) abort();
    }
}

/* One run in a fresh interpreter, with allocation k of the run failing
 * (0: none). */
static void run(const uint8_t *data, size_t size, long k) {
    GvThreadState *ts = Gv_Initialize();
    if (!ts) abort();
    remove_blocking_builtins(ts);
    GvDiag d;
    GvProgram *p = GvProgram_Assemble((const char *)data, size, GV_FUZZ_FILENAME, &d);
    if (p) {
        int status = 0;
        Gv_SetInstructionBudget(BUDGET);
        fuzz_alloc_arm(k);
        if (GvProgram_Run(p, &status) < 0) {
            /* Printing the traceback is code worth fuzzing too (run.sh
             * discards the target's stderr with -close_fd_mask). */
            GvErr_PrintEx();
        }
        fuzz_alloc_disarm();
    }
    GvProgram_Free(p);
    Gv_Finalize();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_with_alloc_failures(data, size, run);
    return 0;
}
