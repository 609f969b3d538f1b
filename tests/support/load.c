#include "gvtest.h"

static GvDict *globals(void) {
    return (GvDict *)GvThreadState_Get()->interp->globals;
}

GvProgram *gvt_assemble(const char *src) {
    GvDiag diag;
    memset(&diag, 0, sizeof diag);
    GvProgram *p = GvProgram_Assemble(src, strlen(src), "test.gva", &diag);
    if (!p) gvt_fail("load error: %s", diag.text);
    return p;
}

void gvt_load(const char *src) {
    GvProgram *p = gvt_assemble(src);
    for (uint32_t i = 0; i < p->ncode; i++) {
        GvObject *fn = gv_function_new(p->code[i]);
        GVT_CHECK(fn != NULL, "out of memory");
        GVT_CHECK(gv_dict_set(globals(), gv_obj(p->code[i]->name), gv_obj(fn)) == 0, "cannot define %s",
                  gv_str_cstr(p->code[i]->name));
        gv_decref(fn);
    }
    GvProgram_Free(p);
}

int gvt_load_call(const char *src, const char *fname, GvValue *out) {
    gvt_load(src);
    return gvt_call(fname, 0, NULL, out);
}

/* 1 with *v set (a new reference) if the global exists, else 0. */
static int lookup(const char *name, GvValue *v) {
    GvObject *key = gv_str_from_cstr(name);
    GVT_CHECK(key != NULL, "out of memory");
    int found = gv_dict_get(globals(), gv_obj(key), v);
    gv_decref(key);
    return found;
}

GvValue gvt_global(const char *name) {
    GvValue v;
    if (lookup(name, &v) != 1) gvt_fail("no global '%s'", name);
    return v;
}

bool gvt_has_global(const char *name) {
    GvValue v;
    if (lookup(name, &v) != 1) return false;
    gv_vdecref(v);
    return true;
}

int64_t gvt_global_int(const char *name) {
    GvValue v = gvt_global(name);
    if (!gv_is_intlike(v)) gvt_fail("global '%s' is a %s, not an int", name, gv_type_name(v));
    return v.as.i;
}

void gvt_set_global(const char *name, GvValue v) {
    GvObject *key = gv_str_from_cstr(name);
    GVT_CHECK(key != NULL && gv_dict_set(globals(), gv_obj(key), v) == 0, "cannot set global '%s'", name);
    gv_decref(key);
}

int gvt_call(const char *name, int argc, GvValue *argv, GvValue *out) {
    GvValue fn = gvt_global(name);
    GvValue r = gv_none();
    int rc = gv_eval_call(GvThreadState_Get(), fn, argc, argv, &r);
    gv_vdecref(fn);
    if (rc == 0) {
        if (out) *out = r;
        else gv_vdecref(r);
    }
    return rc;
}

GvValue gvt_call_ok(const char *name, int argc, GvValue *argv) {
    GvValue r;
    if (gvt_call(name, argc, argv, &r) < 0) {
        GvType *t = gvt_exc_type();
        gvt_fail("%s() raised %s: %s", name, t ? t->name : "?", gvt_exc_message());
    }
    return r;
}

int64_t gvt_call_int(const char *name, int argc, GvValue *argv) {
    GvValue r = gvt_call_ok(name, argc, argv);
    if (!gv_is_intlike(r)) gvt_fail("%s() returned a %s, not an int", name, gv_type_name(r));
    gv_vdecref(r);
    return r.as.i;
}

void gvt_call_expect_str(const char *name, int argc, GvValue *argv, const char *want) {
    GvValue r = gvt_call_ok(name, argc, argv);
    if (!gv_is_kind(r, GV_KSTR)) {
        const char *t = gv_type_name(r);
        gv_vdecref(r);
        gvt_fail("%s() returned a %s, not a str", name, t);
    }
    /* Compared on a copy: a failing assert must not leak the result. */
    char got[256];
    snprintf(got, sizeof got, "%s", gv_str_cstr(r.as.o));
    gv_vdecref(r);
    assert_string_equal(got, want);
}

void gvt_call_raises(const char *name, int argc, GvValue *argv, GvType *type) {
    GvValue r = gv_none();
    if (gvt_call(name, argc, argv, &r) == 0) {
        gv_vdecref(r);
        gvt_fail("%s() returned; expected %s", name, type->name);
    }
    GvType *t = gvt_exc_type();
    if (t != type)
        gvt_fail("%s() raised %s (%s); expected %s", name, t ? t->name : "?", gvt_exc_message(), type->name);
    GvErr_Clear();
}

GvValue gvt_str(const char *s) {
    GvObject *o = gv_str_from_cstr(s);
    GVT_CHECK(o != NULL, "out of memory");
    return gv_obj(o);
}

GvType *gvt_exc_type(void) {
    GvThreadState *ts = GvThreadState_Get();
    return ts && ts->current_exception ? ((GvException *)ts->current_exception)->type : NULL;
}

const char *gvt_exc_message(void) {
    GvThreadState *ts = GvThreadState_Get();
    if (!ts || !ts->current_exception) return "";
    GvObject *m = ((GvException *)ts->current_exception)->message;
    return m ? gv_str_cstr(m) : "";
}

char *gvt_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - 1 - n, f)) > 0;) {
        n += got;
        if (n == cap - 1) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    if (len) *len = n;
    return buf;
}
