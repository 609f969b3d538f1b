/* The public API: exceptions (GvErr_*), the recursion limit, references. */
#include "api.h"

static bool is_type(GvObject *o) { return o && o->kind == GV_KTYPE; }

void GvErr_SetString(GvObject *type, const char *message) {
    gv_api_need_gil("GvErr_SetString");
    if (!is_type(type)) {
        gv_err_format(&gv_type_TypeError, "GvErr_SetString: not an exception type");
        return;
    }
    gv_err_format((GvType *)type, "%s", message ? message : "");
}

void GvErr_SetObject(GvObject *type, GvObject *value) {
    GvThreadState *ts = gv_api_need_gil("GvErr_SetObject");
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
    GvValue arg = value ? gv_api_value(value) : gv_none();
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
    if (gv_tstate_get()) gv_err_clear(gv_api_need_gil("GvErr_Clear"));
}

GvObject *GvErr_GetRaisedException(void) {
    return gv_err_take(gv_api_need_gil("GvErr_GetRaisedException"));
}

void GvErr_SetRaisedException(GvObject *exc) {
    GvThreadState *ts = gv_api_need_gil("GvErr_SetRaisedException");
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
    GvObject *e = gv_excinfo_top(gv_api_need_gil("GvErr_GetHandledException"));
    if (e) gv_incref(e);
    return e;
}

void GvErr_SetHandledException(GvObject *exc) {
    GvThreadState *ts = gv_api_need_gil("GvErr_SetHandledException");
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
    GvThreadState *ts = gv_api_need_gil("GvErr_PrintEx");
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
    GvThreadState *ts = gv_api_need_gil("Gv_SetRecursionLimit");
    if (limit < 1) return gv_err_format(&gv_type_ValueError, "recursion limit must be greater or equal than 1");
    ts->recursion_limit = limit;
    ts->interp->recursion_limit = limit;
    return 0;
}

int Gv_GetRecursionLimit(void) { return gv_api_need_gil("Gv_GetRecursionLimit")->recursion_limit; }

/* ---- objects ---- */

void Gv_IncRef(GvObject *o) {
    if (!o) return;
    gv_api_need_gil("Gv_IncRef");
    gv_incref(o);
}

void Gv_DecRef(GvObject *o) {
    if (!o) return;
    gv_api_need_gil("Gv_DecRef");
    gv_decref(o);
}

char *GvObject_StrDup(GvObject *o) {
    gv_api_need_gil("GvObject_StrDup");
    if (!o) {
        gv_api_null_arg("GvObject_StrDup", "the object");
        return NULL;
    }
    GvObject *s = gv_str(gv_api_value(o));
    if (!s) return NULL;
    char *copy = strdup(gv_str_cstr(s));
    gv_decref(s);
    if (!copy) gv_err_nomemory();
    return copy;
}

