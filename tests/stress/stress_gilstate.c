/* GvGILState_Ensure/Release from foreign threads.
 *
 * THREADS raw pthreads (the VM never saw them) each do ROUNDS outermost
 * Ensure/Release pairs; inside each, 1 to 4 nested Ensure calls, bytecode run
 * through the eval loop (bump(): counter += 1, returns thread_id()), and now
 * and then the GIL released and taken back around C code
 * (Gv_BEGIN/END_ALLOW_THREADS). Meanwhile the main thread runs bytecode too
 * (a loop with checkpoints), so the GIL is contended all the time.
 *
 * Checked: the outermost Ensure returns UNLOCKED and the nested ones LOCKED;
 * inside, the thread holds the GIL and has one thread state whose id the
 * bytecode sees; after the outermost Release it holds nothing and has no
 * thread state; the counter equals the number of bump() calls (no update
 * lost: the GIL really excludes); every outermost pair got a fresh thread
 * state with an id never seen before; at the end only the main thread state
 * is left. */
#include "gvtest.h"

#include <sched.h>
#include <stdatomic.h>

#define THREADS 8

static const char *SRC =
    ".func bump\n"
    " LOAD_GLOBAL counter\n LOAD_CONST 1\n BINARY_ADD\n STORE_GLOBAL counter\n"
    " LOAD_GLOBAL thread_id\n CALL 0\n RETURN_VALUE\n.end\n"
    ".func spin n\n.local i\n LOAD_CONST 0\n STORE_FAST i\n"
    "top:\n LOAD_FAST i\n LOAD_FAST n\n COMPARE_LT\n POP_JUMP_IF_FALSE out\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
    "out:\n LOAD_FAST i\n RETURN_VALUE\n.end\n";

static long rounds;
static unsigned long *ids; /* THREADS * rounds: the id of each outermost pair */
static _Atomic long bumps, errors, allow_windows, max_depth_seen;
static _Atomic int done;

static void fail_in_thread(const char *what, long round) {
    if (atomic_fetch_add(&errors, 1) < 10) fprintf(stderr, "FAIL: round %ld: %s\n", round, what);
}

static void *foreign_main(void *p) {
    long me = (long)(intptr_t)p;
    unsigned r = (unsigned)me * 2654435761u + 7;
    for (long k = 0; k < rounds; k++) {
        r = r * 1103515245u + 12345u;
        int depth = 1 + (int)((r >> 16) % 4);
        GvGILState_STATE st[4];
        if (GvGILState_Check() || GvThreadState_Get()) fail_in_thread("attached before Ensure", k);
        for (int d = 0; d < depth; d++) {
            st[d] = GvGILState_Ensure();
            if (st[d] != (d == 0 ? GvGILState_UNLOCKED : GvGILState_LOCKED)) fail_in_thread("wrong Ensure state", k);
            if (!GvGILState_Check()) fail_in_thread("Ensure returned without the GIL", k);
        }
        if (depth > atomic_load(&max_depth_seen)) atomic_store(&max_depth_seen, depth);
        GvThreadState *ts = GvThreadState_Get();
        unsigned long id = GvThreadState_GetID(ts);
        ids[me * rounds + k] = id;
        int calls = 1 + (int)((r >> 8) % 3);
        for (int c = 0; c < calls; c++) {
            GvValue fn = gvt_global("bump"), out = gv_none();
            if (gv_eval_call(ts, fn, 0, NULL, &out) < 0) {
                fail_in_thread("bump() raised", k);
                GvErr_Clear();
            } else if (!gv_is_intlike(out) || (unsigned long)out.as.i != id) {
                fail_in_thread("bytecode saw another thread id", k);
            }
            gv_vdecref(out);
            gv_vdecref(fn);
            atomic_fetch_add(&bumps, 1);
            if (((r >> 4) & 3) == 0) {
                /* C code that blocks: release the GIL around it. */
                Gv_BEGIN_ALLOW_THREADS
                if (GvGILState_Check()) fail_in_thread("GIL held inside ALLOW_THREADS", k);
                sched_yield();
                Gv_END_ALLOW_THREADS
                atomic_fetch_add(&allow_windows, 1);
                if (GvThreadState_Get() != ts) fail_in_thread("thread state changed across ALLOW_THREADS", k);
            }
        }
        for (int d = depth - 1; d >= 0; d--) {
            GvGILState_Release(st[d]);
            if (d > 0 && !GvGILState_Check()) fail_in_thread("inner Release dropped the GIL", k);
        }
        if (GvGILState_Check() || GvThreadState_Get()) fail_in_thread("still attached after the outermost Release", k);
    }
    atomic_fetch_add(&done, 1);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    GVT_CHECK(Gv_Initialize() != NULL, "Gv_Initialize failed");
    gvt_load(SRC);
    gvt_set_global("counter", gv_int(0));
    /* Shorter than the default 5 ms: more handoffs per second. */
    GVT_CHECK(Gv_SetSwitchInterval(0.0005) == 0, "Gv_SetSwitchInterval failed");
    int base = gvt_count_tstates();
    rounds = gvt_scaled(2000, 100);
    ids = calloc((size_t)(THREADS * rounds), sizeof *ids);
    GVT_CHECK(ids != NULL, "out of memory");

    double t0 = gvt_now();
    gvt_watchdog_arm(240, "foreign threads doing Ensure/Release");
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        t[i] = gvt_start_thread(foreign_main, (void *)(intptr_t)i);
    long main_loops = 0;
    GvValue n = gv_int(5000);
    while (atomic_load(&done) < THREADS) {
        gv_vdecref(gvt_call_ok("spin", 1, &n));
        main_loops++;
    }
    Gv_BEGIN_ALLOW_THREADS
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    Gv_END_ALLOW_THREADS
    gvt_watchdog_disarm();
    double took = gvt_now() - t0;

    GvValue c = gvt_global("counter");
    long counter = (long)c.as.i;
    gv_vdecref(c);
    long pairs = THREADS * rounds;
    long dups = gvt_count_duplicates(ids, pairs);
    long zero = 0;
    for (long i = 0; i < pairs; i++) zero += ids[i] == 0;
    int after = gvt_count_tstates();
    printf("FIGURES stress_gilstate: threads %d outer_pairs %ld bump_calls %ld counter %ld allow_threads_windows %ld "
           "max_depth %ld distinct_ids %ld main_loops %ld tstates_before %d after %d seconds %.2f\n",
           THREADS, pairs, atomic_load(&bumps), counter, atomic_load(&allow_windows),
           atomic_load(&max_depth_seen), pairs - dups, main_loops, base, after, took);
    GVT_CHECK(atomic_load(&errors) == 0, "%ld errors in the foreign threads (see above)", atomic_load(&errors));
    GVT_CHECK(counter == atomic_load(&bumps), "counter %ld but %ld bump() calls: an update was lost", counter,
              atomic_load(&bumps));
    GVT_CHECK(zero == 0, "%ld pairs had no thread id", zero);
    GVT_CHECK(dups == 0, "%ld thread ids were given twice", dups);
    GVT_CHECK(after == base, "%d thread states before, %d after: leaked", base, after);
    free(ids);
    Gv_Finalize();
    printf("stress_gilstate: OK\n");
    return 0;
}
