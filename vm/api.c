/* The public API (include/gilvm.h): the checks every entry point makes,
 * the version, and the runtime's lifecycle. See api.h for the other files. */
#include "api.h"

#include "interp.h"

/* Misuse of the API that cannot be reported as an exception (no GIL, no
 * thread state, a NULL where nothing could be meant) ends the process with a
 * message naming the function, as CPython's Py_FatalError does: never a
 * silent return, never a crash somewhere later. */
_Noreturn void gv_api_fatal(const char *fn, const char *why) {
    fflush(stdout);
    fprintf(stderr, "gilvm: fatal error: %s: %s\n", fn, why);
    abort();
}

/* Does the calling thread, whose current thread state is ts, hold the GIL?
 * Usually through ts itself; else through the thread state bound to it, when
 * it swapped another one in (GvThreadState_Swap) while holding the GIL. */
bool gv_api_holds_gil(GvThreadState *ts) {
    if (__builtin_expect(ts->holds_gil, 1)) return true;
    GvThreadState *bound = gv_thread_bound(ts->interp);
    return bound && bound->holds_gil;
}

/* The calling thread's current thread state, when the thread holds the GIL:
 * the check at every entry point the header documents as "GIL held". A
 * thread-local load and a field the owner writes: cheap enough for every
 * call. */
GvThreadState *gv_api_need_gil(const char *fn) {
    GvThreadState *ts = gv_tstate_get();
    if (__builtin_expect(!ts, 0)) gv_api_fatal(fn, "called without holding the GIL (no current thread state)");
    if (!gv_api_holds_gil(ts)) gv_api_fatal(fn, "called without holding the GIL");
    return ts;
}

/* Sets TypeError for a NULL argument of a function that reports errors as
 * exceptions; returns -1. */
int gv_api_null_arg(const char *fn, const char *what) {
    return gv_err_format(&gv_type_TypeError, "%s: %s must not be NULL", fn, what);
}

const char *Gv_GetVersion(void) { return GILVM_VERSION_STRING; }

GvThreadState *Gv_Initialize(void) {
    if (gv_runtime_interp() || gv_interp_count() > 0) return NULL;
    GvInterpreterState *interp = gv_interp_new(NULL);
    if (!interp) return NULL;
    gv_runtime_set_finalizing(false);
    /* GILMODE picks the GIL's mode for any embedder (bench/ relies on it). */
    const char *mode = getenv("GILMODE");
    if (gv_gil_mode_by_name(mode) >= 0) gv_gil_set_initial_mode(interp->gil, gv_gil_mode_by_name(mode));
    gv_runtime_set_interp(interp);
    GvThreadState *ts = gv_interp_create(interp);
    if (!ts) {
        if (interp->main_thread) {
            Gv_Finalize();
        } else {
            gv_runtime_set_interp(NULL);
            gv_interp_delete(interp);
        }
        return NULL;
    }
    return ts;
}

/* How long Gv_Finalize waits for daemon threads to notice it: they are woken
 * at once, so only a thread stuck outside the VM (an embedder's C code with
 * the GIL released) can take this long. */
#define SHUTDOWN_TIMEOUT_NS 2000000000ull

/* The main thread waits for the program's threads; Ctrl-C or an
 * asynchronous exception interrupts it. */
int Gv_WaitForThreads(void) {
    GvThreadState *ts = gv_api_need_gil("Gv_WaitForThreads");
    if (ts != ts->interp->main_thread) gv_api_fatal("Gv_WaitForThreads", "called from a thread other than the main one");
    return gv_threads_wait_nondaemon(ts);
}

void Gv_Finalize(void) {
    GvInterpreterState *interp = gv_runtime_interp();
    if (!interp) return;
    GvThreadState *ts = gv_api_need_gil("Gv_Finalize");
    if (ts->interp != interp) gv_api_fatal("Gv_Finalize", "the current thread state belongs to no interpreter");
    if (ts != interp->main_thread)
        gv_api_fatal("Gv_Finalize", "called from a thread other than the main one (the one that called Gv_Initialize)");
    gv_err_clear(ts);
    if (gv_threads_wait_nondaemon(ts) < 0) gv_err_clear(ts); /* interrupted: the rest are abandoned */
    gv_tl_discard(); /* a recording nobody stopped: its thread states are about to go */
    gv_interp_before_finalize(ts);
    if (!interp->exit_wait_interrupted && gv_interp_count() > 1)
        gv_api_fatal("Gv_Finalize", "other interpreters still exist (end them with GvInterpreter_End first)");
    /* Even after an interrupted exit wait: an interpreter sharing main's GIL
     * cannot run on without it (only API-made ones share it). */
    if (gv_interp_gil_sharers_listed(interp) > 0)
        gv_api_fatal("Gv_Finalize", "an interpreter sharing the main GIL still exists (end it with GvInterpreter_End first)");
    gv_signals_uninstall();
    bool all_gone = gv_threads_shutdown(ts, SHUTDOWN_TIMEOUT_NS);
    gv_runtime_set_interp(NULL);
    gv_interp_teardown(ts, all_gone);
}

int Gv_IsFinalizing(void) { return gv_runtime_finalizing(); }

