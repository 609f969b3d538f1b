/* The public API: making and reading values (none, bool, int, float, str,
 * list, dict). Inside the VM an int, a float, a bool or none lives in a
 * GvValue, not on the heap; the embedder holds GvObject pointers, so such a
 * value crosses the API in a box (a native object holding the GvValue), and
 * none, true and false as three immortal boxes. A box never reaches a
 * program: every entry point reads its arguments with gv_api_value. */
#include <limits.h>

#include "api.h"

typedef struct GvBox {
    GvNative base;
    GvValue value; /* never an object: those cross the API as themselves */
} GvBox;

/* No dealloc and no clear: a box holds no references. */
static const GvNativeType box_type = {"boxed value", NULL, NULL};

#define IMMORTAL_BOX(tag, ival) \
    {{{INT64_MAX / 2, GV_KNATIVE, GV_OBJ_STATIC}, {NULL, NULL}, &box_type}, {tag, 0, {.i = ival}}}
static GvBox none_box = IMMORTAL_BOX(GV_TNONE, 0);
static GvBox true_box = IMMORTAL_BOX(GV_TBOOL, 1);
static GvBox false_box = IMMORTAL_BOX(GV_TBOOL, 0);
GvObject *const Gv_None = &none_box.base.ob;
GvObject *const Gv_True = &true_box.base.ob;
GvObject *const Gv_False = &false_box.base.ob;

static bool is_box(GvObject *o) { return o->kind == GV_KNATIVE && ((GvNative *)o)->type == &box_type; }

GvValue gv_api_value(GvObject *o) { return is_box(o) ? ((GvBox *)o)->value : gv_obj(o); }

GvObject *gv_api_export(GvValue v) {
    GvObject *o;
    switch ((GvTag)v.tag) {
    case GV_TOBJ: return v.as.o;
    case GV_TNONE: o = Gv_None; break;
    case GV_TBOOL: o = v.as.i ? Gv_True : Gv_False; break;
    default:
        o = gv_native_new(&box_type, sizeof(GvBox));
        if (o) ((GvBox *)o)->value = v;
        return o;
    }
    gv_incref(o);
    return o;
}

/* The value of argument `what` of fn, or -1 with TypeError for NULL. */
static int arg(const char *fn, const char *what, GvObject *o, GvValue *out) {
    if (!o) return gv_api_null_arg(fn, what);
    *out = gv_api_value(o);
    return 0;
}

/* The object of kind k that argument `what` of fn must be, or NULL with
 * TypeError. */
static GvObject *arg_kind(const char *fn, const char *what, GvObject *o, GvKind k, const char *kname) {
    GvValue v;
    if (arg(fn, what, o, &v) < 0) return NULL;
    if (!gv_is_kind(v, k)) {
        gv_err_format(&gv_type_TypeError, "%s: expected a %s, got %s", fn, kname, gv_type_name(v));
        return NULL;
    }
    return o;
}

static bool check(GvObject *o, GvTag tag) { return o && gv_api_value(o).tag == tag; }
static bool check_kind(GvObject *o, GvKind k) { return o && gv_is_kind(gv_api_value(o), k); }

int Gv_IsNone(GvObject *o) { return check(o, GV_TNONE); }

const char *GvObject_TypeName(GvObject *o) { return o ? gv_type_name(gv_api_value(o)) : NULL; }

GvObject *GvObject_Str(GvObject *o) {
    gv_api_need_gil("GvObject_Str");
    GvValue v;
    return arg("GvObject_Str", "the object", o, &v) < 0 ? NULL : gv_str(v);
}

GvObject *GvObject_Repr(GvObject *o) {
    gv_api_need_gil("GvObject_Repr");
    GvValue v;
    return arg("GvObject_Repr", "the object", o, &v) < 0 ? NULL : gv_repr(v);
}

int GvObject_IsTrue(GvObject *o) {
    gv_api_need_gil("GvObject_IsTrue");
    GvValue v;
    return arg("GvObject_IsTrue", "the object", o, &v) < 0 ? -1 : gv_truthy(v);
}

