/* The public API: what the gilvm command shows (GIL statistics per thread,
 * the schedule's digest, the bytecode reference, the build) and once read
 * from the interpreter's internals. The interpreter is the current thread
 * state's, as for every other "GIL held" call. */
#include "api.h"

int Gv_GILModeByName(const char *name) {
    if (!name) return -1;
    int m = gv_gil_mode_by_name(name);
    return gv_gil_mode_selectable(m) ? m : -1;
}

const char *Gv_GetGILModeName(void) {
    GvInterpreterState *interp = GvInterpreterState_Get();
    return gv_gil_mode_name(interp ? interp->gil->mode : GV_GIL_CLASSIC);
}

size_t GvGIL_GetThreadStats(GvGILThreadStats *rows, size_t cap) {
    GvThreadState *ts = gv_api_need_gil("GvGIL_GetThreadStats");
    if (cap && !rows) gv_api_fatal("GvGIL_GetThreadStats", "NULL rows");
    GvInterpreterState *interp = ts->interp;
    size_t n = 0;
    /* Ended threads: their counters were saved when their state was freed. */
    pthread_mutex_lock(&interp->mutex);
    for (size_t i = 0; i < interp->npast_stats; i++, n++) {
        if (n >= cap) continue;
        rows[n].thread_id = interp->past_stats[i].id;
        rows[n].is_main = 0; /* the main thread's state lives until Gv_Finalize */
        rows[n].running = 0;
        rows[n].stats = interp->past_stats[i].stats;
    }
    /* A thread state is deleted (unlinked) only with the GIL held, which we
     * hold; one made meanwhile (any thread may) goes in front of the head
     * read here. So the list from that head holds still without the mutex,
     * and each state's counters are read under the GIL's mutex alone: no
     * lock is taken inside another. */
    GvThreadState *head = interp->threads;
    pthread_mutex_unlock(&interp->mutex);
    for (GvThreadState *t = head; t; t = t->next, n++) {
        if (n >= cap) continue;
        rows[n].thread_id = t->id;
        rows[n].is_main = t == interp->main_thread;
        rows[n].running = 1;
        GvThreadState_GetGILStats(t, &rows[n].stats);
    }
    return n;
}

unsigned long long Gv_GetScheduleDigest(unsigned long long *handoffs) {
    GvThreadState *ts = gv_api_need_gil("Gv_GetScheduleDigest");
    uint64_t h;
    uint64_t digest = gv_gil_sched_digest(ts->interp->gil, &h);
    if (handoffs) *handoffs = h;
    return digest;
}

void GvDis_PrintOpcodeReference(void *file) {
    if (!file) gv_api_fatal("GvDis_PrintOpcodeReference", "NULL file");
    gv_dis_opcode_doc(file);
}

void GvDis_PrintLanguageTables(void *file) {
    if (!file) gv_api_fatal("GvDis_PrintLanguageTables", "NULL file");
    gv_dis_language_tables(file);
}

#define GV_STR_(x) #x
#define GV_STR(x) GV_STR_(x)
#if defined(__clang__)
#define GV_COMPILER "clang " GV_STR(__clang_major__) "." GV_STR(__clang_minor__) "." GV_STR(__clang_patchlevel__)
#elif defined(__GNUC__)
#define GV_COMPILER "gcc " __VERSION__
#else
#define GV_COMPILER "an unknown compiler"
#endif

/* The compiler and dispatch, as `python3 -VV` shows them: a benchmark figure
 * means little without them (bench/README.md, "PGO and compilers"). */
const char *Gv_GetBuildInfo(void) {
#if GV_COMPUTED_GOTO
    return GV_COMPILER ", computed goto";
#else
    return GV_COMPILER ", switch dispatch";
#endif
}
