/* Per-thread dicts (tls(), GvThreadState_GetDict) under concurrency.
 *
 * VM_THREADS threads started by the program and FOREIGN raw pthreads (through
 * GvGILState_Ensure) all run the same bytecode at once: store their own
 * number and a counter in tls(), spin (checkpoints: the GIL changes hands),
 * read tls() back. Each must only ever see its own values; a new thread state
 * starts with an empty dict (a foreign thread gets a new one at each outermost
 * Ensure, so the dict of the previous one must not survive into it); the C
 * side sees the same dict through GvThreadState_GetDict, and NULL once the
 * thread has no thread state. */
#include "gvtest.h"

#include <stdatomic.h>

#define VM_THREADS 32
#define FOREIGN 8

static const char *SRC =
    /* tls_worker(me, iters, fresh): returns the number of wrong reads */
    ".func tls_worker me iters fresh\n.local d i bad k want\n"
    " LOAD_CONST 0\n STORE_FAST bad\n"
    " LOAD_GLOBAL tls\n CALL 0\n STORE_FAST d\n"
    " LOAD_FAST fresh\n POP_JUMP_IF_FALSE go\n"
    " LOAD_GLOBAL len\n LOAD_FAST d\n CALL 1\n LOAD_CONST 0\n COMPARE_EQ\n POP_JUMP_IF_TRUE go\n"
    " LOAD_CONST 1000000\n STORE_FAST bad\n"
    "go:\n LOAD_FAST me\n LOAD_FAST d\n LOAD_CONST \"me\"\n STORE_INDEX\n"
    " LOAD_CONST 0\n STORE_FAST i\n"
    "top:\n LOAD_FAST i\n LOAD_FAST iters\n COMPARE_LT\n POP_JUMP_IF_FALSE out\n"
    " LOAD_FAST me\n LOAD_CONST 1000000\n BINARY_MUL\n LOAD_FAST i\n BINARY_ADD\n STORE_FAST want\n"
    " LOAD_FAST want\n LOAD_GLOBAL tls\n CALL 0\n LOAD_CONST \"v\"\n STORE_INDEX\n"
    /* spin a little: a checkpoint each time round */
    " LOAD_CONST 0\n STORE_FAST k\n"
    "spin:\n LOAD_FAST k\n LOAD_CONST 20\n COMPARE_LT\n POP_JUMP_IF_FALSE spun\n"
    " LOAD_FAST k\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST k\n JUMP spin\n"
    "spun:\n"
    " LOAD_GLOBAL tls\n CALL 0\n LOAD_CONST \"v\"\n LOAD_INDEX\n LOAD_FAST want\n COMPARE_EQ\n POP_JUMP_IF_TRUE v_ok\n"
    " LOAD_FAST bad\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST bad\n"
    "v_ok:\n"
    " LOAD_GLOBAL tls\n CALL 0\n LOAD_CONST \"me\"\n LOAD_INDEX\n LOAD_FAST me\n COMPARE_EQ\n POP_JUMP_IF_TRUE me_ok\n"
    " LOAD_FAST bad\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST bad\n"
    "me_ok:\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
    "out:\n LOAD_FAST bad\n RETURN_VALUE\n.end\n"
    /* start_all(n, iters): n threads running tls_worker(i, iters, true) */
    ".func start_all n iters\n.local hs i\n BUILD_LIST 0\n STORE_FAST hs\n LOAD_CONST 0\n STORE_FAST i\n"
    "top:\n LOAD_FAST i\n LOAD_FAST n\n COMPARE_LT\n POP_JUMP_IF_FALSE out\n"
    " LOAD_GLOBAL append\n LOAD_FAST hs\n"
    " LOAD_GLOBAL thread_start\n LOAD_GLOBAL tls_worker\n LOAD_FAST i\n LOAD_FAST iters\n LOAD_CONST true\n CALL 4\n"
    " CALL 2\n POP_TOP\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
    "out:\n LOAD_FAST hs\n RETURN_VALUE\n.end\n"
    /* join_all(hs): the sum of the results (a thread that raised gives none: 1000000) */
    ".func join_all hs\n.local i s r\n LOAD_CONST 0\n STORE_FAST i\n LOAD_CONST 0\n STORE_FAST s\n"
    "top:\n LOAD_FAST i\n LOAD_GLOBAL len\n LOAD_FAST hs\n CALL 1\n COMPARE_LT\n POP_JUMP_IF_FALSE out\n"
    " LOAD_GLOBAL thread_join\n LOAD_FAST hs\n LOAD_FAST i\n LOAD_INDEX\n CALL 1\n STORE_FAST r\n"
    " LOAD_FAST r\n LOAD_CONST none\n COMPARE_NE\n POP_JUMP_IF_TRUE add\n LOAD_CONST 1000000\n STORE_FAST r\n"
    "add:\n LOAD_FAST s\n LOAD_FAST r\n BINARY_ADD\n STORE_FAST s\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
    "out:\n LOAD_FAST s\n RETURN_VALUE\n.end\n";

