/* Exceptions: handlers, the exception-info stack, context chaining,
 * tracebacks, and the GvErr_* C API. */
#include "testutil.h"

static GvThreadState *tstate(void) { return GvThreadState_Get(); }

static int64_t run_int(const char *src) {
    GvValue r;
    if (gv_test_call(src, "main", &r) < 0)
        fail_msg("unexpected %s: %s", gv_test_exc_type()->name, gv_test_exc_message());
    assert_true(gv_is_int(r));
    return r.as.i;
}

/* Number of entries in an exception's traceback. */
static int tb_len(GvObject *exc) {
    int n = 0;
    for (GvTraceback *tb = ((GvException *)exc)->traceback; tb; tb = tb->next) n++;
    return n;
}

static void test_handler_catches_and_stack_is_cut_back(void **state) {
    (void)state;
    /* Two values pushed inside the range are dropped when the handler runs;
     * the value pushed before the range survives. */
    const char *src =
        ".func main\n"
        " LOAD_CONST 7\n"
        "s:\n LOAD_CONST 1\n LOAD_CONST 0\n BINARY_FLOORDIV\n POP_TOP\n"
        "e:\n LOAD_CONST 0\n RETURN_VALUE\n"
        "h:\n POP_TOP\n POP_EXCEPT\n RETURN_VALUE\n"
        ".try s e h\n.end\n";
    assert_int_equal(run_int(src), 7);
    assert_int_equal(tstate()->exc_depth, 0);
}

static void test_check_exc_match_follows_hierarchy(void **state) {
    (void)state;
    /* RecursionError is a RuntimeError, not a ValueError. */
    const char *src =
        ".func main\n"
        "s:\n LOAD_GLOBAL RecursionError\n RAISE\n"
        "e:\n"
        "h:\n LOAD_GLOBAL ValueError\n CHECK_EXC_MATCH\n POP_JUMP_IF_TRUE wrong\n"
        " LOAD_GLOBAL RuntimeError\n CHECK_EXC_MATCH\n POP_JUMP_IF_FALSE wrong\n"
        " POP_TOP\n POP_EXCEPT\n LOAD_CONST 1\n RETURN_VALUE\n"
        "wrong:\n POP_TOP\n POP_EXCEPT\n LOAD_CONST 0\n RETURN_VALUE\n"
        ".try s e h\n.end\n";
    assert_int_equal(run_int(src), 1);
}

static void test_exc_info_restored_after_nested_handlers(void **state) {
    (void)state;
    /* Inside the inner handler exc_info() is the inner exception; after its
     * POP_EXCEPT it is the outer one again; after the outer POP_EXCEPT, none. */
    const char *src =
        ".func main\n.local outer inner ok\n"
        " LOAD_CONST 0\n STORE_FAST ok\n"
        "s1:\n LOAD_GLOBAL ValueError\n RAISE\n"
        "e1:\n"
        "h1:\n STORE_FAST outer\n"
        "s2:\n LOAD_GLOBAL KeyError\n RAISE\n"
        "e2:\n"
        "h2:\n STORE_FAST inner\n"
        " LOAD_FAST ok\n LOAD_GLOBAL exc_info\n CALL 0\n LOAD_FAST inner\n COMPARE_EQ\n BINARY_ADD\n STORE_FAST ok\n"
        " POP_EXCEPT\n"
        " LOAD_FAST ok\n LOAD_GLOBAL exc_info\n CALL 0\n LOAD_FAST outer\n COMPARE_EQ\n BINARY_ADD\n STORE_FAST ok\n"
        " POP_EXCEPT\n"
        " LOAD_FAST ok\n LOAD_GLOBAL exc_info\n CALL 0\n LOAD_CONST none\n COMPARE_EQ\n BINARY_ADD\n RETURN_VALUE\n"
        ".try s2 e2 h2\n.try s1 e1 h1\n.end\n";
    assert_int_equal(run_int(src), 3);
    assert_int_equal(tstate()->exc_depth, 0);
}

static void test_exception_in_handler_gets_context(void **state) {
    (void)state;
    const char *src =
        ".func main\n"
        "s:\n LOAD_GLOBAL ValueError\n LOAD_CONST \"first\"\n CALL 1\n RAISE\n"
        "e:\n"
        "h:\n POP_TOP\n LOAD_GLOBAL KeyError\n LOAD_CONST \"second\"\n CALL 1\n RAISE\n"
        ".try s e h\n.end\n";
    GvValue r;
    assert_int_equal(gv_test_call(src, "main", &r), -1);
    GvException *e = (GvException *)tstate()->current_exception;
    assert_ptr_equal(e->type, &gv_type_KeyError);
    assert_non_null(e->context);
    GvException *c = (GvException *)e->context;
    assert_ptr_equal(c->type, &gv_type_ValueError);
    assert_string_equal(gv_str_cstr(c->message), "first");
    assert_null(c->context);
    /* Leaving main dropped the handler's entry. */
    assert_int_equal(tstate()->exc_depth, 0);
    gv_err_clear(tstate());
}