/* ---- bool, int, float ---- */

int GvBool_Check(GvObject *o) { return check(o, GV_TBOOL); }

GvObject *GvBool_FromLong(long v) {
    gv_api_need_gil("GvBool_FromLong");
    return gv_api_export(gv_bool(v != 0));
}

int GvLong_Check(GvObject *o) { return o && gv_is_intlike(gv_api_value(o)); }

GvObject *GvLong_FromLongLong(long long v) {
    gv_api_need_gil("GvLong_FromLongLong");
    return gv_api_export(gv_int(v));
}

GvObject *GvLong_FromLong(long v) {
    gv_api_need_gil("GvLong_FromLong");
    return gv_api_export(gv_int(v));
}

static int as_int(const char *fn, GvObject *o, int64_t *out) {
    GvValue v;
    if (arg(fn, "the object", o, &v) < 0) return -1;
    if (!gv_is_intlike(v)) return gv_err_format(&gv_type_TypeError, "%s: expected an int, got %s", fn, gv_type_name(v));
    *out = v.as.i;
    return 0;
}

long long GvLong_AsLongLong(GvObject *o) {
    gv_api_need_gil("GvLong_AsLongLong");
    int64_t i = -1;
    return as_int("GvLong_AsLongLong", o, &i) < 0 ? -1 : (long long)i;
}

long GvLong_AsLong(GvObject *o) {
    gv_api_need_gil("GvLong_AsLong");
    int64_t i = -1;
    if (as_int("GvLong_AsLong", o, &i) < 0) return -1;
    if (i < LONG_MIN || i > LONG_MAX)
        return gv_err_format(&gv_type_OverflowError, "GvLong_AsLong: int too large to convert to a C long");
    return (long)i;
}

int GvFloat_Check(GvObject *o) { return check(o, GV_TFLOAT); }

GvObject *GvFloat_FromDouble(double v) {
    gv_api_need_gil("GvFloat_FromDouble");
    return gv_api_export(gv_float(v));
}

double GvFloat_AsDouble(GvObject *o) {
    gv_api_need_gil("GvFloat_AsDouble");
    GvValue v;
    if (arg("GvFloat_AsDouble", "the object", o, &v) < 0) return -1.0;
    if (gv_is_float(v)) return v.as.f;
    if (gv_is_intlike(v)) return (double)v.as.i;
    gv_err_format(&gv_type_TypeError, "GvFloat_AsDouble: expected a float, got %s", gv_type_name(v));
    return -1.0;
}

/* ---- str ---- */

int GvUnicode_Check(GvObject *o) { return check_kind(o, GV_KSTR); }

GvObject *GvUnicode_FromStringAndSize(const char *s, Gv_ssize_t size) {
    gv_api_need_gil("GvUnicode_FromStringAndSize");
    if (!s) {
        gv_api_null_arg("GvUnicode_FromStringAndSize", "s");
        return NULL;
    }
    if (size < 0) {
        gv_err_format(&gv_type_ValueError, "GvUnicode_FromStringAndSize: negative size");
        return NULL;
    }
    return gv_str_new(s, (size_t)size);
}

GvObject *GvUnicode_FromString(const char *s) {
    gv_api_need_gil("GvUnicode_FromString");
    if (!s) {
        gv_api_null_arg("GvUnicode_FromString", "s");
        return NULL;
    }
    return gv_str_new(s, strlen(s));
}

const char *GvUnicode_AsUTF8AndSize(GvObject *o, Gv_ssize_t *size) {
    gv_api_need_gil("GvUnicode_AsUTF8AndSize");
    if (size) *size = -1;
    if (!arg_kind("GvUnicode_AsUTF8AndSize", "the object", o, GV_KSTR, "str")) return NULL;
    if (size) *size = (Gv_ssize_t)((GvStr *)o)->size;
    return gv_str_cstr(o);
}

