/* The builtins: functions and exception types every program can name. */
#include "builtins.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runtime/dict.h"
#include "../runtime/errors.h"
#include "../runtime/exc.h"
#include "../runtime/func.h"
#include "../runtime/list.h"
#include "../runtime/str.h"
#include "../runtime/sync.h"
#include "../runtime/services.h"
#include "../runtime/thread.h"
#include "../runtime/wait.h"
#include "gen.h"
#include "interp.h"

#define BUILTIN(name) static int bi_##name(GvThreadState *ts, int argc, GvValue *argv, GvValue *out)

BUILTIN(print) {
    (void)ts;
    GvBuf b;
    gv_buf_init(&b);
    for (int i = 0; i < argc; i++) {
        GvObject *s = gv_str(argv[i]);
        if (!s) {
            gv_buf_free(&b);
            return -1;
        }
        if (i) gv_buf_append(&b, " ", 1);
        gv_buf_append(&b, gv_str_cstr(s), ((GvStr *)s)->size);
        gv_decref(s);
    }
    gv_buf_append(&b, "\n", 1);
    if (b.failed) {
        gv_buf_free(&b);
        return -1;
    }
    fwrite(b.data, 1, b.len, stdout);
    gv_buf_free(&b);
    *out = gv_none();
    return 0;
}

BUILTIN(len) {
    (void)ts;
    (void)argc;
    GvValue v = argv[0];
    if (gv_is_kind(v, GV_KSTR)) *out = gv_int((int64_t)gv_as_str(v)->length);
    else if (gv_is_kind(v, GV_KLIST)) *out = gv_int((int64_t)gv_as_list(v)->size);
    else if (gv_is_kind(v, GV_KDICT)) *out = gv_int((int64_t)gv_as_dict(v)->used);
    else return gv_err_format(&gv_type_TypeError, "object of type '%s' has no len()", gv_type_name(v));
    return 0;
}

BUILTIN(str) {
    (void)ts;
    if (argc == 0) {
        GvObject *s = gv_str_new("", 0);
        if (!s) return -1;
        *out = gv_obj(s);
        return 0;
    }
    GvObject *s = gv_str(argv[0]);
    if (!s) return -1;
    *out = gv_obj(s);
    return 0;
}