static void test_reraise_keeps_traceback_and_context(void **state) {
    (void)state;
    /* f raises; main catches and re-raises: the traceback still reaches
     * into f (main, f), and no context is added. */
    const char *src =
        ".func f\n LOAD_GLOBAL ValueError\n RAISE\n.end\n"
        ".func main\n"
        "s:\n LOAD_GLOBAL f\n CALL 0\n RETURN_VALUE\n"
        "e:\n"
        "h:\n RERAISE\n"
        ".try s e h\n.end\n";
    GvValue r;
    assert_int_equal(gv_test_call(src, "main", &r), -1);
    GvObject *exc = tstate()->current_exception;
    assert_int_equal(tb_len(exc), 2);
    GvTraceback *tb = ((GvException *)exc)->traceback;
    assert_string_equal(gv_str_cstr(tb->code->name), "main");
    assert_string_equal(gv_str_cstr(tb->next->code->name), "f");
    assert_null(((GvException *)exc)->context);
    gv_err_clear(tstate());
}

static void test_return_from_handler_pops_exc_info(void **state) {
    (void)state;
    const char *src =
        ".func g\n"
        "s:\n LOAD_GLOBAL ValueError\n RAISE\n"
        "e:\n"
        "h:\n POP_TOP\n LOAD_CONST 5\n RETURN_VALUE\n"
        ".try s e h\n.end\n"
        ".func main\n LOAD_GLOBAL g\n CALL 0\n POP_TOP\n"
        " LOAD_GLOBAL exc_info\n CALL 0\n LOAD_CONST none\n COMPARE_EQ\n RETURN_VALUE\n.end\n";
    GvValue r;
    assert_int_equal(gv_test_call(src, "main", &r), 0);
    assert_true(gv_is_bool(r) && r.as.i == 1);
    assert_int_equal(tstate()->exc_depth, 0);
}

static void test_exception_leaving_handler_to_outer_handler_drops_inner_entry(void **state) {
    (void)state;
    /* The inner handler raises; the outer handler (same frame) sees its
     * exception as exc_info() and only one entry is on the stack. */
    const char *src =
        ".func main\n"
        "s1:\n"
        "s2:\n LOAD_GLOBAL ValueError\n RAISE\n"
        "e2:\n"
        "h2:\n POP_TOP\n LOAD_GLOBAL KeyError\n RAISE\n"
        "e1:\n"
        "h1:\n POP_TOP\n LOAD_GLOBAL exc_info\n CALL 0\n LOAD_GLOBAL KeyError\n CHECK_EXC_MATCH\n"
        " ROT_TWO\n POP_TOP\n POP_EXCEPT\n RETURN_VALUE\n"
        ".try s2 e2 h2\n.try s1 e1 h1\n.end\n";
    GvValue r;
    assert_int_equal(gv_test_call(src, "main", &r), 0);
    assert_true(gv_is_bool(r) && r.as.i == 1);
    assert_int_equal(tstate()->exc_depth, 0);
}

static void test_recursion_error_is_catchable_and_again_inside_handler(void **state) {
    (void)state;
    /* r() recurses until the limit. The deepest r catches RecursionError and
     * calls g() in its handler: that call is past the limit too, so it raises
     * again, out of the handler; the next r up catches that one, and its g()
     * call, one frame higher, succeeds. */
    const char *src =
        ".func g\n LOAD_CONST 7\n RETURN_VALUE\n.end\n"
        ".func r\n"
        "s:\n LOAD_GLOBAL r\n CALL 0\n RETURN_VALUE\n"
        "e:\n"
        "h:\n POP_TOP\n LOAD_GLOBAL g\n CALL 0\n RETURN_VALUE\n"
        ".try s e h\n.end\n"
        ".func main\n LOAD_GLOBAL r\n CALL 0\n RETURN_VALUE\n.end\n";
    GvThreadState *ts = tstate();
    int old = ts->recursion_limit;
    ts->recursion_limit = 60;
    assert_int_equal(run_int(src), 7);
    ts->recursion_limit = old;
    assert_int_equal(ts->recursion_depth, 0);
    assert_int_equal(ts->exc_depth, 0);
}