const char *GvUnicode_AsUTF8(GvObject *o) {
    gv_api_need_gil("GvUnicode_AsUTF8");
    if (!arg_kind("GvUnicode_AsUTF8", "the object", o, GV_KSTR, "str")) return NULL;
    return gv_str_cstr(o);
}

/* ---- list ---- */

int GvList_Check(GvObject *o) { return check_kind(o, GV_KLIST); }

GvObject *GvList_New(Gv_ssize_t len) {
    gv_api_need_gil("GvList_New");
    if (len < 0) {
        gv_err_format(&gv_type_ValueError, "GvList_New: negative length");
        return NULL;
    }
    GvObject *l = gv_list_new((size_t)len);
    for (Gv_ssize_t i = 0; l && i < len; i++) {
        if (gv_list_append((GvList *)l, gv_none()) < 0) {
            gv_decref(l);
            return NULL;
        }
    }
    return l;
}

Gv_ssize_t GvList_Size(GvObject *list) {
    gv_api_need_gil("GvList_Size");
    if (!arg_kind("GvList_Size", "list", list, GV_KLIST, "list")) return -1;
    return (Gv_ssize_t)((GvList *)list)->size;
}

/* The list argument of fn with index in range, or NULL with an exception. */
static GvList *list_at(const char *fn, GvObject *list, Gv_ssize_t index) {
    if (!arg_kind(fn, "list", list, GV_KLIST, "list")) return NULL;
    GvList *l = (GvList *)list;
    if (index < 0 || (size_t)index >= l->size) {
        gv_err_format(&gv_type_IndexError, "%s: list index out of range", fn);
        return NULL;
    }
    return l;
}

GvObject *GvList_GetItemRef(GvObject *list, Gv_ssize_t index) {
    gv_api_need_gil("GvList_GetItemRef");
    GvList *l = list_at("GvList_GetItemRef", list, index);
    return l ? gv_api_export(gv_vincref(l->items[index])) : NULL;
}

int GvList_SetItem(GvObject *list, Gv_ssize_t index, GvObject *item) {
    gv_api_need_gil("GvList_SetItem");
    int rc = -1;
    GvList *l = list_at("GvList_SetItem", list, index);
    if (l && !item) gv_api_null_arg("GvList_SetItem", "item");
    else if (l) rc = gv_list_set(l, index, gv_api_value(item));
    Gv_DecRef(item); /* stolen, whatever happened */
    return rc;
}

int GvList_Append(GvObject *list, GvObject *item) {
    gv_api_need_gil("GvList_Append");
    GvValue v;
    if (!arg_kind("GvList_Append", "list", list, GV_KLIST, "list") || arg("GvList_Append", "item", item, &v) < 0)
        return -1;
    return gv_list_append((GvList *)list, v);
}

/* ---- dict ---- */

int GvDict_Check(GvObject *o) { return check_kind(o, GV_KDICT); }

GvObject *GvDict_New(void) {
    gv_api_need_gil("GvDict_New");
    return gv_dict_new();
}

Gv_ssize_t GvDict_Size(GvObject *dict) {
    gv_api_need_gil("GvDict_Size");
    if (!arg_kind("GvDict_Size", "dict", dict, GV_KDICT, "dict")) return -1;
    return (Gv_ssize_t)((GvDict *)dict)->used;
}

/* The dict and key arguments of fn, or -1 with TypeError. */
static int dict_key(const char *fn, GvObject *dict, GvObject *key, GvDict **d, GvValue *k) {
    if (!arg_kind(fn, "dict", dict, GV_KDICT, "dict") || arg(fn, "key", key, k) < 0) return -1;
    *d = (GvDict *)dict;
    return 0;
}

int GvDict_SetItem(GvObject *dict, GvObject *key, GvObject *value) {
    gv_api_need_gil("GvDict_SetItem");
    GvDict *d;
    GvValue k, v;
    if (dict_key("GvDict_SetItem", dict, key, &d, &k) < 0 || arg("GvDict_SetItem", "value", value, &v) < 0) return -1;
    return gv_dict_set(d, k, v);
}

