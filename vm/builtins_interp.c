/* The builtins for several interpreters (docs/LANGUAGE.md, "Interpreters"):
 * interp_start, interp_join, interp_id, chan_new, chan_put, chan_get.
 *
 * interp_start makes the new interpreter's record in the caller's thread (so
 * that its id is known at once), then a new OS thread makes the interpreter's
 * main thread state, loads the program into it from the image GvProgram_Run
 * kept, runs the function, and ends the interpreter. What the caller and the
 * new interpreter share is a Run record of plain memory: the function's name,
 * copies of its arguments and of argv(), and, at the end, a copy of its
 * result; never an object. */
#include "api.h"

#include <math.h>

#include "../runtime/channel.h"
#include "../runtime/exc.h"
#include "interp.h"

#define BUILTIN(name) static int bi_##name(GvThreadState *ts, int argc, GvValue *argv, GvValue *out)

typedef struct Run {
    GvXEvent ev;         /* its mutex guards done and result */
    _Atomic int refs;    /* the handle's and the thread's */
    bool done;           /* the interpreter has ended */
    GvShared *result;    /* the function's result, or NULL for none */
    int64_t id;
    GvInterpreterState *interp;  /* the new one: the thread's until it ends */
    GvInterpreterState *creator; /* its end waits for this one (children count) */
    int64_t creator_id;
    char *name;          /* the function's .func name */
    int argc;
    GvShared **args;
    GvShared *argv;      /* argv() as the creator has it */
} Run;

static void run_release(Run *r) {
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    gv_xevent_destroy(&r->ev);
    gv_shared_free(r->result);
    for (int i = 0; i < r->argc; i++) gv_shared_free(r->args[i]);
    free(r->args);
    gv_shared_free(r->argv);
    free(r->name);
    free(r);
}

typedef struct Handle {
    GvNative hdr;
    Run *run;
} Handle;

static void handle_dealloc(GvObject *o) {
    Handle *h = (Handle *)o;
    if (h->run) run_release(h->run);
    h->run = NULL;
}

/* Holds no object: not tracked. */
static const GvNativeType handle_type = {"interpreter", handle_dealloc, NULL};

static bool is_handle(GvValue v) {
    return gv_is_kind(v, GV_KNATIVE) && ((GvNative *)v.as.o)->type == &handle_type;
}

/* ---- the new interpreter's thread ---- */

static void report(GvThreadState *ts, int64_t id) {
    GvObject *exc = gv_err_take(ts);
    if (!exc) return;
    /* SystemExit ends only the function, silently, as in a thread. */
    if (!gv_type_is_subtype(((GvException *)exc)->type, &gv_type_SystemExit)) {
        fflush(stdout);
        fprintf(stderr, "Exception in interpreter %lld (thread %lu):\n", (long long)id, ts->id);
        gv_exc_print(exc, stderr);
    }
    gv_decref(exc);
}

/* Loads the program, calls the function; its result (copied) in *result. */
static int run_function(GvThreadState *ts, Run *r, const void *image, size_t len, const char *filename,
                        GvShared **result) {
    GvInterpreterState *interp = ts->interp;
    GvValue v;
    if (gv_shared_to(r->argv, &v) < 0) return -1;
    interp->argv = v.as.o;
    GvDiag diag;
    GvProgram *p = GvProgram_LoadBytes(image, len, filename, &diag);
    if (!p) return gv_err_format(&gv_type_RuntimeError, "cannot load the program: %s", diag.message);
    GvDict *globals = (GvDict *)interp->globals;
    int rc = gv_api_define_functions(ts, p); /* keeps it for its own interp_start too */
    GvProgram_Free(p);
    if (rc < 0) return -1;
    GvObject *name = gv_str_from_cstr(r->name);
    if (!name) return -1;
    GvValue f;
    int found = gv_dict_get(globals, gv_obj(name), &f);
    gv_decref(name);
    if (found <= 0) return found < 0 ? -1 : gv_err_format(&gv_type_NameError, "name '%s' is not defined", r->name);
    GvValue *args = calloc((size_t)r->argc + 1, sizeof *args);
    int made = 0;
    rc = args ? 0 : gv_err_nomemory();
    for (; rc == 0 && made < r->argc; made++)
        if (gv_shared_to(r->args[made], &args[made]) < 0) rc = -1;
    GvValue res = gv_none();
    if (rc == 0) rc = interp->eval_call(ts, f, r->argc, args, &res);
    /* As at a thread's end: an interruption that came after the function's
     * last check is raised here, as its own. */
    if (rc == 0 && gv_eb_test(ts, GV_EB_INTERRUPTS) && gv_breaker_handle_interrupts(ts) < 0) {
        gv_vdecref(res);
        rc = -1;
    }
    for (int i = 0; i < made; i++) gv_vdecref(args[i]);
    free(args);
    gv_vdecref(f);
    if (rc < 0) return -1;
    rc = gv_shared_from(res, "interp_start() result", result);
    gv_vdecref(res);
    return rc;
}

