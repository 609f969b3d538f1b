/* Exceptions: handlers, the exception-info stack, context chaining,
 * tracebacks, and the GvErr_* C API. */
#include "gvtest.h"

static GvThreadState *tstate(void) { return GvThreadState_Get(); }

static int64_t run_int(const char *src) {
    GvValue r;
    if (gvt_load_call(src, "main", &r) < 0)
        fail_msg("unexpected %s: %s", gvt_exc_type()->name, gvt_exc_message());
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
    assert_int_equal(gvt_load_call(src, "main", &r), -1);
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
    assert_int_equal(gvt_load_call(src, "main", &r), -1);
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
    assert_int_equal(gvt_load_call(src, "main", &r), 0);
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
    assert_int_equal(gvt_load_call(src, "main", &r), 0);
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
    assert_int_equal(gvt_load_call(".func main\n LOAD_CONST 3\n RAISE\n.end\n", "main", &r), -1);
    assert_ptr_equal(gvt_exc_type(), &gv_type_TypeError);
    assert_string_equal(gvt_exc_message(), "exceptions must derive from BaseException");
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
    assert_int_equal(gvt_load_call(".func main\n LOAD_GLOBAL SystemExit\n LOAD_CONST 3\n CALL 1\n RAISE\n.end\n",
                                   "main", &r), -1);
    assert_int_equal(GvErr_PrintEx(), 3);
    assert_null(GvErr_Occurred());
    assert_int_equal(gvt_load_call(".func main\n LOAD_GLOBAL SystemExit\n RAISE\n.end\n", "main", &r), -1);
    assert_int_equal(GvErr_PrintEx(), 0);
}

/* ---- context chains: capped, keeping the root ---- */

/* A new ValueError(str(i)). */
static GvException *numbered(int i) {
    char buf[16];
    snprintf(buf, sizeof buf, "%d", i);
    GvObject *m = gv_str_from_cstr(buf);
    assert_non_null(m);
    GvObject *e = gv_exc_new(&gv_type_ValueError, m, gv_obj(m));
    gv_decref(m);
    assert_non_null(e);
    return (GvException *)e;
}

/* A chain made by hand, as raising exceptions from the middle of chains can
 * make it (longer than the cap): ex[0] (newest, the caller's reference)
 * -> ex[1] -> ... -> ex[n-1] (the root), ex[i] with the message "i". The
 * pointers in ex are borrowed. */
static GvException *hand_chain(GvException **ex, int n) {
    for (int i = n - 1; i >= 0; i--) {
        ex[i] = numbered(i);
        if (i + 1 < n) ex[i]->context = &ex[i + 1]->ob; /* takes ex[i + 1]'s reference */
    }
    return ex[0];
}

/* Raises exc (stolen) while handling `handled`, as a handler does; returns it (owned). */
static GvException *raise_while_handling(GvException *handled, GvException *exc) {
    GvThreadState *ts = tstate();
    assert_int_equal(gv_excinfo_push(ts, &handled->ob), 0);
    gv_err_set_exc(ts, &exc->ob);
    GvObject *got = gv_err_take(ts);
    gv_excinfo_pop(ts);
    assert_ptr_equal(got, &exc->ob);
    return exc;
}

/* Length of e's chain, e included; fails on a chain that does not end. */
static int chain_len(GvException *e) {
    int n = 0;
    for (; e; e = (GvException *)e->context)
        if (++n > 100000) fail_msg("the context chain does not end (a cycle?)");
    return n;
}

static GvException *chain_root(GvException *e) {
    while (e->context) e = (GvException *)e->context;
    return e;
}

static char *print_text(GvException *e) {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    assert_non_null(m);
    gv_exc_print(&e->ob, m);
    fclose(m);
    return text;
}

/* needles appear in text in this order. */
static void assert_in_order(const char *text, const char *const *needles, int n) {
    const char *at = text;
    for (int i = 0; i < n; i++) {
        const char *hit = strstr(at, needles[i]);
        if (!hit) fail_msg("\"%s\" missing (or out of order) in:\n%s", needles[i], text);
        at = hit + strlen(needles[i]);
    }
}

static void test_capped_chain_keeps_the_root(void **state) {
    (void)state;
    enum { N = GV_CONTEXT_CHAIN_MAX };
    GvException *ex[N];
    GvException *head = hand_chain(ex, N);
    GvException *x = raise_while_handling(head, numbered(-1));
    /* x + N would be one too many: the link next to the root goes. */
    assert_int_equal(chain_len(x), GV_CONTEXT_CHAIN_MAX);
    assert_ptr_equal(chain_root(x), ex[N - 1]);
    assert_ptr_equal(ex[N - 3]->context, &ex[N - 1]->ob);
    assert_int_equal(ex[N - 3]->context_omitted, 1);
    char *text = print_text(x);
    const char *order[] = {"ValueError: 99\n", "... (1 more exception in the chain not shown) ...\n",
                           "ValueError: 97\n", "ValueError: 0\n", "ValueError: -1\n"};
    assert_in_order(text, order, 5);
    assert_null(strstr(text, "ValueError: 98\n"));
    free(text);
    gv_decref(&x->ob);
    gv_decref(&head->ob);
}