int GvDict_SetItemString(GvObject *dict, const char *key, GvObject *value) {
    gv_api_need_gil("GvDict_SetItemString");
    GvValue v;
    if (!arg_kind("GvDict_SetItemString", "dict", dict, GV_KDICT, "dict")) return -1;
    if (!key) return gv_api_null_arg("GvDict_SetItemString", "key");
    if (arg("GvDict_SetItemString", "value", value, &v) < 0) return -1;
    GvObject *k = gv_str_from_cstr(key);
    if (!k) return -1;
    int rc = gv_dict_set((GvDict *)dict, gv_obj(k), v);
    gv_decref(k);
    return rc;
}

/* GetItemRef's shape: 1, 0 or -1, and *result a new reference or NULL. */
static int get_ref(GvDict *d, GvValue k, GvObject **result) {
    GvValue v;
    int found = gv_dict_get(d, k, &v);
    if (found <= 0) return found;
    *result = gv_api_export(v);
    return *result ? 1 : -1;
}

int GvDict_GetItemRef(GvObject *dict, GvObject *key, GvObject **result) {
    gv_api_need_gil("GvDict_GetItemRef");
    if (!result) return gv_api_null_arg("GvDict_GetItemRef", "result");
    *result = NULL;
    GvDict *d;
    GvValue k;
    if (dict_key("GvDict_GetItemRef", dict, key, &d, &k) < 0) return -1;
    return get_ref(d, k, result);
}

int GvDict_GetItemStringRef(GvObject *dict, const char *key, GvObject **result) {
    gv_api_need_gil("GvDict_GetItemStringRef");
    if (!result) return gv_api_null_arg("GvDict_GetItemStringRef", "result");
    *result = NULL;
    if (!arg_kind("GvDict_GetItemStringRef", "dict", dict, GV_KDICT, "dict")) return -1;
    if (!key) return gv_api_null_arg("GvDict_GetItemStringRef", "key");
    GvObject *k = gv_str_from_cstr(key);
    if (!k) return -1;
    int rc = get_ref((GvDict *)dict, gv_obj(k), result);
    gv_decref(k);
    return rc;
}

int GvDict_DelItem(GvObject *dict, GvObject *key) {
    gv_api_need_gil("GvDict_DelItem");
    GvDict *d;
    GvValue k;
    if (dict_key("GvDict_DelItem", dict, key, &d, &k) < 0) return -1;
    int rc = gv_dict_del(d, k);
    if (rc == 0) {
        /* As a program's KeyError: the key as message (its repr) and arg. */
        GvObject *r = gv_repr(k);
        GvObject *e = r ? gv_exc_new(&gv_type_KeyError, r, k) : NULL;
        gv_xdecref(r);
        if (e) gv_err_set_exc(gv_tstate_get(), e);
        return -1;
    }
    return rc < 0 ? -1 : 0;
}

int GvDict_Contains(GvObject *dict, GvObject *key) {
    gv_api_need_gil("GvDict_Contains");
    GvDict *d;
    GvValue k, v;
    if (dict_key("GvDict_Contains", dict, key, &d, &k) < 0) return -1;
    int found = gv_dict_get(d, k, &v);
    if (found == 1) gv_vdecref(v);
    return found;
}

GvObject *GvDict_Keys(GvObject *dict) {
    gv_api_need_gil("GvDict_Keys");
    if (!arg_kind("GvDict_Keys", "dict", dict, GV_KDICT, "dict")) return NULL;
    GvDict *d = (GvDict *)dict;
    GvObject *l = gv_list_new(d->used);
    size_t i = 0;
    GvValue k, v;
    while (l && gv_dict_next(d, &i, &k, &v)) {
        if (gv_list_append((GvList *)l, k) < 0) {
            gv_decref(l);
            return NULL;
        }
    }
    return l;
}
