/* Shared helpers for the cmocka unit tests. */
#ifndef GV_TESTUTIL_H
#define GV_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gilvm.h"
#include "../../runtime/dict.h"
#include "../../runtime/errors.h"
#include "../../runtime/exc.h"
#include "../../runtime/func.h"
#include "../../runtime/str.h"
#include "../../runtime/breaker.h"
#include "../../runtime/services.h"
#include "../../runtime/tstate.h"
#include "../../vm/eval.h"
#include "../support/debugger.h"
#include "testmain.h"

/* cmocka group setup/teardown: a fresh interpreter for each group. */
static inline int gv_test_setup(void **state) {
    (void)state;
    return Gv_Initialize() ? 0 : -1;
}
static inline int gv_test_teardown(void **state) {
    (void)state;
    Gv_Finalize();
    return 0;
}

/* Assembles and verifies `src` (failing the test on a load error), defines
 * its functions as globals, and calls `fname()` with no arguments. Returns 0
 * with the result in *out (a new reference), or -1 with the exception left
 * set on the thread. */
static inline int gv_test_call(const char *src, const char *fname, GvValue *out) {
    GvDiag diag;
    memset(&diag, 0, sizeof diag);
    GvProgram *p = GvProgram_Assemble(src, strlen(src), "test.gva", &diag);
    if (!p) fail_msg("load error: %s", diag.text);
    GvThreadState *ts = GvThreadState_Get();
    GvDict *globals = (GvDict *)ts->interp->globals;
    for (uint32_t i = 0; i < p->ncode; i++) {
        GvObject *fn = gv_function_new(p->code[i]);
        assert_non_null(fn);
        assert_int_equal(gv_dict_set(globals, gv_obj(p->code[i]->name), gv_obj(fn)), 0);
        gv_decref(fn);
    }
    GvProgram_Free(p);
    GvObject *name = gv_str_from_cstr(fname);
    GvValue fn;
    assert_int_equal(gv_dict_get(globals, gv_obj(name), &fn), 1);
    gv_decref(name);
    int rc = gv_eval_call(ts, fn, 0, NULL, out);
    gv_vdecref(fn);
    return rc;
}

/* The type of the exception in flight (borrowed), or NULL. */
static inline GvType *gv_test_exc_type(void) {
    GvThreadState *ts = GvThreadState_Get();
    return ts->current_exception ? ((GvException *)ts->current_exception)->type : NULL;
}

/* The message of the exception in flight ("" if none). */
static inline const char *gv_test_exc_message(void) {
    GvThreadState *ts = GvThreadState_Get();
    if (!ts->current_exception) return "";
    GvObject *m = ((GvException *)ts->current_exception)->message;
    return m ? gv_str_cstr(m) : "";
}

#endif