static void test_raise_non_exception_is_type_error(void **state) {
    (void)state;
    GvValue r;
    assert_int_equal(gv_test_call(".func main\n LOAD_CONST 3\n RAISE\n.end\n", "main", &r), -1);
    assert_ptr_equal(gv_test_exc_type(), &gv_type_TypeError);
    assert_string_equal(gv_test_exc_message(), "exceptions must derive from BaseException");
    gv_err_clear(tstate());
}

static void test_err_api_set_fetch_restore(void **state) {
    (void)state;
    assert_null(GvErr_Occurred());
    GvErr_SetString(GvExc_ValueError, "boom");
    assert_ptr_equal(GvErr_Occurred(), GvExc_ValueError);
    GvObject *e = GvErr_GetRaisedException();
    assert_null(GvErr_Occurred());
    assert_true(GvErr_GivenExceptionMatches(e, GvExc_Exception));
    assert_false(GvErr_GivenExceptionMatches(e, GvExc_KeyError));
    char *s = GvObject_StrDup(e);
    assert_string_equal(s, "boom");
    free(s);
    GvErr_SetRaisedException(e);
    assert_ptr_equal(GvErr_Occurred(), GvExc_ValueError);
    GvErr_Clear();
    assert_null(GvErr_Occurred());
}

static void test_err_set_string_with_non_type_sets_type_error(void **state) {
    (void)state;
    GvObject *s = gv_str_from_cstr("not a type");
    GvErr_SetString(s, "x");
    assert_ptr_equal(GvErr_Occurred(), GvExc_TypeError);
    GvErr_Clear();
    gv_decref(s);
}

static void test_err_set_object_uses_str_of_value(void **state) {
    (void)state;
    GvObject *v = gv_str_from_cstr("why");
    GvErr_SetObject(GvExc_RuntimeError, v);
    gv_decref(v);
    GvObject *e = GvErr_GetRaisedException();
    char *s = GvObject_StrDup(e);
    assert_string_equal(s, "why");
    free(s);
    Gv_DecRef(e);
}

static void test_handled_exception_api_outside_handler_is_null(void **state) {
    (void)state;
    assert_null(GvErr_GetHandledException());
    GvErr_SetHandledException(NULL); /* no handler running: nothing happens */
    assert_null(GvErr_GetHandledException());
}

static void test_recursion_limit_api(void **state) {
    (void)state;
    int old = Gv_GetRecursionLimit();
    assert_int_equal(old, 1000);
    assert_int_equal(Gv_SetRecursionLimit(50), 0);
    assert_int_equal(Gv_GetRecursionLimit(), 50);
    assert_int_equal(Gv_SetRecursionLimit(0), -1);
    assert_ptr_equal(GvErr_Occurred(), GvExc_ValueError);
    GvErr_Clear();
    assert_int_equal(Gv_GetRecursionLimit(), 50);
    Gv_SetRecursionLimit(old);
}

static void test_print_ex_systemexit_code(void **state) {
    (void)state;
    GvValue r;
    assert_int_equal(gv_test_call(".func main\n LOAD_GLOBAL SystemExit\n LOAD_CONST 3\n CALL 1\n RAISE\n.end\n",
                                  "main", &r), -1);
    assert_int_equal(GvErr_PrintEx(), 3);
    assert_null(GvErr_Occurred());
    assert_int_equal(gv_test_call(".func main\n LOAD_GLOBAL SystemExit\n RAISE\n.end\n", "main", &r), -1);
    assert_int_equal(GvErr_PrintEx(), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handler_catches_and_stack_is_cut_back),
        cmocka_unit_test(test_check_exc_match_follows_hierarchy),
        cmocka_unit_test(test_exc_info_restored_after_nested_handlers),
        cmocka_unit_test(test_exception_in_handler_gets_context),
        cmocka_unit_test(test_reraise_keeps_traceback_and_context),
        cmocka_unit_test(test_return_from_handler_pops_exc_info),
        cmocka_unit_test(test_exception_leaving_handler_to_outer_handler_drops_inner_entry),
        cmocka_unit_test(test_recursion_error_is_catchable_and_again_inside_handler),
        cmocka_unit_test(test_raise_non_exception_is_type_error),
        cmocka_unit_test(test_err_api_set_fetch_restore),
        cmocka_unit_test(test_err_set_string_with_non_type_sets_type_error),
        cmocka_unit_test(test_err_set_object_uses_str_of_value),
        cmocka_unit_test(test_handled_exception_api_outside_handler_is_null),
        cmocka_unit_test(test_recursion_limit_api),
        cmocka_unit_test(test_print_ex_systemexit_code),
    };
    return cmocka_run_group_tests(tests, gv_test_setup, gv_test_teardown);
}