static void *run_main(void *p) {
    Run *r = p;
    GvInterpreterState *interp = r->interp;
    /* The image is the interpreter's own copy: read it before anything can
     * replace it. */
    void *image = interp->program_image;
    size_t len = interp->program_len;
    char *filename = interp->program_filename;
    interp->program_image = NULL;
    interp->program_filename = NULL;
    GvShared *result = NULL;
    GvThreadState *ts = gv_interp_create(interp);
    if (!ts && !interp->main_thread) {
        fprintf(stderr, "gilvm: interpreter %lld: out of memory\n", (long long)r->id);
        gv_interp_delete(interp);
    } else {
        if (!ts) {
            ts = interp->main_thread;
            gv_err_nomemory();
            report(ts, r->id);
        } else if (run_function(ts, r, image, len, filename, &result) < 0) {
            report(ts, r->id);
        }
        gv_err_clear(ts);
        if (gv_threads_wait_nondaemon(ts) < 0) gv_err_clear(ts);
        gv_interp_before_finalize(ts);
        bool all_gone = gv_threads_shutdown(ts, 2000000000ull);
        gv_interp_teardown(ts, all_gone);
    }
    free(image);
    free(filename);
    pthread_mutex_lock(&r->ev.mutex);
    r->result = result;
    r->done = true;
    gv_xevent_changed_locked(&r->ev);
    pthread_mutex_unlock(&r->ev.mutex);
    gv_interp_children_done(r->creator, r->creator_id); /* the last touch of the creator */
    run_release(r);
    return NULL;
}

/* ---- the builtins ---- */

BUILTIN(interp_start) {
    GvValue f = argv[0];
    GvInterpreterState *creator = ts->interp;
    if (!gv_is_kind(f, GV_KFUNC))
        return gv_err_format(&gv_type_TypeError, "interp_start() argument 1 must be a function of the program, not %s",
                             gv_type_name(f));
    if (creator->gil->mode == GV_GIL_SCHEDULE)
        return gv_err_format(&gv_type_RuntimeError,
                             "interp_start(): interpreters run in parallel, not under the deterministic schedule");
    if (!creator->program_image) return gv_err_format(&gv_type_RuntimeError, "interp_start(): no program loaded");
    Run *r = calloc(1, sizeof *r);
    if (!r) return gv_err_nomemory();
    atomic_init(&r->refs, 1);
    gv_xevent_init(&r->ev);
    r->creator = creator;
    r->creator_id = creator->id;
    r->name = strdup(gv_str_cstr(((GvFunction *)f.as.o)->code->name));
    r->args = calloc((size_t)argc, sizeof *r->args);
    if (!r->name || !r->args) {
        run_release(r);
        return gv_err_nomemory();
    }
    /* Copies first: a value that cannot be copied raises here, before
     * anything starts. */
    for (int i = 1; i < argc; i++) {
        int rc = gv_shared_from(argv[i], "interp_start() argument", &r->args[r->argc]);
        if (rc < 0) {
            run_release(r);
            return -1;
        }
        r->argc++;
    }
    GvObject *empty = NULL;
    if (!creator->argv && !(empty = gv_list_new(0))) {
        run_release(r);
        return -1;
    }
    int rc = gv_shared_from(gv_obj(creator->argv ? creator->argv : empty), "argv()", &r->argv);
    gv_xdecref(empty);
    if (rc < 0) {
        run_release(r);
        return -1;
    }
    Handle *h = (Handle *)gv_native_new(&handle_type, sizeof(Handle));
    if (!h) {
        run_release(r);
        return -1;
    }
    h->run = r;
    /* Counted first: from here the creator's end waits for it, or it is
     * refused because that end no longer waits. */
    if (gv_interp_finalizing(creator) || gv_interp_children_add(creator) < 0) {
        gv_decref(&h->hdr.ob);
        return gv_err_format(&gv_type_RuntimeError, "can't start an interpreter at interpreter shutdown");
    }
    GvInterpreterState *interp = gv_interp_new(NULL);
    void *image = interp ? malloc(creator->program_len) : NULL;
    char *filename = creator->program_filename && image ? strdup(creator->program_filename) : NULL;
    if (!image || (creator->program_filename && !filename)) {
        free(image);
        if (interp) gv_interp_delete(interp);
        gv_interp_children_done(creator, creator->id);
        gv_decref(&h->hdr.ob);
        return gv_err_nomemory();
    }
    memcpy(image, creator->program_image, creator->program_len);
    interp->program_image = image;
    interp->program_len = creator->program_len;
    interp->program_filename = filename;
    r->interp = interp;
    r->id = interp->id;
    atomic_fetch_add(&r->refs, 1); /* the thread's */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t tid;
    int err = pthread_create(&tid, &attr, run_main, r);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        gv_interp_children_done(creator, creator->id);
        gv_interp_delete(interp);
        run_release(r);
        gv_decref(&h->hdr.ob);
        return gv_err_format(&gv_type_RuntimeError, "can't start new interpreter (error %d)", err);
    }
    *out = gv_obj(&h->hdr.ob);
    return 0;
}