static long foreign_rounds, vm_iters;
static _Atomic long foreign_bad, foreign_reads;

static void bad(const char *what, long me, long k) {
    if (atomic_fetch_add(&foreign_bad, 1) < 10) fprintf(stderr, "FAIL: foreign %ld round %ld: %s\n", me, k, what);
}

static void *foreign_main(void *p) {
    long me = 1000 + (long)(intptr_t)p; /* distinct from the VM threads' numbers */
    for (long k = 0; k < foreign_rounds; k++) {
        if (GvThreadState_GetDict() != NULL) bad("a dict without a thread state", me, k);
        GvGILState_STATE s = GvGILState_Ensure();
        for (int call = 0; call < 2; call++) {
            GvValue argv[3] = {gv_int(me), gv_int(20), gv_bool(call == 0)};
            GvValue fn = gvt_global("tls_worker"), out = gv_none();
            if (gv_eval_call(GvThreadState_Get(), fn, 3, argv, &out) < 0) {
                bad("tls_worker raised", me, k);
                GvErr_Clear();
            } else if (!gv_is_intlike(out) || out.as.i != 0) {
                bad("tls_worker saw another thread's values (or a dict not fresh)", me, k);
            }
            gv_vdecref(out);
            gv_vdecref(fn);
            atomic_fetch_add(&foreign_reads, 2 * 20);
        }
        /* The C side sees the same dict. */
        GvObject *d = GvThreadState_GetDict();
        GvObject *key = gv_str_from_cstr("me");
        GvValue v = gv_none();
        if (!d || gv_dict_get((GvDict *)d, gv_obj(key), &v) != 1 || !gv_is_intlike(v) || v.as.i != me)
            bad("GvThreadState_GetDict is not tls()", me, k);
        gv_vdecref(v);
        gv_decref(key);
        GvGILState_Release(s);
    }
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    GVT_CHECK(Gv_Initialize() != NULL, "Gv_Initialize failed");
    GVT_CHECK(Gv_SetSwitchInterval(0.0005) == 0, "Gv_SetSwitchInterval failed");
    gvt_load(SRC);
    vm_iters = gvt_scaled(20000, 100);
    foreign_rounds = gvt_scaled(4000, 50);
    int base = gvt_count_tstates();

    double t0 = gvt_now();
    gvt_watchdog_arm(240, "threads using tls()");
    pthread_t t[FOREIGN];
    for (long i = 0; i < FOREIGN; i++)
        t[i] = gvt_start_thread(foreign_main, (void *)(intptr_t)i);
    GvValue args[2] = {gv_int(VM_THREADS), gv_int(vm_iters)};
    GvValue hs = gvt_call_ok("start_all", 2, args);
    int64_t vm_bad = gvt_call_int("join_all", 1, &hs);
    gv_vdecref(hs);
    Gv_BEGIN_ALLOW_THREADS
    for (int i = 0; i < FOREIGN; i++) pthread_join(t[i], NULL);
    Gv_END_ALLOW_THREADS
    gvt_watchdog_disarm();
    double took = gvt_now() - t0;
    int after = gvt_count_tstates();
    printf("FIGURES stress_tls: vm_threads %d iterations_each %ld foreign_threads %d outer_ensures_each %ld "
           "reads_checked %ld wrong_vm %lld wrong_foreign %ld tstates_before %d after %d seconds %.2f\n",
           VM_THREADS, vm_iters, FOREIGN, foreign_rounds, VM_THREADS * vm_iters * 2 + atomic_load(&foreign_reads),
           (long long)vm_bad, atomic_load(&foreign_bad), base, after, took);
    GVT_CHECK(vm_bad == 0, "VM threads read wrong values from tls() (%lld)", (long long)vm_bad);
    GVT_CHECK(atomic_load(&foreign_bad) == 0, "foreign threads saw wrong tls() values (see above)");
    GVT_CHECK(after == base, "%d thread states before, %d after", base, after);
    Gv_Finalize();
    printf("stress_tls: OK\n");
    return 0;
}
