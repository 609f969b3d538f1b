/* The public API: calling functions from C, the interpreter's globals, and
 * defining a program's functions (GvProgram_Exec). The interpreter is always
 * the current thread state's, as for every other "GIL held" call. */
#include <stdarg.h>

#include "api.h"

#include "interp.h"

int gv_api_define_functions(GvThreadState *ts, GvProgram *program) {
    GvDict *globals = (GvDict *)ts->interp->globals;
    /* What interp_start loads into a new interpreter: this program. */
    if (gv_interp_keep_program(ts->interp, program) < 0) return -1;
    for (uint32_t i = 0; i < program->ncode; i++) {
        GvCode *code = program->code[i];
        GvObject *fn = gv_function_new(code);
        if (!fn) return -1;
        int rc = gv_dict_set(globals, gv_obj(code->name), gv_obj(fn));
        gv_decref(fn);
        if (rc < 0) return -1;
    }
    return 0;
}

int GvProgram_Exec(GvProgram *program) {
    GvThreadState *ts = gv_api_need_gil("GvProgram_Exec");
    if (!program) return gv_api_null_arg("GvProgram_Exec", "program");
    return gv_api_define_functions(ts, program);
}

int GvProgram_FindFunction(const GvProgram *program, const char *name, GvFunctionInfo *info) {
    if (!program || !name) gv_api_fatal("GvProgram_FindFunction", program ? "NULL name" : "NULL program");
    int i = gv_program_find(program, name);
    if (i < 0) return 0;
    if (info) {
        info->nparams = (int)program->code[i]->nparams;
        info->firstline = program->code[i]->firstline;
    }
    return 1;
}

/* ---- calls ---- */

/* Arguments of one call, as VM values: most calls fit the small array. */
#define SMALL_ARGS 8

/* Calls callable(argv[0..n)), VM values it borrows. */
static GvObject *call_values(const char *fn, GvThreadState *ts, GvObject *callable, GvValue *argv, size_t n) {
    if (n > INT32_MAX) {
        gv_err_format(&gv_type_ValueError, "%s: too many arguments", fn);
        return NULL;
    }
    GvValue result;
    if (gv_eval_call(ts, gv_api_value(callable), (int)n, argv, &result) < 0) return NULL;
    return gv_api_export(result);
}

/* The checks every call makes; 0, or -1 with TypeError. */
static int can_call(const char *fn, GvThreadState *ts, GvObject *callable) {
    /* The eval loop assumes it starts with no exception in flight, as
     * CPython's does (its debug build asserts it). */
    if (ts->current_exception) gv_api_fatal(fn, "called with an exception set (handle or clear it first)");
    return callable ? 0 : gv_api_null_arg(fn, "callable");
}

/* Calls callable(args[0..n)) where args are public references (borrowed). */
static GvObject *call(const char *fn, GvThreadState *ts, GvObject *callable, GvObject *const *args, size_t n) {
    if (can_call(fn, ts, callable) < 0) return NULL;
    GvValue small[SMALL_ARGS];
    GvValue *argv = n <= SMALL_ARGS ? small : gv_malloc(n * sizeof *argv);
    if (!argv) return NULL;
    GvObject *result = NULL;
    size_t i = 0;
    for (; i < n && args[i]; i++) argv[i] = gv_api_value(args[i]);
    if (i < n) gv_api_null_arg(fn, "an argument");
    else result = call_values(fn, ts, callable, argv, n);
    if (argv != small) gv_free(argv);
    return result;
}

GvObject *GvObject_CallNoArgs(GvObject *callable) {
    GvThreadState *ts = gv_api_need_gil("GvObject_CallNoArgs");
    return call("GvObject_CallNoArgs", ts, callable, NULL, 0);
}

GvObject *GvObject_CallOneArg(GvObject *callable, GvObject *arg) {
    GvThreadState *ts = gv_api_need_gil("GvObject_CallOneArg");
    return call("GvObject_CallOneArg", ts, callable, &arg, 1);
}