BUILTIN(interp_join) {
    (void)argc;
    if (!is_handle(argv[0]))
        return gv_err_format(&gv_type_TypeError, "interp_join() argument must be an interpreter, not %s",
                             gv_type_name(argv[0]));
    Run *r = ((Handle *)argv[0].as.o)->run;
    for (;;) {
        pthread_mutex_lock(&r->ev.mutex);
        if (r->done) {
            pthread_mutex_unlock(&r->ev.mutex);
            /* Done: the result no longer changes, and the handle keeps it. */
            if (!r->result) {
                *out = gv_none();
                return 0;
            }
            return gv_shared_to(r->result, out);
        }
        GvXWait w;
        int rc = gv_xevent_prepare(&r->ev, ts, &w);
        pthread_mutex_unlock(&r->ev.mutex);
        if (rc < 0 || gv_xevent_wait(ts, &w, -1) < 0) return -1;
    }
}

BUILTIN(interp_id) {
    if (argc == 0) {
        *out = gv_int(ts->interp->id);
        return 0;
    }
    if (!is_handle(argv[0]))
        return gv_err_format(&gv_type_TypeError, "interp_id() argument must be an interpreter, not %s",
                             gv_type_name(argv[0]));
    *out = gv_int(((Handle *)argv[0].as.o)->run->id);
    return 0;
}

BUILTIN(chan_new) {
    (void)ts;
    (void)argc;
    (void)argv;
    int64_t id = gv_chan_new();
    if (id < 0) return -1;
    *out = gv_int(id);
    return 0;
}

static int chan_arg(const char *fn, GvValue v, int64_t *id) {
    if (!gv_is_intlike(v))
        return gv_err_format(&gv_type_TypeError, "%s() argument 1 must be a channel (an int), not %s", fn,
                             gv_type_name(v));
    *id = v.as.i;
    return 0;
}

BUILTIN(chan_put) {
    (void)ts;
    (void)argc;
    int64_t id = 0;
    if (chan_arg("chan_put", argv[0], &id) < 0) return -1;
    GvShared *s;
    if (gv_shared_from(argv[1], "chan_put() value", &s) < 0) return -1;
    if (gv_chan_put(id, s) < 0) return -1;
    *out = gv_none();
    return 0;
}

BUILTIN(chan_get) {
    int64_t id = 0;
    if (chan_arg("chan_get", argv[0], &id) < 0) return -1;
    double timeout = -1;
    if (argc == 2) {
        GvValue t = argv[1];
        if (gv_is_float(t)) timeout = t.as.f;
        else if (gv_is_intlike(t)) timeout = (double)t.as.i;
        else if (!gv_is_none(t))
            return gv_err_format(&gv_type_TypeError, "chan_get() timeout must be a number, not %s", gv_type_name(t));
        if (!gv_is_none(t) && (isnan(timeout) || timeout < 0))
            return gv_err_format(&gv_type_ValueError, "chan_get() timeout must be a non-negative number");
    }
    int r = gv_chan_get(ts, id, timeout, out);
    if (r < 0) return -1;
    if (r == 0) *out = gv_none();
    return 0;
}

static const struct {
    const char *name;
    GvBuiltinFn fn;
    int min_args, max_args;
} table[] = {
    {"interp_start", bi_interp_start, 1, -1},
    {"interp_join", bi_interp_join, 1, 1},
    {"interp_id", bi_interp_id, 0, 1},
    {"chan_new", bi_chan_new, 0, 0},
    {"chan_put", bi_chan_put, 2, 2},
    {"chan_get", bi_chan_get, 1, 2},
};

int gv_builtins_interp_install(GvInterpreterState *interp) {
    GvDict *d = (GvDict *)interp->builtins;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        GvObject *b = gv_builtin_new(table[i].name, table[i].fn, table[i].min_args, table[i].max_args);
        GvObject *key = b ? gv_str_from_cstr(table[i].name) : NULL;
        int rc = key ? gv_dict_set(d, gv_obj(key), gv_obj(b)) : -1;
        gv_xdecref(key);
        gv_xdecref(b);
        if (rc < 0) return -1;
    }
    return 0;
}
