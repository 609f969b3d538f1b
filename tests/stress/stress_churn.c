/* Thread start/join churn.
 *
 * The program starts TOTAL short threads in batches of BATCH (every other one
 * a daemon), each returning thread_id() after a little work, and joins every
 * one. Checked: each join returns the thread's own id, which equals
 * thread_id(handle); no id is ever given twice (ids are unique for the
 * process's lifetime); afterwards only the main thread state is left (no
 * thread state leaks; under ASan, LeakSanitizer checks the memory at exit).
 * Then the same with GvThreadState_New/AcquireThread/ReleaseThread/Delete
 * from raw pthreads, the embedder's way of making threads. */
#include "gvtest.h"

#include <stdatomic.h>

static const char *SRC =
    ".func short n\n.local i\n LOAD_CONST 0\n STORE_FAST i\n"
    "top:\n LOAD_FAST i\n LOAD_FAST n\n COMPARE_LT\n POP_JUMP_IF_FALSE out\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
    "out:\n LOAD_GLOBAL thread_id\n CALL 0\n RETURN_VALUE\n.end\n"
    /* churn(total, batch): returns [started, joined, wrong_results, distinct_ids] */
    ".func churn total batch\n.local seen hs i j h r started joined wrong starter\n"
    " BUILD_DICT 0\n STORE_FAST seen\n"
    " LOAD_CONST 0\n STORE_FAST started\n LOAD_CONST 0\n STORE_FAST joined\n LOAD_CONST 0\n STORE_FAST wrong\n"
    "outer:\n LOAD_FAST started\n LOAD_FAST total\n COMPARE_LT\n POP_JUMP_IF_FALSE done\n"
    " BUILD_LIST 0\n STORE_FAST hs\n LOAD_CONST 0\n STORE_FAST j\n"
    "start:\n LOAD_FAST j\n LOAD_FAST batch\n COMPARE_LT\n POP_JUMP_IF_FALSE started_all\n"
    " LOAD_GLOBAL thread_start\n STORE_FAST starter\n"
    " LOAD_FAST started\n LOAD_CONST 2\n BINARY_MOD\n LOAD_CONST 0\n COMPARE_EQ\n POP_JUMP_IF_TRUE nd\n"
    " LOAD_GLOBAL thread_start_daemon\n STORE_FAST starter\n"
    "nd:\n LOAD_GLOBAL append\n LOAD_FAST hs\n"
    " LOAD_FAST starter\n LOAD_GLOBAL short\n LOAD_FAST j\n LOAD_CONST 10\n BINARY_MUL\n CALL 2\n CALL 2\n POP_TOP\n"
    " LOAD_FAST started\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST started\n"
    " LOAD_FAST j\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST j\n JUMP start\n"
    "started_all:\n LOAD_CONST 0\n STORE_FAST j\n"
    "join:\n LOAD_FAST j\n LOAD_GLOBAL len\n LOAD_FAST hs\n CALL 1\n COMPARE_LT\n POP_JUMP_IF_FALSE outer\n"
    " LOAD_FAST hs\n LOAD_FAST j\n LOAD_INDEX\n STORE_FAST h\n"
    " LOAD_GLOBAL thread_join\n LOAD_FAST h\n CALL 1\n STORE_FAST r\n"
    " LOAD_FAST joined\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST joined\n"
    " LOAD_FAST r\n LOAD_GLOBAL thread_id\n LOAD_FAST h\n CALL 1\n COMPARE_EQ\n POP_JUMP_IF_TRUE ok\n"
    " LOAD_FAST wrong\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST wrong\n"
    "ok:\n LOAD_CONST 1\n LOAD_FAST seen\n LOAD_FAST r\n STORE_INDEX\n"
    " LOAD_FAST j\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST j\n JUMP join\n"
    "done:\n LOAD_FAST started\n LOAD_FAST joined\n LOAD_FAST wrong\n"
    " LOAD_GLOBAL len\n LOAD_FAST seen\n CALL 1\n BUILD_LIST 4\n RETURN_VALUE\n.end\n";

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long size = 0, res = 0;
    if (fscanf(f, "%ld %ld", &size, &res) != 2) res = -1;
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- embedder-made threads ---- */