static void test_chain_cut_counts_what_earlier_cuts_left_out(void **state) {
    (void)state;
    /* 150 long (an exception from the middle of a chain raised again can
     * make one), with 10 already left out between ex[120] and ex[121]. */
    enum { N = 150 };
    GvException *ex[N];
    GvException *head = hand_chain(ex, N);
    ex[120]->context_omitted = 10;
    GvException *x = raise_while_handling(head, numbered(-1));
    assert_int_equal(chain_len(x), GV_CONTEXT_CHAIN_MAX);
    assert_ptr_equal(chain_root(x), ex[N - 1]);
    /* x, ex[0] .. ex[97], then the root; ex[98] .. ex[148] (51) and the 10 left out. */
    assert_ptr_equal(ex[97]->context, &ex[N - 1]->ob);
    assert_int_equal(ex[97]->context_omitted, 51 + 10);
    char *text = print_text(x);
    const char *order[] = {"ValueError: 149\n", "... (61 more exceptions in the chain not shown) ...\n",
                           "ValueError: 97\n", "ValueError: -1\n"};
    assert_in_order(text, order, 4);
    free(text);
    gv_decref(&x->ob);
    gv_decref(&head->ob);
}

static void test_raising_an_exception_from_the_chain_makes_no_cycle(void **state) {
    (void)state;
    enum { N = 150 };
    GvException *ex[N];
    GvException *head = hand_chain(ex, N);
    gv_incref(&ex[120]->ob);
    GvException *x = raise_while_handling(head, ex[120]);
    /* ex[120], ex[0] .. ex[119]: cut at ex[120], then capped to the root ex[119]. */
    assert_int_equal(chain_len(x), GV_CONTEXT_CHAIN_MAX);
    assert_ptr_equal(x->context, &head->ob);
    assert_ptr_equal(chain_root(x), ex[119]);
    assert_int_equal(ex[119]->context_omitted, 0);
    assert_int_equal(ex[97]->context_omitted, 21);
    gv_decref(&x->ob);
    gv_decref(&head->ob);
}

static void test_chain_too_long_to_walk_loses_its_tail_and_says_so(void **state) {
    (void)state;
    /* Longer than a raise walks (twice the cap): the root cannot be found in
     * bounded time, so the chain is cut after the newest, and the print says
     * that an unknown number of older ones are gone. */
    enum { N = 3 * GV_CONTEXT_CHAIN_MAX };
    GvException **ex = malloc(N * sizeof *ex);
    assert_non_null(ex);
    GvException *head = hand_chain(ex, N);
    GvException *x = raise_while_handling(head, numbered(-1));
    assert_int_equal(chain_len(x), GV_CONTEXT_CHAIN_MAX - 1);
    assert_ptr_equal(chain_root(x), ex[GV_CONTEXT_CHAIN_MAX - 3]);
    assert_true(ex[GV_CONTEXT_CHAIN_MAX - 3]->context_omitted == GV_CONTEXT_OMITTED_UNKNOWN);
    char *text = print_text(x);
    const char *order[] = {"... (older exceptions in the chain not shown) ...\n", "During handling",
                           "ValueError: 97\n", "ValueError: 0\n", "ValueError: -1\n"};
    assert_in_order(text, order, 5);
    assert_null(strstr(text, "ValueError: 98\n"));
    free(text);
    gv_decref(&x->ob);
    gv_decref(&head->ob);
    free(ex);
}

static void test_print_shows_a_whole_chain_up_to_the_cap(void **state) {
    (void)state;
    enum { N = GV_CONTEXT_CHAIN_MAX };
    GvException *ex[N];
    GvException *head = hand_chain(ex, N);
    char *text = print_text(head);
    assert_null(strstr(text, "not shown"));
    int count = 0;
    for (const char *p = text; (p = strstr(p, "ValueError: ")); p++) count++;
    assert_int_equal(count, N);
    const char *order[] = {"ValueError: 99\n", "ValueError: 98\n", "ValueError: 1\n", "ValueError: 0\n"};
    assert_in_order(text, order, 4);
    free(text);
    gv_decref(&head->ob);
}

static void test_print_of_a_longer_chain_shows_root_and_newest(void **state) {
    (void)state;
    /* Made by hand, not capped: the printer shows the root, says how many it
     * leaves out, and shows the newest (the cap's worth in all). */
    enum { N = 150 };
    GvException *ex[N];
    GvException *head = hand_chain(ex, N);
    char *text = print_text(head);
    const char *order[] = {"ValueError: 149\n", "... (50 more exceptions in the chain not shown) ...\n",
                           "ValueError: 98\n", "ValueError: 0\n"};
    assert_in_order(text, order, 4);
    assert_null(strstr(text, "ValueError: 99\n"));
    free(text);
    gv_decref(&head->ob);
}

int main(int argc, char **argv) {
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
        cmocka_unit_test(test_capped_chain_keeps_the_root),
        cmocka_unit_test(test_chain_cut_counts_what_earlier_cuts_left_out),
        cmocka_unit_test(test_raising_an_exception_from_the_chain_makes_no_cycle),
        cmocka_unit_test(test_chain_too_long_to_walk_loses_its_tail_and_says_so),
        cmocka_unit_test(test_print_shows_a_whole_chain_up_to_the_cap),
        cmocka_unit_test(test_print_of_a_longer_chain_shows_root_and_newest),
    };
    return gvt_run(argc, argv, tests, gvt_setup, gvt_teardown);
}
