/* latency_feed.c: the latency (convoy) test with the event source outside
 * the VM, as CPython's Tools/ccbench has it: a writer that is not a VM thread
 * sends a timestamp every 0.5-1.5 ms, and an I/O thread blocked in the VM
 * receives it.
 *
 * This harness embeds gilvm through include/gilvm.h. The main thread runs
 * bench/programs/latency.gva with SOURCE = feed: it starts CPU_THREADS
 * spinning VM threads and then blocks in queue_get on the global `feed_q`.
 * A plain C thread (the writer), which never runs bytecode otherwise, sleeps
 * until its next event, takes a timestamp t_event, enters the VM with
 * GvGILState_Ensure and runs a two-line program that puts [t_event, t_put]
 * on feed_q (t_put = time() once it holds the GIL), then leaves with
 * GvGILState_Release. The I/O thread reports both latencies:
 *   from t_event  the latency as ccbench defines it: event to bytecode. Here
 *                 it includes the writer's own wait for the GIL in Ensure:
 *                 the writer must break in past the spinners first.
 *   from t_put    the reader's part alone. Usually short: the writer, who
 *                 just took the GIL from the spinners, hands it over as it
 *                 leaves. (CPython's peer, peers/latency.py pipe, has a
 *                 writer process that never needs the GIL.)
 *
 * TODO(VM API): the public API has no way yet to reach a VM object from C
 * (no "call this global" nor a queue put), so the writer assembles and runs a
 * tiny program per event (GvProgram_Run defines its functions as globals,
 * replacing the global `main`, which is harmless: the reader's main is already
 * running). A GIL-free put of an unboxed float on a VM queue
 * (e.g. GvQueue_PutFloat(queue, double), callable without the GIL, as a
 * write() on a pipe is) would let the writer stay truly outside the VM, so
 * t_event and t_put would be the same instant.
 *
 *   latency_feed PROGRAM CPU_THREADS DURATION SWITCH_INTERVAL
 * PROGRAM is bench/programs/latency.gva. Prints what it prints
 * (`samples_put`, `events`, `samples`); exit status as `gilvm run`. */
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gilvm.h"

/* The writer's intervals: the schedule latency.gva's timer source uses. */
static const double periods[] = {0.0005, 0.0011, 0.0007, 0.0014, 0.0009, 0.0015,
                                 0.0006, 0.0010, 0.0013, 0.0008, 0.0012};
#define NPERIODS (sizeof periods / sizeof periods[0])

static atomic_bool stop;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t); /* the clock time() reads */
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void nap(double seconds) {
    struct timespec t = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&t, &t) != 0) {
    }
}

/* Puts [t_event, time()] on feed_q; returns 1 (without raising) while the
 * reader has not created feed_q yet. */
static const char feed_src[] =
    ".func main\n"
    "    .try a b h\n"
    "a:\n"
    "    LOAD_GLOBAL queue_put\n"
    "    LOAD_GLOBAL feed_q\n"
    "    LOAD_CONST %.17g\n"
    "    LOAD_GLOBAL time\n"
    "    CALL 0\n"
    "    BUILD_LIST 2\n"
    "    CALL 2\n"
    "    POP_TOP\n"
    "    LOAD_CONST 0\n"
    "    RETURN_VALUE\n"
    "b:\n"
    "h:\n"
    "    POP_TOP\n"
    "    POP_EXCEPT\n"
    "    LOAD_CONST 1\n"
    "    RETURN_VALUE\n"
    ".end\n";

static void *writer(void *arg) {
    (void)arg;
    char src[sizeof feed_src + 64];
    for (unsigned k = 0; !atomic_load(&stop); k++) {
        nap(periods[k % NPERIODS]);
        double t_event = now();
        GvGILState_STATE st = GvGILState_Ensure();
        if (atomic_load(&stop)) {
            GvGILState_Release(st);
            break;
        }
        int len = snprintf(src, sizeof src, feed_src, t_event);
        GvDiag diag;
        GvProgram *p = GvProgram_Assemble(src, (size_t)len, "<feed>", &diag);
        if (!p) {
            fprintf(stderr, "latency_feed: %s\n", diag.text);
            abort();
        }
        int status = 0;
        if (GvProgram_Run(p, &status) < 0) GvErr_PrintEx();
        GvProgram_Free(p);
        GvGILState_Release(st);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: latency_feed PROGRAM CPU_THREADS DURATION SWITCH_INTERVAL\n");
        return 2;
    }
    if (!Gv_Initialize()) {
        fprintf(stderr, "latency_feed: cannot initialize gilvm\n");
        return 2;
    }
    char *args[] = {argv[2], argv[3], argv[4], "feed"};
    if (Gv_SetArgv(4, args) < 0) {
        fprintf(stderr, "latency_feed: bad arguments\n");
        return 2;
    }
    GvDiag diag;
    GvProgram *prog = GvProgram_LoadFile(argv[1], &diag);
    if (!prog) {
        fprintf(stderr, "%s\n", diag.text);
        return 2;
    }

    pthread_t w;
    if (pthread_create(&w, NULL, writer, NULL) != 0) {
        fprintf(stderr, "latency_feed: cannot start the writer\n");
        return 2;
    }
    int status = 0;
    if (GvProgram_Run(prog, &status) < 0) status = GvErr_PrintEx();
    fflush(stdout);

    /* Let the writer see `stop` without the GIL held here. */
    atomic_store(&stop, true);
    GvThreadState *ts = GvEval_SaveThread();
    pthread_join(w, NULL);
    GvEval_RestoreThread(ts);
    GvProgram_Free(prog);
    Gv_Finalize();
    return status;
}