typedef struct Embed {
    GvThreadState *ts;
    unsigned long id;
    int ran;
} Embed;

static void *embed_main(void *p) {
    Embed *e = p;
    GvEval_AcquireThread(e->ts);
    GvValue n = gv_int(10);
    GvValue r = gvt_call_ok("short", 1, &n);
    e->ran = gv_is_intlike(r) && (unsigned long)r.as.i == e->id;
    gv_vdecref(r);
    GvEval_ReleaseThread(e->ts);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    GVT_CHECK(Gv_Initialize() != NULL, "Gv_Initialize failed");
    gvt_load(SRC);
    int base = gvt_count_tstates();
    long batch = 8, total = (gvt_scaled(10000, 200) + batch - 1) / batch * batch; /* whole batches */
    long rss0 = rss_kb();

    double t0 = gvt_now();
    gvt_watchdog_arm(240, "thread churn");
    GvValue args[2] = {gv_int(total), gv_int(batch)};
    GvValue res = gvt_call_ok("churn", 2, args);
    GvList *l = (GvList *)res.as.o;
    int64_t started = l->items[0].as.i, joined = l->items[1].as.i, wrong = l->items[2].as.i,
            distinct = l->items[3].as.i;
    gv_vdecref(res);
    /* A joined thread may still be leaving (unlinking its state) for a moment. */
    double w0 = gvt_now();
    int after = gvt_count_tstates();
    while (after != base && gvt_now() - w0 < 5) {
        Gv_BEGIN_ALLOW_THREADS
        gvt_msleep(1);
        Gv_END_ALLOW_THREADS
        after = gvt_count_tstates();
    }
    double took = gvt_now() - t0;
    long rss1 = rss_kb();

    /* Embedder-made thread states: New, Acquire on a raw pthread, Release,
     * then Clear + Delete by the creator. */
    long embeds = gvt_scaled(2000, 50);
    unsigned long *ids = calloc((size_t)embeds, sizeof *ids);
    long embed_ok = 0;
    double t1 = gvt_now();
    for (long i = 0; i < embeds; i++) {
        Embed e = {GvThreadState_New(GvInterpreterState_Get()), 0, 0};
        GVT_CHECK(e.ts != NULL, "GvThreadState_New failed");
        e.id = ids[i] = GvThreadState_GetID(e.ts);
        pthread_t t = gvt_start_thread(embed_main, &e);
        Gv_BEGIN_ALLOW_THREADS
        pthread_join(t, NULL);
        Gv_END_ALLOW_THREADS
        embed_ok += e.ran;
        GvThreadState_Clear(e.ts);
        GvThreadState_Delete(e.ts);
    }
    double took_embed = gvt_now() - t1;
    gvt_watchdog_disarm();
    long embed_dups = gvt_count_duplicates(ids, embeds);
    int after_embed = gvt_count_tstates();
    free(ids);

    printf("FIGURES stress_churn: vm_threads_started %lld joined %lld batch %ld wrong_results %lld distinct_ids %lld "
           "tstates_before %d after %d rss_kb_before %ld after %ld seconds %.2f\n",
           (long long)started, (long long)joined, batch, (long long)wrong, (long long)distinct, base, after, rss0, rss1,
           took);
    printf("FIGURES stress_churn/embedder: threads %ld ran_ok %ld duplicate_ids %ld tstates_after %d seconds %.2f\n",
           embeds, embed_ok, embed_dups, after_embed, took_embed);
    GVT_CHECK(started == total && joined == total, "started %lld joined %lld of %ld", (long long)started,
              (long long)joined, total);
    GVT_CHECK(wrong == 0, "%lld joins returned another thread's id", (long long)wrong);
    GVT_CHECK(distinct == total, "%lld distinct ids for %ld threads: an id was given twice", (long long)distinct, total);
    GVT_CHECK(after == base, "%d thread states before, %d after the churn", base, after);
    GVT_CHECK(embed_ok == embeds, "%ld of %ld embedder threads ran as themselves", embed_ok, embeds);
    GVT_CHECK(embed_dups == 0, "%ld embedder thread ids given twice", embed_dups);
    GVT_CHECK(after_embed == base, "%d thread states after the embedder threads", after_embed);
    Gv_Finalize();
    printf("stress_churn: OK\n");
    return 0;
}