GvObject *GvObject_Vectorcall(GvObject *callable, GvObject *const *args, size_t nargs, GvObject *kwnames) {
    GvThreadState *ts = gv_api_need_gil("GvObject_Vectorcall");
    if (kwnames) {
        gv_err_format(&gv_type_TypeError, "GvObject_Vectorcall: gilvm has no keyword arguments (kwnames must be NULL)");
        return NULL;
    }
    if (nargs && !args) {
        gv_api_null_arg("GvObject_Vectorcall", "args");
        return NULL;
    }
    return call("GvObject_Vectorcall", ts, callable, args, nargs);
}

GvObject *GvObject_CallObject(GvObject *callable, GvObject *args) {
    GvThreadState *ts = gv_api_need_gil("GvObject_CallObject");
    if (can_call("GvObject_CallObject", ts, callable) < 0) return NULL;
    if (!args) return call_values("GvObject_CallObject", ts, callable, NULL, 0);
    GvValue l = gv_api_value(args);
    if (!gv_is_kind(l, GV_KLIST)) {
        gv_err_format(&gv_type_TypeError, "GvObject_CallObject: args must be a list or NULL, not %s", gv_type_name(l));
        return NULL;
    }
    /* The callee may change the list while it runs: the arguments are a
     * copy, each with a reference of its own. */
    GvList *list = gv_as_list(l);
    size_t n = list->size;
    GvValue *argv = gv_malloc((n ? n : 1) * sizeof *argv);
    if (!argv) return NULL;
    for (size_t i = 0; i < n; i++) argv[i] = gv_vincref(list->items[i]);
    GvObject *result = call_values("GvObject_CallObject", ts, callable, argv, n);
    for (size_t i = 0; i < n; i++) gv_vdecref(argv[i]);
    gv_free(argv);
    return result;
}

GvObject *GvObject_CallFunctionObjArgs(GvObject *callable, ...) {
    GvThreadState *ts = gv_api_need_gil("GvObject_CallFunctionObjArgs");
    va_list ap;
    size_t n = 0;
    va_start(ap, callable);
    while (va_arg(ap, GvObject *)) n++;
    va_end(ap);
    GvObject *small[SMALL_ARGS];
    GvObject **args = n <= SMALL_ARGS ? small : gv_malloc(n * sizeof *args);
    if (!args) return NULL;
    va_start(ap, callable);
    for (size_t i = 0; i < n; i++) args[i] = va_arg(ap, GvObject *);
    va_end(ap);
    GvObject *result = call("GvObject_CallFunctionObjArgs", ts, callable, args, n);
    if (args != small) gv_free(args);
    return result;
}

/* ---- globals ---- */

GvObject *GvEval_GetGlobals(void) { return gv_api_need_gil("GvEval_GetGlobals")->interp->globals; }

GvObject *Gv_GetGlobal(const char *name) {
    GvThreadState *ts = gv_api_need_gil("Gv_GetGlobal");
    if (!name) {
        gv_api_null_arg("Gv_GetGlobal", "name");
        return NULL;
    }
    GvObject *key = gv_str_from_cstr(name);
    if (!key) return NULL;
    GvValue v;
    /* Where LOAD_GLOBAL looks: the globals, then the builtins. */
    int found = gv_dict_get((GvDict *)ts->interp->globals, gv_obj(key), &v);
    if (found == 0) found = gv_dict_get((GvDict *)ts->interp->builtins, gv_obj(key), &v);
    gv_decref(key);
    if (found < 0) return NULL;
    if (found == 0) {
        gv_err_format(&gv_type_NameError, "name '%s' is not defined", name);
        return NULL;
    }
    return gv_api_export(v);
}

int Gv_SetGlobal(const char *name, GvObject *value) {
    GvThreadState *ts = gv_api_need_gil("Gv_SetGlobal");
    if (!name) return gv_api_null_arg("Gv_SetGlobal", "name");
    GvObject *key = gv_str_from_cstr(name);
    if (!key) return -1;
    GvDict *globals = (GvDict *)ts->interp->globals;
    int rc;
    if (value) {
        rc = gv_dict_set(globals, gv_obj(key), gv_api_value(value));
    } else {
        rc = gv_dict_del(globals, gv_obj(key));
        if (rc == 0) rc = gv_err_format(&gv_type_NameError, "name '%s' is not defined", name);
        else if (rc > 0) rc = 0;
    }
    gv_decref(key);
    return rc;
}
