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
        char buf[128];
        bool ok = n > 0 && n < sizeof buf;
        for (size_t i = 0; ok && i < n; i++) {
            char c = p[i];
            /* strtod also takes hex floats and "infinity"-like words Python
             * spells differently; allow only Python's decimal spellings. */
            ok = (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' ||
                 c == '-' || c == 'i' || c == 'n' || c == 'f' || c == 'a' || c == 't' ||
                 c == 'y' || c == 'I' || c == 'N' || c == 'F' || c == 'A' || c == 'T' || c == 'Y';
        }
        if (ok) {
            memcpy(buf, p, n);
            buf[n] = '\0';
            char *endp;
            errno = 0;
            double d = strtod(buf, &endp);
            if (*endp == '\0') {
                *out = gv_float(d);
                return 0;
            }
        }
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
    (void)ts;
    (void)argc;
    (void)argv;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    *out = gv_float((double)t.tv_sec + (double)t.tv_nsec * 1e-9);
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

/* The switch interval is the GIL's (runtime/gil.c reads it); until threads
 * compete for the GIL it is only kept, exactly as given. */
BUILTIN(set_switch_interval) {
    (void)argc;
    double d;
    if (gv_is_float(argv[0])) d = argv[0].as.f;
    else if (gv_is_intlike(argv[0])) d = (double)argv[0].as.i;
    else
        return gv_err_format(&gv_type_TypeError, "set_switch_interval() argument must be a number, not %s",
                             gv_type_name(argv[0]));
    if (!(d > 0.0)) return gv_err_format(&gv_type_ValueError, "switch interval must be strictly positive");
    ts->interp->switch_interval = argv[0];
    *out = gv_none();
    return 0;
}

BUILTIN(get_switch_interval) {
    (void)argc;
    (void)argv;
    *out = ts->interp->switch_interval;
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
    size_t n;
    GvType *const *types = gv_exc_all_types(&n);
    for (size_t i = 0; i < n; i++)
        if (define(d, types[i]->name, &types[i]->ob) < 0) return -1;
    return 0;
}