BUILTIN(repr) {
    (void)ts;
    (void)argc;
    GvObject *s = gv_repr(argv[0]);
    if (!s) return -1;
    *out = gv_obj(s);
    return 0;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Python's int(str): optional blanks, optional sign, decimal digits with
 * single underscores between them, optional blanks. */
static int parse_int(GvStr *s, int64_t *out) {
    const char *p = s->data, *end = s->data + s->size;
    while (p < end && is_space(*p)) p++;
    while (end > p && is_space(end[-1])) end--;
    bool neg = false;
    if (p < end && (*p == '+' || *p == '-')) neg = *p++ == '-';
    if (p == end) goto bad;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    bool prev_digit = false, overflow = false;
    for (; p < end; p++) {
        if (*p == '_' && prev_digit && p + 1 < end && p[1] >= '0' && p[1] <= '9') {
            prev_digit = false;
            continue;
        }
        if (*p < '0' || *p > '9') goto bad;
        prev_digit = true;
        unsigned d = (unsigned)(*p - '0');
        if (v > (limit - d) / 10) overflow = true;
        else v = v * 10 + d;
    }
    if (overflow)
        return gv_err_format(&gv_type_OverflowError, "int too large to convert to a 64-bit integer");
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
bad:;
    GvObject *r = gv_repr(gv_obj(&s->ob));
    if (!r) return -1;
    gv_err_format(&gv_type_ValueError, "invalid literal for int() with base 10: %s", gv_str_cstr(r));
    gv_decref(r);
    return -1;
}

BUILTIN(int) {
    (void)ts;
    if (argc == 0) {
        *out = gv_int(0);
        return 0;
    }
    GvValue v = argv[0];
    if (gv_is_intlike(v)) {
        *out = gv_int(v.as.i);
        return 0;
    }
    if (gv_is_float(v)) {
        double d = v.as.f;
        if (isnan(d)) return gv_err_format(&gv_type_ValueError, "cannot convert float NaN to integer");
        if (isinf(d))
            return gv_err_format(&gv_type_OverflowError, "cannot convert float infinity to integer");
        double t = trunc(d);
        /* [-2^63, 2^63) is exactly representable at both ends. */
        if (t < -9223372036854775808.0 || t >= 9223372036854775808.0)
            return gv_err_format(&gv_type_OverflowError, "int too large to convert to a 64-bit integer");
        *out = gv_int((int64_t)t);
        return 0;
    }
    if (gv_is_kind(v, GV_KSTR)) {
        int64_t i = 0;
        if (parse_int(gv_as_str(v), &i) < 0) return -1;
        *out = gv_int(i);
        return 0;
    }
    return gv_err_format(&gv_type_TypeError,
                         "int() argument must be a string, a bytes-like object or a real number, not '%s'", gv_type_name(v));
}

BUILTIN(float) {
    (void)ts;
    if (argc == 0) {
        *out = gv_float(0.0);
        return 0;
    }
    GvValue v = argv[0];
    if (gv_is_float(v)) {
        *out = v;
        return 0;
    }
    if (gv_is_intlike(v)) {
        *out = gv_float((double)v.as.i);
        return 0;
    }
    if (gv_is_kind(v, GV_KSTR)) {
        GvStr *s = gv_as_str(v);
        const char *p = s->data, *end = s->data + s->size;
        while (p < end && is_space(*p)) p++;
        while (end > p && is_space(end[-1])) end--;
        size_t n = (size_t)(end - p);
        char small[128];
        char *buf = n < sizeof small ? small : malloc(n + 1);
        if (!buf) return gv_err_nomemory();
        bool ok = n > 0;
        size_t len = 0;
        for (size_t i = 0; ok && i < n; i++) {
            char c = p[i];
            if (c == '_') {
                /* As in Python: one underscore between two digits ("1_000.5"). */
                ok = i > 0 && i + 1 < n && p[i - 1] >= '0' && p[i - 1] <= '9' && p[i + 1] >= '0' && p[i + 1] <= '9';
                continue;
            }
            /* strtod also takes hex floats and "infinity"-like words Python
             * spells differently; allow only Python's decimal spellings. */
            ok = (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' ||
                 c == '-' || c == 'i' || c == 'n' || c == 'f' || c == 'a' || c == 't' ||
                 c == 'y' || c == 'I' || c == 'N' || c == 'F' || c == 'A' || c == 'T' || c == 'Y';
            buf[len++] = c;
        }
        if (ok) {
            buf[len] = '\0';
            char *endp;
            errno = 0;
            double d = strtod(buf, &endp);
            if (*endp == '\0') {
                if (buf != small) free(buf);
                *out = gv_float(d);
                return 0;
            }
        }
        if (buf != small) free(buf);
        GvObject *r = gv_repr(v);
        if (!r) return -1;
        gv_err_format(&gv_type_ValueError, "could not convert string to float: %s", gv_str_cstr(r));
        gv_decref(r);
        return -1;
    }
    return gv_err_format(&gv_type_TypeError,
                         "float() argument must be a string or a real number, not '%s'",
                         gv_type_name(v));
}

BUILTIN(append) {
    (void)ts;
    (void)argc;
    if (!gv_is_kind(argv[0], GV_KLIST))
        return gv_err_format(&gv_type_TypeError, "append() argument 1 must be list, not %s",
                             gv_type_name(argv[0]));
    if (gv_list_append(gv_as_list(argv[0]), argv[1]) < 0) return -1;
    *out = gv_none();
    return 0;
}

BUILTIN(type_name) {
    (void)ts;
    (void)argc;
    GvObject *s = gv_str_from_cstr(gv_type_name(argv[0]));
    if (!s) return -1;
    *out = gv_obj(s);
    return 0;
}

BUILTIN(time) {
    (void)argc;
    (void)argv;
    /* The monotonic clock, or the schedule's virtual one (runtime/wait.c). */
    uint64_t ns = gv_clock_now(ts);
    *out = gv_float((double)(ns / 1000000000u) + (double)(ns % 1000000000u) * 1e-9);
    return 0;
}

BUILTIN(exc_context) {
    (void)ts;
    (void)argc;
    if (!gv_is_kind(argv[0], GV_KEXC))
        return gv_err_format(&gv_type_TypeError, "exc_context() argument must be an exception, not %s",
                             gv_type_name(argv[0]));
    GvObject *c = gv_as_exc(argv[0])->context;
    if (c) {
        gv_incref(c);
        *out = gv_obj(c);
    } else {
        *out = gv_none();
    }
    return 0;
}

BUILTIN(exc_info) {
    (void)argc;
    (void)argv;
    GvObject *e = gv_excinfo_top(ts);
    if (e) {
        gv_incref(e);
        *out = gv_obj(e);
    } else {
        *out = gv_none();
    }
    return 0;
}

BUILTIN(set_recursion_limit) {
    (void)argc;
    if (!gv_is_intlike(argv[0]))
        return gv_err_format(&gv_type_TypeError, "set_recursion_limit() argument must be int, not %s",
                             gv_type_name(argv[0]));
    int64_t n = argv[0].as.i;
    if (n < 1)
        return gv_err_format(&gv_type_ValueError, "recursion limit must be greater or equal than 1");
    if (n > 100000000)
        return gv_err_format(&gv_type_OverflowError, "recursion limit is too large (at most 100000000)");
    if (n <= ts->recursion_depth)
        return gv_err_format(&gv_type_RecursionError,
                             "cannot set the recursion limit to %lld at the recursion depth %d: the limit is too low",
                             (long long)n, ts->recursion_depth);
    ts->recursion_limit = (int)n;
    ts->interp->recursion_limit = (int)n;
    *out = gv_none();
    return 0;
}

BUILTIN(get_recursion_limit) {
    (void)argc;
    (void)argv;
    *out = gv_int(ts->recursion_limit);
    return 0;
}

/* The switch interval is the GIL's (runtime/gil.c). The value given is kept
 * as it was, so get_switch_interval() returns exactly it. */
BUILTIN(set_switch_interval) {
    (void)argc;
    double d;
    if (gv_is_float(argv[0])) d = argv[0].as.f;
    else if (gv_is_intlike(argv[0])) d = (double)argv[0].as.i;
    else
        return gv_err_format(&gv_type_TypeError, "set_switch_interval() argument must be a number, not %s",
                             gv_type_name(argv[0]));
    if (!(d > 0.0)) return gv_err_format(&gv_type_ValueError, "switch interval must be strictly positive");
    ts->interp->gil_owner->switch_interval = argv[0];
    double ns = d * 1e9;
    atomic_store(&ts->interp->gil->interval_ns, ns < 1 ? 1 : ns > 1e15 ? (int64_t)1e15 : (int64_t)ns);
    *out = gv_none();
    return 0;
}

BUILTIN(get_switch_interval) {
    (void)argc;
    (void)argv;
    *out = ts->interp->gil_owner->switch_interval;
    return 0;
}

BUILTIN(argv) {
    (void)argc;
    (void)argv;
    GvObject *l = gv_list_new(0);
    if (!l) return -1;
    /* A copy: a program that appends to it must not change the next call's. */
    GvList *src = (GvList *)ts->interp->argv;
    for (size_t i = 0; src && i < src->size; i++) {
        if (gv_list_append((GvList *)l, src->items[i]) < 0) {
            gv_decref(l);
            return -1;
        }
    }
    *out = gv_obj(l);
    return 0;
}

/* ---- threads and synchronization ---- */

/* A timeout argument: a number of seconds (none: no timeout, -1 for the
 * runtime). A negative one is an error, not "forever": a computed time-left
 * that went negative must not hang the program. */
static int get_timeout(const char *fn, GvValue v, double *out) {
    if (gv_is_float(v)) *out = v.as.f;
    else if (gv_is_intlike(v)) *out = (double)v.as.i;
    else if (gv_is_none(v)) {
        *out = -1;
        return 0;
    } else
        return gv_err_format(&gv_type_TypeError, "%s() timeout must be a number, not %s", fn, gv_type_name(v));
    if (isnan(*out)) return gv_err_format(&gv_type_ValueError, "%s() timeout must not be NaN", fn);
    if (*out < 0) return gv_err_format(&gv_type_ValueError, "%s() timeout must be a non-negative number", fn);
    if (*out == 0) *out = 0; /* -0.0 does not wait either */
    return 0;
}

static int start_thread(GvThreadState *ts, int argc, GvValue *argv, GvValue *out, bool daemon) {
    GvValue f = argv[0];
    if (!gv_is_callable(f))
        return gv_err_format(&gv_type_TypeError, "thread_start() argument 1 must be callable, not %s",
                             gv_type_name(f));
    GvObject *h = gv_thread_start(ts, f, argc - 1, argv + 1, daemon);
    if (!h) return -1;
    *out = gv_obj(h);
    return 0;
}

BUILTIN(thread_start) { return start_thread(ts, argc, argv, out, false); }
BUILTIN(thread_start_daemon) { return start_thread(ts, argc, argv, out, true); }

BUILTIN(thread_join) {
    (void)argc;
    if (!gv_is_thread_handle(argv[0]))
        return gv_err_format(&gv_type_TypeError, "thread_join() argument must be a thread, not %s",
                             gv_type_name(argv[0]));
    return gv_thread_join(ts, argv[0].as.o, out);
}

BUILTIN(thread_id) {
    if (argc == 0) {
        *out = gv_int((int64_t)ts->id);
        return 0;
    }
    if (!gv_is_thread_handle(argv[0]))
        return gv_err_format(&gv_type_TypeError, "thread_id() argument must be a thread, not %s",
                             gv_type_name(argv[0]));
    *out = gv_int((int64_t)gv_thread_handle_id(argv[0].as.o));
    return 0;
}

BUILTIN(sleep) {
    (void)argc;
    double s;
    if (gv_is_float(argv[0])) s = argv[0].as.f;
    else if (gv_is_intlike(argv[0])) s = (double)argv[0].as.i;
    else return gv_err_format(&gv_type_TypeError, "sleep() argument must be a number, not %s", gv_type_name(argv[0]));
    if (isnan(s) || s < 0) return gv_err_format(&gv_type_ValueError, "sleep length must be non-negative");
    if (gv_sleep(ts, s) < 0) return -1;
    *out = gv_none();
    return 0;
}

BUILTIN(lock_new) {
    (void)ts;
    (void)argc;
    (void)argv;
    GvObject *l = gv_lock_new();
    if (!l) return -1;
    *out = gv_obj(l);
    return 0;
}

BUILTIN(lock_acquire) {
    if (!gv_is_lock(argv[0]))
        return gv_err_format(&gv_type_TypeError, "lock_acquire() argument 1 must be a lock, not %s",
                             gv_type_name(argv[0]));
    double timeout = -1;
    if (argc == 2 && get_timeout("lock_acquire", argv[1], &timeout) < 0) return -1;
    int r = gv_lock_acquire(ts, argv[0].as.o, timeout);
    if (r < 0) return -1;
    *out = gv_bool(r == 1);
    return 0;
}

BUILTIN(lock_release) {
    (void)argc;
    if (!gv_is_lock(argv[0]))
        return gv_err_format(&gv_type_TypeError, "lock_release() argument must be a lock, not %s",
                             gv_type_name(argv[0]));
    if (gv_lock_release(ts, argv[0].as.o) < 0) return -1;
    *out = gv_none();
    return 0;
}

BUILTIN(queue_new) {
    (void)ts;
    (void)argc;
    (void)argv;
    GvObject *q = gv_queue_new();
    if (!q) return -1;
    *out = gv_obj(q);
    return 0;
}

BUILTIN(queue_put) {
    (void)argc;
    if (!gv_is_queue(argv[0]))
        return gv_err_format(&gv_type_TypeError, "queue_put() argument 1 must be a queue, not %s",
                             gv_type_name(argv[0]));
    if (gv_queue_put(ts, argv[0].as.o, argv[1]) < 0) return -1;
    *out = gv_none();
    return 0;
}

BUILTIN(queue_get) {
    if (!gv_is_queue(argv[0]))
        return gv_err_format(&gv_type_TypeError, "queue_get() argument 1 must be a queue, not %s",
                             gv_type_name(argv[0]));
    double timeout = -1;
    if (argc == 2 && get_timeout("queue_get", argv[1], &timeout) < 0) return -1;
    int r = gv_queue_get(ts, argv[0].as.o, timeout, out);
    if (r < 0) return -1;
    if (r == 0) *out = gv_none();
    return 0;
}

/* ---- thread-state services ---- */

BUILTIN(tls) {
    (void)argc;
    (void)argv;
    GvObject *d = gv_tstate_dict(ts);
    if (!d) return -1;
    gv_incref(d);
    *out = gv_obj(d);
    return 0;
}

BUILTIN(async_raise) {
    (void)argc;
    if (!gv_is_intlike(argv[0]))
        return gv_err_format(&gv_type_TypeError, "async_raise() argument 1 must be a thread id, not %s",
                             gv_type_name(argv[0]));
    GvValue e = argv[1];
    if (!gv_is_none(e) && !gv_is_kind(e, GV_KEXC) && !gv_is_kind(e, GV_KTYPE))
        return gv_err_format(&gv_type_TypeError,
                             "async_raise() argument 2 must be an exception, an exception type or none, not %s",
                             gv_type_name(e));
    int64_t id = argv[0].as.i;
    int n = id <= 0 ? 0 : gv_set_async_exc(ts->interp, (unsigned long)id, gv_is_none(e) ? NULL : e.as.o);
    *out = gv_int(n);
    return 0;
}

BUILTIN(async_mask) {
    (void)argc;
    (void)argv;
    gv_async_mask(ts);
    *out = gv_none();
    return 0;
}

BUILTIN(async_unmask) {
    (void)argc;
    (void)argv;
    if (ts->async_mask == 0) return gv_err_format(&gv_type_RuntimeError, "async_unmask() without async_mask()");
    gv_async_unmask(ts);
    *out = gv_none();
    return 0;
}

/* A program's pending call: the queue holds a reference to the callable. */
static int run_program_call(void *arg) {
    GvThreadState *ts = gv_tstate_get();
    GvValue r;
    if (ts->interp->eval_call(ts, gv_obj((GvObject *)arg), 0, NULL, &r) < 0) return -1;
    gv_vdecref(r);
    return 0;
}

BUILTIN(add_pending_call) {
    (void)argc;
    GvValue f = argv[0];
    if (!gv_is_callable(f))
        return gv_err_format(&gv_type_TypeError, "add_pending_call() argument must be callable, not %s",
                             gv_type_name(f));
    gv_incref(f.as.o);
    if (gv_pending_add(ts->interp, 0, run_program_call, f.as.o, true) < 0) {
        gv_decref(f.as.o);
        *out = gv_bool(false);
        return 0;
    }
    *out = gv_bool(true);
    return 0;
}

static const struct {
    const char *name;
    GvBuiltinFn fn;
    int min_args, max_args;
} table[] = {
    {"print", bi_print, 0, -1},
    {"len", bi_len, 1, 1},
    {"str", bi_str, 0, 1},
    {"repr", bi_repr, 1, 1},
    {"int", bi_int, 0, 1},
    {"float", bi_float, 0, 1},
    {"append", bi_append, 2, 2},
    {"type_name", bi_type_name, 1, 1},
    {"time", bi_time, 0, 0},
    {"exc_context", bi_exc_context, 1, 1},
    {"exc_info", bi_exc_info, 0, 0},
    {"set_recursion_limit", bi_set_recursion_limit, 1, 1},
    {"get_recursion_limit", bi_get_recursion_limit, 0, 0},
    {"set_switch_interval", bi_set_switch_interval, 1, 1},
    {"get_switch_interval", bi_get_switch_interval, 0, 0},
    {"argv", bi_argv, 0, 0},
    {"thread_start", bi_thread_start, 1, -1},
    {"thread_start_daemon", bi_thread_start_daemon, 1, -1},
    {"thread_join", bi_thread_join, 1, 1},
    {"thread_id", bi_thread_id, 0, 1},
    {"sleep", bi_sleep, 1, 1},
    {"lock_new", bi_lock_new, 0, 0},
    {"lock_acquire", bi_lock_acquire, 1, 2},
    {"lock_release", bi_lock_release, 1, 1},
    {"queue_new", bi_queue_new, 0, 0},
    {"queue_put", bi_queue_put, 2, 2},
    {"queue_get", bi_queue_get, 1, 2},
    {"tls", bi_tls, 0, 0},
    {"async_raise", bi_async_raise, 2, 2},
    {"async_mask", bi_async_mask, 0, 0},
    {"async_unmask", bi_async_unmask, 0, 0},
    {"add_pending_call", bi_add_pending_call, 1, 1},
};

static int define(GvDict *d, const char *name, GvObject *value) {
    GvObject *key = gv_str_from_cstr(name);
    if (!key) return -1;
    int rc = gv_dict_set(d, gv_obj(key), gv_obj(value));
    gv_decref(key);
    return rc;
}

int gv_builtins_install(GvInterpreterState *interp) {
    GvDict *d = (GvDict *)interp->builtins;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        GvObject *b = gv_builtin_new(table[i].name, table[i].fn, table[i].min_args, table[i].max_args);
        if (!b) return -1;
        int rc = define(d, table[i].name, b);
        gv_decref(b);
        if (rc < 0) return -1;
    }
    if (gv_gen_builtins_install(interp) < 0) return -1;
    if (gv_builtins_interp_install(interp) < 0) return -1;
    size_t n;
    GvType *const *types = gv_exc_all_types(&n);
    for (size_t i = 0; i < n; i++)
        if (define(d, types[i]->name, &types[i]->ob) < 0) return -1;
    return 0;
}
