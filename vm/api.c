/* The public API (include/gilvm.h) on top of the runtime and the VM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/dict.h"
#include "../runtime/errors.h"
#include "../runtime/func.h"
#include "../runtime/list.h"
#include "../runtime/str.h"
#include "../runtime/breaker.h"
#include "../runtime/services.h"
#include "../runtime/thread.h"
#include "asm.h"
#include "builtins.h"
#include "bytecode.h"
#include "diag.h"
#include "dis.h"
#include "eval.h"
#include "quicken.h"
#include "verify.h"

/* Misuse of the API that cannot be reported as an exception (no GIL, no
 * thread state, a NULL where nothing could be meant) ends the process with a
 * message naming the function, as CPython's Py_FatalError does: never a
 * silent return, never a crash somewhere later. */
_Noreturn static void fatal_api(const char *fn, const char *why) {
    fflush(stdout);
    fprintf(stderr, "gilvm: fatal error: %s: %s\n", fn, why);
    abort();
}

/* Does the calling thread, whose current thread state is ts, hold the GIL?
 * Usually through ts itself; else through the thread state bound to it, when
 * it swapped another one in (GvThreadState_Swap) while holding the GIL. */
static bool holds_gil(GvThreadState *ts) {
    if (__builtin_expect(ts->holds_gil, 1)) return true;
    GvThreadState *bound = gv_thread_bound();
    return bound && bound->holds_gil;
}

/* The calling thread's current thread state, when the thread holds the GIL:
 * the check at every entry point the header documents as "GIL held". A
 * thread-local load and a field the owner writes: cheap enough for every
 * call. */
static GvThreadState *need_gil(const char *fn) {
    GvThreadState *ts = gv_tstate_get();
    if (__builtin_expect(!ts, 0)) fatal_api(fn, "called without holding the GIL (no current thread state)");
    if (!holds_gil(ts)) fatal_api(fn, "called without holding the GIL");
    return ts;
}

/* Sets TypeError for a NULL argument of a function that reports errors as
 * exceptions; returns -1. */
static int null_arg(const char *fn, const char *what) {
    return gv_err_format(&gv_type_TypeError, "%s: %s must not be NULL", fn, what);
}

const char *Gv_GetVersion(void) { return GILVM_VERSION_STRING; }

GvThreadState *Gv_Initialize(void) {
    if (gv_runtime_interp()) return NULL;
    GvInterpreterState *interp = gv_interp_new();
    if (!interp) return NULL;
    GvThreadState *ts = gv_tstate_new(interp);
    if (!ts) {
        gv_interp_delete(interp);
        return NULL;
    }
    gv_runtime_set_finalizing(false);
    interp->main_thread = ts;
    interp->eval_call = gv_eval_call;
    /* GILMODE picks the GIL's mode for any embedder (bench/ relies on it). */
    const char *mode = getenv("GILMODE");
    if (mode && strcmp(mode, "priority") == 0) interp->gil.mode = GV_GIL_PRIORITY;
    else if (mode && strcmp(mode, "spin") == 0) interp->gil.mode = GV_GIL_PRIORITY_SPIN;
    gv_runtime_set_interp(interp);
    gv_thread_bind(ts);
    if (gv_tstate_attach(ts) < 0) abort(); /* cannot fail: not finalizing */
    interp->globals = gv_dict_new();
    interp->builtins = gv_dict_new();
    if (!interp->globals || !interp->builtins || gv_builtins_install(interp) < 0) {
        Gv_Finalize();
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
    GvThreadState *ts = need_gil("Gv_WaitForThreads");
    if (ts != ts->interp->main_thread) fatal_api("Gv_WaitForThreads", "called from a thread other than the main one");
    return gv_threads_wait_nondaemon(ts);
}

void Gv_Finalize(void) {
    GvInterpreterState *interp = gv_runtime_interp();
    if (!interp) return;
    GvThreadState *ts = need_gil("Gv_Finalize");
    if (ts->interp != interp) fatal_api("Gv_Finalize", "the current thread state belongs to no interpreter");
    if (ts != interp->main_thread)
        fatal_api("Gv_Finalize", "called from a thread other than the main one (the one that called Gv_Initialize)");
    gv_err_clear(ts);
    if (gv_threads_wait_nondaemon(ts) < 0) gv_err_clear(ts); /* interrupted: the rest are abandoned */
    gv_signals_uninstall();
    bool all_gone = gv_threads_shutdown(ts, SHUTDOWN_TIMEOUT_NS);
    gv_runtime_set_interp(NULL);
    if (!all_gone) {
        /* A thread may still wake up in the interpreter: leave it allocated. */
        gv_tstate_set(NULL);
        gv_thread_unbind();
        return;
    }
    gv_err_clear(ts);
    gv_excinfo_pop_to(ts, 0);
    GvObject *g = interp->globals, *b = interp->builtins, *a = interp->argv;
    interp->globals = interp->builtins = interp->argv = NULL;
    gv_xdecref(a);
    gv_xdecref(g);
    gv_xdecref(b);
    /* Thread states nobody deleted (GvThreadState_New without Delete, or a
     * thread that left with GvEval_SaveThread and never came back): their
     * threads may still hold them, so each leaves a tombstone. */
    while (interp->threads) {
        GvThreadState *t = interp->threads;
        gv_frame_teardown_all(t);
        if (t == ts) gv_tstate_delete(t);
        else gv_tstate_retire(t);
    }
    gv_containers_clear(interp);
    gv_tstate_set(NULL);
    gv_thread_unbind();
    gv_interp_delete(interp);
}

int Gv_IsFinalizing(void) { return gv_runtime_finalizing(); }

GvThreadState *GvThreadState_Get(void) { return gv_tstate_get(); }

GvInterpreterState *GvInterpreterState_Get(void) {
    GvThreadState *ts = gv_tstate_get();
    return ts ? ts->interp : gv_runtime_interp();
}

GvThreadState *GvThreadState_New(GvInterpreterState *interp) {
    if (!interp || interp != gv_runtime_interp() || gv_runtime_finalizing()) return NULL;
    return gv_tstate_new(interp);
}

void GvThreadState_Clear(GvThreadState *ts) {
    need_gil("GvThreadState_Clear");
    if (!ts) fatal_api("GvThreadState_Clear", "NULL thread state");
    if (ts->current_frame) fatal_api("GvThreadState_Clear", "the thread state is running bytecode");
    gv_tstate_clear(ts);
}

void GvThreadState_Delete(GvThreadState *ts) {
    need_gil("GvThreadState_Delete");
    if (!ts) fatal_api("GvThreadState_Delete", "NULL thread state");
    if (ts == gv_tstate_get()) fatal_api("GvThreadState_Delete", "the thread state is current (use GvThreadState_DeleteCurrent)");
    if (ts->holds_gil) fatal_api("GvThreadState_Delete", "the thread state holds the GIL");
    if (ts->current_frame) fatal_api("GvThreadState_Delete", "the thread state is running bytecode");
    gv_tstate_delete(ts);
}

void GvThreadState_DeleteCurrent(void) {
    gv_tstate_delete_current(need_gil("GvThreadState_DeleteCurrent"));
}

GvThreadState *GvThreadState_Swap(GvThreadState *ts) {
    GvThreadState *old = gv_tstate_get();
    gv_tstate_set(ts);
    return old;
}

unsigned long GvThreadState_GetID(GvThreadState *ts) { return ts ? ts->id : 0; }

/* Taking the GIL while already holding it would wait forever. */
static void not_holding(const char *fn) {
    GvThreadState *cur = gv_tstate_get();
    if (cur && cur->holds_gil) fatal_api(fn, "the calling thread already holds the GIL");
}

void GvEval_AcquireThread(GvThreadState *ts) {
    if (!ts) fatal_api("GvEval_AcquireThread", "NULL thread state");
    not_holding("GvEval_AcquireThread");
    if (!gv_tstate_enter(ts, "GvEval_AcquireThread")) pthread_exit(NULL); /* finalizing: this thread does not come back */
    if (ts->holds_gil) fatal_api("GvEval_AcquireThread", "the thread state already holds the GIL");
    if (!gv_thread_bound()) gv_thread_bind(ts);
    gv_tstate_attach_or_exit(ts);
}

int GvEval_AcquireThreadOrFail(GvThreadState *ts) {
    if (!ts) fatal_api("GvEval_AcquireThreadOrFail", "NULL thread state");
    not_holding("GvEval_AcquireThreadOrFail");
    if (!gv_tstate_enter(ts, "GvEval_AcquireThreadOrFail")) return -1;
    if (ts->holds_gil) fatal_api("GvEval_AcquireThreadOrFail", "the thread state already holds the GIL");
    if (gv_tstate_attach(ts) < 0) {
        /* Refused: this thread will not touch the VM, so finalization must
         * not wait for it. */
        gv_tstate_uncount(ts);
        return -1;
    }
    if (!gv_thread_bound()) gv_thread_bind(ts);
    return 0;
}

/* A thread leaving through the public API comes back only through calls
 * that check the finalizing flag before touching its thread state, so
 * finalization need not wait for it (unlike a thread parked inside a VM
 * wait, which touches VM memory as it wakes). */
static void leave_vm(GvThreadState *ts) {
    gv_tstate_detach(ts);
    /* A thread_start thread (it has a handle) stays counted: it runs VM code
     * again when its C code returns. */
    if (!ts->handle) gv_tstate_uncount(ts);
}

void GvEval_ReleaseThread(GvThreadState *ts) {
    if (!ts) fatal_api("GvEval_ReleaseThread", "NULL thread state");
    if (ts != need_gil("GvEval_ReleaseThread"))
        fatal_api("GvEval_ReleaseThread", "the thread state is not the calling thread's current one");
    leave_vm(ts);
}

GvThreadState *GvEval_SaveThread(void) {
    GvThreadState *ts = need_gil("GvEval_SaveThread");
    leave_vm(ts);
    return ts;
}

void GvEval_RestoreThread(GvThreadState *ts) {
    if (!ts) fatal_api("GvEval_RestoreThread", "NULL thread state");
    not_holding("GvEval_RestoreThread");
    if (!gv_tstate_enter(ts, "GvEval_RestoreThread")) pthread_exit(NULL); /* finalizing: ts may be gone */
    gv_tstate_attach_or_exit(ts);
}

GvGILState_STATE GvGILState_Ensure(void) {
    GvThreadState *ts = gv_thread_bound();
    if (ts && ts->holds_gil && gv_tstate_get() == ts) {
        ts->gilstate_counter++;
        return GvGILState_LOCKED;
    }
    if (!ts) {
        /* Created and counted under the runtime lock, so that finalization
         * either waits for this thread or refuses it before it exists. */
        gv_runtime_lock();
        GvInterpreterState *interp = gv_runtime_interp();
        if (!interp || gv_runtime_finalizing()) {
            gv_runtime_unlock();
            pthread_exit(NULL); /* no interpreter to run in, or no longer */
        }
        ts = gv_tstate_new(interp);
        if (!ts) fatal_api("GvGILState_Ensure", "out of memory");
        ts->gilstate_auto = true;
        ts->runtime_owned = true;
        gv_tstate_count(ts, false);
        gv_runtime_unlock();
        gv_thread_bind(ts);
    } else if (!gv_tstate_enter(ts, "GvGILState_Ensure")) {
        pthread_exit(NULL);
    }
    gv_tstate_attach_or_exit(ts);
    ts->gilstate_counter++;
    return GvGILState_UNLOCKED;
}

void GvGILState_Release(GvGILState_STATE state) {
    if (state != GvGILState_LOCKED && state != GvGILState_UNLOCKED)
        fatal_api("GvGILState_Release", "not a state GvGILState_Ensure returned");
    GvThreadState *ts = gv_thread_bound();
    if (!ts || gv_tstate_get() != ts || !ts->holds_gil || ts->gilstate_counter <= 0)
        fatal_api("GvGILState_Release", "no matching GvGILState_Ensure on this thread");
    if (--ts->gilstate_counter == 0 && ts->gilstate_auto) {
        GvThreadState_DeleteCurrent();
        return;
    }
    if (state == GvGILState_UNLOCKED) leave_vm(ts);
}

int GvGILState_Check(void) {
    GvThreadState *ts = gv_tstate_get();
    return ts && holds_gil(ts);
}

int Gv_SetSwitchInterval(double seconds) {
    GvThreadState *ts = need_gil("Gv_SetSwitchInterval");
    if (!(seconds > 0)) return gv_err_format(&gv_type_ValueError, "switch interval must be strictly positive");
    ts->interp->switch_interval = gv_float(seconds);
    double ns = seconds * 1e9;
    atomic_store(&ts->interp->gil.interval_ns, ns < 1 ? 1 : ns > 1e15 ? (int64_t)1e15 : (int64_t)ns);
    return 0;
}

int Gv_SetGILMode(GvGILMode mode) {
    GvThreadState *ts = need_gil("Gv_SetGILMode");
    if (mode != GV_GIL_CLASSIC && mode != GV_GIL_PRIORITY && mode != GV_GIL_PRIORITY_SPIN)
        return gv_err_format(&gv_type_ValueError, "unknown GIL mode %d", (int)mode);
    GvInterpreterState *interp = ts->interp;
    pthread_mutex_lock(&interp->mutex);
    bool alone = interp->threads == ts && ts->next == NULL;
    pthread_mutex_unlock(&interp->mutex);
    if (!alone)
        return gv_err_format(&gv_type_RuntimeError, "the GIL mode can only change while a single thread exists");
    interp->gil.mode = (int)mode;
    return 0;
}

int Gv_SetSchedule(unsigned long long seed, unsigned instructions) {
    GvThreadState *ts = need_gil("Gv_SetSchedule");
    GvInterpreterState *interp = ts->interp;
    if (instructions == 0) return gv_err_format(&gv_type_ValueError, "a schedule slice must be at least 1 instruction");
    pthread_mutex_lock(&interp->mutex);
    bool alone = interp->threads == ts && ts->next == NULL;
    pthread_mutex_unlock(&interp->mutex);
    if (!alone)
        return gv_err_format(&gv_type_RuntimeError, "the schedule can only be set while a single thread exists");
    gv_gil_set_schedule(&interp->gil, ts, seed, instructions);
    ts->trace_active = true; /* instructions are counted on the traced path */
    gv_eval_retarget(ts);
    gv_eb_set(ts, GV_EB_TRACING);
    return 0;
}

GvGILMode Gv_GetGILMode(void) {
    GvInterpreterState *interp = GvInterpreterState_Get();
    return interp ? (GvGILMode)interp->gil.mode : GV_GIL_CLASSIC;
}

double Gv_GetSwitchInterval(void) {
    GvValue v = need_gil("Gv_GetSwitchInterval")->interp->switch_interval;
    return gv_is_float(v) ? v.as.f : (double)v.as.i;
}

void GvGIL_GetStats(GvGILStats *out) {
    if (!out) fatal_api("GvGIL_GetStats", "NULL out");
    GvInterpreterState *interp = GvInterpreterState_Get();
    if (!interp) {
        memset(out, 0, sizeof *out);
        return;
    }
    gv_gil_get_stats(&interp->gil, out);
}

void GvThreadState_GetGILStats(GvThreadState *ts, GvGILStats *out) {
    need_gil("GvThreadState_GetGILStats");
    if (!ts || !out) fatal_api("GvThreadState_GetGILStats", ts ? "NULL out" : "NULL thread state");
    pthread_mutex_lock(&ts->interp->gil.mutex);
    *out = ts->gil_stats;
    pthread_mutex_unlock(&ts->interp->gil.mutex);
}

GvObject *GvThreadState_GetDict(void) {
    if (!gv_tstate_get()) return NULL;
    GvThreadState *ts = need_gil("GvThreadState_GetDict");
    GvObject *d = gv_tstate_dict(ts);
    if (!d) gv_err_clear(ts); /* documented: never raises */
    return d;
}

int GvThreadState_SetAsyncExc(unsigned long id, GvObject *exc) {
    GvThreadState *ts = need_gil("GvThreadState_SetAsyncExc");
    if (exc && exc->kind != GV_KEXC && exc->kind != GV_KTYPE) {
        gv_err_format(&gv_type_TypeError, "GvThreadState_SetAsyncExc: not an exception or exception type");
        return -1;
    }
    return gv_set_async_exc(ts->interp, id, exc);
}

void GvThreadState_MaskAsyncExc(void) { gv_async_mask(need_gil("GvThreadState_MaskAsyncExc")); }
void GvThreadState_UnmaskAsyncExc(void) { gv_async_unmask(need_gil("GvThreadState_UnmaskAsyncExc")); }

/* Under the runtime lock: Gv_Finalize unpublishes the interpreter under it
 * before freeing anything, so an adder either finishes first (and the call is
 * dropped at finalization) or finds no interpreter. */
static int add_pending(unsigned long target, int (*func)(void *), void *arg) {
    if (!func) return -1;
    gv_runtime_lock();
    GvInterpreterState *interp = gv_runtime_interp();
    int rc = interp && !gv_runtime_finalizing() ? gv_pending_add(interp, target, func, arg, false) : -1;
    gv_runtime_unlock();
    return rc;
}

int Gv_AddPendingCall(int (*func)(void *), void *arg) { return add_pending(0, func, arg); }

int Gv_AddPendingCallToThread(unsigned long thread_id, int (*func)(void *), void *arg) {
    if (thread_id == 0) return -1;
    return add_pending(thread_id, func, arg);
}

int Gv_MakePendingCalls(void) {
    GvThreadState *ts = need_gil("Gv_MakePendingCalls");
    return gv_pending_run(ts);
}

/* ---- trace and profile hooks ---- */

static void set_hooks(GvThreadState *t, bool trace, GvTraceFunc func, void *userdata, bool opcodes) {
    if (trace) {
        t->c_tracefunc = func;
        t->c_traceobj = userdata;
        t->trace_opcodes = opcodes;
    } else {
        t->c_profilefunc = func;
        t->c_profileobj = userdata;
    }
    t->trace_active = t->c_tracefunc || t->c_profilefunc || t->interp->gil.mode == GV_GIL_SCHEDULE;
    gv_eval_retarget(t);
    gv_eb_set(t, GV_EB_TRACING);
}

static bool want_opcodes;

void GvEval_SetTrace(GvTraceFunc func, void *userdata) {
    set_hooks(need_gil("GvEval_SetTrace"), true, func, userdata, want_opcodes);
}

void GvEval_SetProfile(GvTraceFunc func, void *userdata) {
    set_hooks(need_gil("GvEval_SetProfile"), false, func, userdata, false);
}

static void set_all(const char *fn, bool trace, GvTraceFunc func, void *userdata) {
    GvInterpreterState *interp = need_gil(fn)->interp;
    /* Other threads only read their hooks with the GIL, which we hold. */
    pthread_mutex_lock(&interp->mutex);
    if (trace) {
        interp->default_tracefunc = func;
        interp->default_traceobj = userdata;
        interp->default_trace_opcodes = want_opcodes;
    } else {
        interp->default_profilefunc = func;
        interp->default_profileobj = userdata;
    }
    for (GvThreadState *t = interp->threads; t; t = t->next) set_hooks(t, trace, func, userdata, want_opcodes);
    pthread_mutex_unlock(&interp->mutex);
}

void GvEval_SetTraceAllThreads(GvTraceFunc func, void *userdata) {
    set_all("GvEval_SetTraceAllThreads", true, func, userdata);
}

void GvEval_SetProfileAllThreads(GvTraceFunc func, void *userdata) {
    set_all("GvEval_SetProfileAllThreads", false, func, userdata);
}

void GvEval_SetTraceOpcodes(int on) {
    GvThreadState *ts = need_gil("GvEval_SetTraceOpcodes");
    want_opcodes = on != 0;
    ts->trace_opcodes = want_opcodes;
}

int Gv_InitSignals(void) { return gv_signals_install(need_gil("Gv_InitSignals")); }

/* ---- programs ---- */

/* Verifies, then prepares the code for the eval loop. */
static GvProgram *verified(GvProgram *p, GvDiag *diag) {
    if (p && gv_verify_program(p, diag) < 0) {
        GvProgram_Free(p);
        return NULL;
    }
    if (p && gv_quicken_program(p) < 0) {
        GvThreadState *ts = gv_tstate_get();
        if (ts) gv_err_clear(ts);
        gv_diag_set(diag, p->filename ? gv_str_cstr(p->filename) : "?", 0, 0, "out of memory");
        GvProgram_Free(p);
        return NULL;
    }
    return p;
}

/* Loading makes objects, so the GIL is held; with no thread state at all
 * there is no interpreter to load into: a diagnostic. */
static bool can_load(const char *fn, const char *file, GvDiag *diag) {
    if (diag) memset(diag, 0, sizeof *diag);
    if (!gv_tstate_get()) {
        gv_diag_set(diag, file, 0, 0, "no thread state (call Gv_Initialize first)");
        return false;
    }
    need_gil(fn);
    return true;
}

GvProgram *GvProgram_Assemble(const char *source, size_t len, const char *filename, GvDiag *diag) {
    if (!can_load("GvProgram_Assemble", filename, diag)) return NULL;
    return verified(gv_assemble(source, len, filename, diag), diag);
}

GvProgram *GvProgram_LoadBytes(const void *data, size_t len, const char *filename, GvDiag *diag) {
    if (!can_load("GvProgram_LoadBytes", filename, diag)) return NULL;
    return verified(gv_bytecode_load(data, len, filename, diag), diag);
}

GvProgram *GvProgram_LoadFile(const char *path, GvDiag *diag) {
    if (!can_load("GvProgram_LoadFile", path, diag)) return NULL;
    if (!path) {
        gv_diag_set(diag, NULL, 0, 0, "no file name (path is NULL)");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        gv_diag_set(diag, path, 0, 0, "cannot open file: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
        if (len == cap) {
            char *nb = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool read_error = ferror(f);
    fclose(f);
    if (!buf || read_error) {
        free(buf);
        gv_diag_set(diag, path, 0, 0, "cannot read file%s", buf ? "" : ": out of memory");
        return NULL;
    }
    /* A damaged .gvc goes to the loader too, which says it is one, rather
     * than to the assembler, which would report its bytes as bad text. */
    const uint8_t *bytes = (const uint8_t *)buf;
    GvProgram *p = gv_bytecode_is(bytes, len) || gv_bytecode_looks_damaged(bytes, len, path)
                       ? GvProgram_LoadBytes(buf, len, path, diag)
                       : GvProgram_Assemble(buf, len, path, diag);
    free(buf);
    return p;
}

int GvProgram_Save(const GvProgram *program, void **data, size_t *len) {
    if (!program || !data || !len) return -1;
    uint8_t *out = NULL;
    if (gv_bytecode_save(program, &out, len) < 0) return -1;
    *data = out;
    return 0;
}

void GvProgram_Disassemble(const GvProgram *program, void *file) {
    need_gil("GvProgram_Disassemble");
    if (!program || !file) fatal_api("GvProgram_Disassemble", program ? "NULL file" : "NULL program");
    gv_dis_program(program, file);
}

void GvProgram_Free(GvProgram *program) {
    if (!program) return;
    need_gil("GvProgram_Free");
    for (uint32_t i = 0; i < program->ncode; i++)
        if (program->code[i]) gv_decref(&program->code[i]->ob);
    gv_xdecref(program->filename);
    free(program->code);
    free(program);
}

int GvProgram_Run(GvProgram *program, int *exit_status) {
    GvThreadState *ts = need_gil("GvProgram_Run");
    int ignored;
    if (!exit_status) exit_status = &ignored;
    *exit_status = 0;
    if (!program) return null_arg("GvProgram_Run", "program");
    GvDict *globals = (GvDict *)ts->interp->globals;
    for (uint32_t i = 0; i < program->ncode; i++) {
        GvCode *code = program->code[i];
        GvObject *fn = gv_function_new(code);
        if (!fn) return -1;
        int rc = gv_dict_set(globals, gv_obj(code->name), gv_obj(fn));
        gv_decref(fn);
        if (rc < 0) return -1;
    }
    GvObject *name = gv_str_from_cstr("main");
    if (!name) return -1;
    GvValue main_fn;
    int found = gv_dict_get(globals, gv_obj(name), &main_fn);
    gv_decref(name);
    if (found < 0) return -1;
    if (found == 0) return gv_err_format(&gv_type_NameError, "name 'main' is not defined");
    GvValue result;
    int rc = gv_eval_call(ts, main_fn, 0, NULL, &result);
    gv_vdecref(main_fn);
    /* An asynchronous exception or pending call that arrived after main's
     * last check is not lost: it is raised here, as main's. */
    if (rc == 0 && gv_eb_test(ts, GV_EB_INTERRUPTS) && gv_breaker_handle_interrupts(ts) < 0) {
        gv_vdecref(result);
        rc = -1;
    }
    if (rc < 0) return -1;
    if (gv_is_int(result)) *exit_status = (int)result.as.i;
    gv_vdecref(result);
    return 0;
}

int Gv_SetArgv(int argc, char **argv) {
    need_gil("Gv_SetArgv");
    if (argc > 0 && !argv) return null_arg("Gv_SetArgv", "argv");
    for (int i = 0; i < argc; i++)
        if (!argv[i]) return null_arg("Gv_SetArgv", "an argv[i]");
    GvObject *l = gv_list_new((size_t)(argc > 0 ? argc : 0));
    if (!l) return -1;
    for (int i = 0; i < argc; i++) {
        GvObject *s = gv_str_from_cstr(argv[i]);
        if (!s || gv_list_append((GvList *)l, gv_obj(s)) < 0) {
            gv_xdecref(s);
            gv_decref(l);
            return -1;
        }
        gv_decref(s);
    }
    GvInterpreterState *interp = gv_tstate_get()->interp;
    gv_xdecref(interp->argv);
    interp->argv = l;
    return 0;
}

/* ---- exceptions ---- */

static bool is_type(GvObject *o) { return o && o->kind == GV_KTYPE; }

void GvErr_SetString(GvObject *type, const char *message) {
    need_gil("GvErr_SetString");
    if (!is_type(type)) {
        gv_err_format(&gv_type_TypeError, "GvErr_SetString: not an exception type");
        return;
    }
    gv_err_format((GvType *)type, "%s", message ? message : "");
}

void GvErr_SetObject(GvObject *type, GvObject *value) {
    GvThreadState *ts = need_gil("GvErr_SetObject");
    if (!is_type(type)) {
        gv_err_format(&gv_type_TypeError, "GvErr_SetObject: not an exception type");
        return;
    }
    if (value && value->kind == GV_KEXC &&
        gv_type_is_subtype(((GvException *)value)->type, (GvType *)type)) {
        gv_incref(value);
        gv_err_set_exc(ts, value);
        return;
    }
    GvValue arg = value ? gv_obj(value) : gv_none();
    GvObject *msg = value ? gv_str(arg) : NULL;
    if (value && !msg) return;
    GvObject *exc = gv_exc_new((GvType *)type, msg, arg);
    gv_xdecref(msg);
    if (exc) gv_err_set_exc(ts, exc);
}

GvObject *GvErr_Occurred(void) {
    GvThreadState *ts = gv_tstate_get();
    if (!ts || !ts->current_exception) return NULL;
    return &((GvException *)ts->current_exception)->type->ob;
}

void GvErr_Clear(void) {
    if (gv_tstate_get()) gv_err_clear(need_gil("GvErr_Clear"));
}

GvObject *GvErr_GetRaisedException(void) {
    return gv_err_take(need_gil("GvErr_GetRaisedException"));
}

void GvErr_SetRaisedException(GvObject *exc) {
    GvThreadState *ts = need_gil("GvErr_SetRaisedException");
    if (exc && exc->kind != GV_KEXC) {
        gv_decref(exc); /* stolen */
        gv_err_format(&gv_type_TypeError, "GvErr_SetRaisedException: not an exception instance");
        return;
    }
    GvObject *old = ts->current_exception;
    ts->current_exception = exc;
    gv_xdecref(old);
}

GvObject *GvErr_GetHandledException(void) {
    GvObject *e = gv_excinfo_top(need_gil("GvErr_GetHandledException"));
    if (e) gv_incref(e);
    return e;
}

void GvErr_SetHandledException(GvObject *exc) {
    GvThreadState *ts = need_gil("GvErr_SetHandledException");
    if (exc && exc->kind != GV_KEXC) {
        gv_err_format(&gv_type_TypeError, "GvErr_SetHandledException: not an exception instance");
        return;
    }
    /* The entry stays (the stack's shape belongs to the running handlers);
     * NULL in it reads as "none handled". */
    if (!ts->exc_info) return;
    if (exc) gv_incref(exc);
    GvObject *old = ts->exc_info->exc_value;
    ts->exc_info->exc_value = exc;
    gv_xdecref(old);
}

int GvErr_GivenExceptionMatches(GvObject *exc, GvObject *type) {
    if (!exc || !is_type(type) || exc->kind != GV_KEXC) return 0;
    return gv_type_is_subtype(((GvException *)exc)->type, (GvType *)type);
}

int GvErr_PrintEx(void) {
    if (!gv_tstate_get()) return 0;
    GvThreadState *ts = need_gil("GvErr_PrintEx");
    if (!ts->current_exception) return 0;
    GvObject *exc = gv_err_take(ts);
    GvException *e = (GvException *)exc;
    int status = 1;
    fflush(stdout);
    if (gv_type_is_subtype(e->type, &gv_type_SystemExit)) {
        /* SystemExit(n) exits with n; SystemExit() with 0; anything else
         * prints its str and exits 1, as Python does. */
        if (gv_is_none(e->arg)) {
            status = 0;
        } else if (gv_is_intlike(e->arg)) {
            status = (int)e->arg.as.i;
        } else {
            GvObject *s = gv_str(e->arg);
            if (s) {
                fprintf(stderr, "%s\n", gv_str_cstr(s));
                gv_decref(s);
            } else {
                gv_err_clear(ts);
            }
        }
    } else {
        gv_exc_print(exc, stderr);
    }
    gv_decref(exc);
    return status;
}

/* ---- recursion ---- */

int Gv_SetRecursionLimit(int limit) {
    GvThreadState *ts = need_gil("Gv_SetRecursionLimit");
    if (limit < 1) return gv_err_format(&gv_type_ValueError, "recursion limit must be greater or equal than 1");
    ts->recursion_limit = limit;
    ts->interp->recursion_limit = limit;
    return 0;
}

int Gv_GetRecursionLimit(void) { return need_gil("Gv_GetRecursionLimit")->recursion_limit; }

/* ---- objects ---- */

void Gv_IncRef(GvObject *o) {
    if (!o) return;
    need_gil("Gv_IncRef");
    gv_incref(o);
}

void Gv_DecRef(GvObject *o) {
    if (!o) return;
    need_gil("Gv_DecRef");
    gv_decref(o);
}

char *GvObject_StrDup(GvObject *o) {
    need_gil("GvObject_StrDup");
    if (!o) {
        null_arg("GvObject_StrDup", "the object");
        return NULL;
    }
    GvObject *s = gv_str(gv_obj(o));
    if (!s) return NULL;
    char *copy = strdup(gv_str_cstr(s));
    gv_decref(s);
    if (!copy) gv_err_nomemory();
    return copy;
}
