/* The eval loop: each opcode, calls and frames, the eval breaker. */
#include "gvtest.h"

static int64_t run_int(const char *src) {
    GvValue r;
    if (gvt_load_call(src, "main", &r) < 0) fail_msg("unexpected %s: %s", gvt_exc_type()->name, gvt_exc_message());
    assert_true(gv_is_int(r));
    return r.as.i;
}

/* Runs src's main, expecting it to raise `type`; returns the message. */
static const char *run_raises(const char *src, GvType *type) {
    GvValue r;
    int rc = gvt_load_call(src, "main", &r);
    if (rc == 0) {
        gv_vdecref(r);
        fail_msg("expected %s, main returned", type->name);
    }
    assert_ptr_equal(gvt_exc_type(), type);
    return gvt_exc_message();
}

static void test_load_const_and_return(void **state) {
    (void)state;
    assert_int_equal(run_int(".func main\n LOAD_CONST 42\n RETURN_VALUE\n.end\n"), 42);
}

static void test_stack_ops_dup_rot(void **state) {
    (void)state;
    /* 1 2 3 ROT_THREE -> 3 1 2; ROT_TWO -> 3 2 1; then 3*100 + 2*10 + 1 */
    const char *src =
        ".func main\n.local a b c\n"
        " LOAD_CONST 1\n LOAD_CONST 2\n LOAD_CONST 3\n"
        " ROT_THREE\n ROT_TWO\n"
        " STORE_FAST c\n STORE_FAST b\n STORE_FAST a\n"
        " LOAD_FAST a\n LOAD_CONST 100\n BINARY_MUL\n"
        " LOAD_FAST b\n LOAD_CONST 10\n BINARY_MUL\n BINARY_ADD\n"
        " LOAD_FAST c\n BINARY_ADD\n"
        " DUP_TOP\n POP_TOP\n NOP\n"
        " RETURN_VALUE\n.end\n";
    assert_int_equal(run_int(src), 321);
}

static void test_int_arithmetic_opcodes(void **state) {
    (void)state;
    assert_int_equal(run_int(".func main\n LOAD_CONST 7\n LOAD_CONST -2\n BINARY_FLOORDIV\n RETURN_VALUE\n.end\n"), -4);
    assert_int_equal(run_int(".func main\n LOAD_CONST 7\n LOAD_CONST -2\n BINARY_MOD\n RETURN_VALUE\n.end\n"), -1);
    assert_int_equal(run_int(".func main\n LOAD_CONST 7\n LOAD_CONST 9\n BINARY_SUB\n UNARY_NEG\n RETURN_VALUE\n.end\n"), 2);
}

static void test_add_overflow_raises_overflow_error(void **state) {
    (void)state;
    run_raises(".func main\n LOAD_CONST 9223372036854775807\n LOAD_CONST 1\n BINARY_ADD\n RETURN_VALUE\n.end\n",
               &gv_type_OverflowError);
    gv_err_clear(GvThreadState_Get());
    run_raises(".func main\n LOAD_CONST -9223372036854775808\n LOAD_CONST -1\n BINARY_MUL\n RETURN_VALUE\n.end\n",
               &gv_type_OverflowError);
    gv_err_clear(GvThreadState_Get());
}

static void test_compare_and_conditional_jumps(void **state) {
    (void)state;
    /* counts how many of 6 comparisons of 2 vs 3 hold: LT LE NE = 3 */
    const char *src =
        ".func main\n.local n\n"
        " LOAD_CONST 0\n STORE_FAST n\n"
        " LOAD_CONST 2\n LOAD_CONST 3\n COMPARE_LT\n POP_JUMP_IF_FALSE a\n LOAD_FAST n\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST n\n"
        "a:\n LOAD_CONST 2\n LOAD_CONST 3\n COMPARE_LE\n POP_JUMP_IF_FALSE b\n LOAD_FAST n\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST n\n"
        "b:\n LOAD_CONST 2\n LOAD_CONST 3\n COMPARE_GT\n POP_JUMP_IF_TRUE bad\n"
        " LOAD_CONST 2\n LOAD_CONST 3\n COMPARE_GE\n POP_JUMP_IF_TRUE bad\n"
        " LOAD_CONST 2\n LOAD_CONST 3\n COMPARE_EQ\n POP_JUMP_IF_TRUE bad\n"
        " LOAD_CONST 2\n LOAD_CONST 3\n COMPARE_NE\n UNARY_NOT\n POP_JUMP_IF_TRUE bad\n"
        " LOAD_FAST n\n LOAD_CONST 1\n BINARY_ADD\n RETURN_VALUE\n"
        "bad:\n LOAD_CONST -1\n RETURN_VALUE\n.end\n";
    assert_int_equal(run_int(src), 3);
}

static void test_loop_with_backward_jump(void **state) {
    (void)state;
    const char *src =
        ".func main\n.local i s\n"
        " LOAD_CONST 0\n STORE_FAST i\n LOAD_CONST 0\n STORE_FAST s\n"
        "top:\n LOAD_FAST i\n LOAD_CONST 1000\n COMPARE_LT\n POP_JUMP_IF_FALSE done\n"
        " LOAD_FAST s\n LOAD_FAST i\n BINARY_ADD\n STORE_FAST s\n"
        " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
        "done:\n LOAD_FAST s\n RETURN_VALUE\n.end\n";
    assert_int_equal(run_int(src), 499500);
}

static void test_globals_store_and_load(void **state) {
    (void)state;
    const char *src =
        ".func main\n LOAD_CONST 5\n STORE_GLOBAL g\n LOAD_GLOBAL g\n LOAD_GLOBAL g\n BINARY_MUL\n RETURN_VALUE\n.end\n";
    assert_int_equal(run_int(src), 25);
}

static void test_unknown_global_raises_name_error(void **state) {
    (void)state;
    const char *msg = run_raises(".func main\n LOAD_GLOBAL nope\n RETURN_VALUE\n.end\n", &gv_type_NameError);
    assert_string_equal(msg, "name 'nope' is not defined");
    gv_err_clear(GvThreadState_Get());
}

static void test_call_pushes_frames_without_c_recursion(void **state) {
    (void)state;
    const char *src =
        ".func fib n\n"
        " LOAD_FAST n\n LOAD_CONST 2\n COMPARE_LT\n POP_JUMP_IF_FALSE rec\n LOAD_FAST n\n RETURN_VALUE\n"
        "rec:\n LOAD_GLOBAL fib\n LOAD_FAST n\n LOAD_CONST 1\n BINARY_SUB\n CALL 1\n"
        " LOAD_GLOBAL fib\n LOAD_FAST n\n LOAD_CONST 2\n BINARY_SUB\n CALL 1\n BINARY_ADD\n RETURN_VALUE\n.end\n"
        ".func main\n LOAD_GLOBAL fib\n LOAD_CONST 20\n CALL 1\n RETURN_VALUE\n.end\n";
    GvThreadState *ts = GvThreadState_Get();
    assert_int_equal(run_int(src), 6765);
    /* Every frame was popped, and the C side never nested. */
    assert_null(ts->current_frame);
    assert_int_equal(ts->recursion_depth, 0);
    assert_int_equal(ts->c_recursion_depth, 0);
}

static void test_deep_recursion_spans_stack_chunks(void **state) {
    (void)state;
    /* 50,000 frames need several data-stack chunks; all come back. */
    GvThreadState *ts = GvThreadState_Get();
    int old = ts->recursion_limit;
    ts->recursion_limit = 100000;
    const char *src =
        ".func down n\n LOAD_FAST n\n POP_JUMP_IF_FALSE z\n"
        " LOAD_GLOBAL down\n LOAD_FAST n\n LOAD_CONST 1\n BINARY_SUB\n CALL 1\n LOAD_CONST 1\n BINARY_ADD\n RETURN_VALUE\n"
        "z:\n LOAD_CONST 0\n RETURN_VALUE\n.end\n"
        ".func main\n LOAD_GLOBAL down\n LOAD_CONST 50000\n CALL 1\n RETURN_VALUE\n.end\n";
    GvStackChunk *first = ts->chunk;
    assert_int_equal(run_int(src), 50000);
    assert_ptr_equal(ts->chunk, first);
    assert_null(ts->current_frame);
    ts->recursion_limit = old;
}

static void test_recursion_limit_raises_recursion_error(void **state) {
    (void)state;
    const char *src =
        ".func forever\n LOAD_GLOBAL forever\n CALL 0\n RETURN_VALUE\n.end\n"
        ".func main\n LOAD_GLOBAL forever\n CALL 0\n RETURN_VALUE\n.end\n";
    const char *msg = run_raises(src, &gv_type_RecursionError);
    assert_string_equal(msg, "maximum recursion depth exceeded");
    GvThreadState *ts = GvThreadState_Get();
    assert_int_equal(ts->recursion_depth, 0);
    assert_null(ts->current_frame);
    gv_err_clear(ts);
}

static void test_wrong_argument_count_raises_type_error(void **state) {
    (void)state;
    const char *src =
        ".func f a b\n LOAD_FAST a\n RETURN_VALUE\n.end\n"
        ".func main\n LOAD_GLOBAL f\n LOAD_CONST 1\n CALL 1\n RETURN_VALUE\n.end\n";
    assert_string_equal(run_raises(src, &gv_type_TypeError), "f() takes 2 arguments (1 given)");
    gv_err_clear(GvThreadState_Get());
}

static void test_calling_an_int_raises_type_error(void **state) {
    (void)state;
    const char *src = ".func main\n LOAD_CONST 3\n CALL 0\n RETURN_VALUE\n.end\n";
    assert_string_equal(run_raises(src, &gv_type_TypeError), "'int' object is not callable");
    gv_err_clear(GvThreadState_Get());
}

static void test_build_list_and_index(void **state) {
    (void)state;
    const char *src =
        ".func main\n.local l\n"
        " LOAD_CONST 10\n LOAD_CONST 20\n LOAD_CONST 30\n BUILD_LIST 3\n STORE_FAST l\n"
        " LOAD_CONST 99\n LOAD_FAST l\n LOAD_CONST -1\n STORE_INDEX\n"
        " LOAD_FAST l\n LOAD_CONST 2\n LOAD_INDEX\n LOAD_FAST l\n LOAD_CONST 0\n LOAD_INDEX\n BINARY_ADD\n RETURN_VALUE\n.end\n";
    assert_int_equal(run_int(src), 109);
}

static void test_build_dict_and_index(void **state) {
    (void)state;
    const char *src =
        ".func main\n.local d\n"
        " LOAD_CONST \"a\"\n LOAD_CONST 1\n LOAD_CONST 2\n LOAD_CONST 20\n BUILD_DICT 2\n STORE_FAST d\n"
        " LOAD_FAST d\n LOAD_CONST 2.0\n LOAD_INDEX\n LOAD_FAST d\n LOAD_CONST \"a\"\n LOAD_INDEX\n BINARY_ADD\n RETURN_VALUE\n.end\n";
    assert_int_equal(run_int(src), 21);
}

static void test_missing_dict_key_raises_key_error_with_repr(void **state) {
    (void)state;
    const char *src = ".func main\n BUILD_DICT 0\n LOAD_CONST \"k\"\n LOAD_INDEX\n RETURN_VALUE\n.end\n";
    assert_string_equal(run_raises(src, &gv_type_KeyError), "'k'");
    gv_err_clear(GvThreadState_Get());
}

static void test_builtin_call_returns_value(void **state) {
    (void)state;
    assert_int_equal(run_int(".func main\n LOAD_GLOBAL len\n LOAD_CONST \"hello\"\n CALL 1\n RETURN_VALUE\n.end\n"), 5);
}

static void test_eval_breaker_bit_takes_slow_path_at_backward_jump(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    const char *src =
        ".func main\n.local i\n LOAD_CONST 0\n STORE_FAST i\n"
        "top:\n LOAD_FAST i\n LOAD_CONST 3\n COMPARE_LT\n POP_JUMP_IF_FALSE done\n"
        " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n JUMP top\n"
        "done:\n LOAD_FAST i\n RETURN_VALUE\n.end\n";
    uint64_t before = ts->eval_breaker_hits;
    assert_int_equal(run_int(src), 3);
    assert_int_equal(ts->eval_breaker_hits, before); /* no bit: fast path only */

    atomic_fetch_or(&ts->eval_breaker, GV_EB_TEST);
    assert_int_equal(run_int(src), 3);
    /* Taken once (at function entry), then the bit was cleared. */
    assert_int_equal(ts->eval_breaker_hits, before + 1);
    assert_int_equal(atomic_load(&ts->eval_breaker) & GV_EB_TEST, 0);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_const_and_return),
        cmocka_unit_test(test_stack_ops_dup_rot),
        cmocka_unit_test(test_int_arithmetic_opcodes),
        cmocka_unit_test(test_add_overflow_raises_overflow_error),
        cmocka_unit_test(test_compare_and_conditional_jumps),
        cmocka_unit_test(test_loop_with_backward_jump),
        cmocka_unit_test(test_globals_store_and_load),
        cmocka_unit_test(test_unknown_global_raises_name_error),
        cmocka_unit_test(test_call_pushes_frames_without_c_recursion),
        cmocka_unit_test(test_deep_recursion_spans_stack_chunks),
        cmocka_unit_test(test_recursion_limit_raises_recursion_error),
        cmocka_unit_test(test_wrong_argument_count_raises_type_error),
        cmocka_unit_test(test_calling_an_int_raises_type_error),
        cmocka_unit_test(test_build_list_and_index),
        cmocka_unit_test(test_build_dict_and_index),
        cmocka_unit_test(test_missing_dict_key_raises_key_error_with_repr),
        cmocka_unit_test(test_builtin_call_returns_value),
        cmocka_unit_test(test_eval_breaker_bit_takes_slow_path_at_backward_jump),
    };
    return gvt_run(argc, argv, tests, gvt_setup, gvt_teardown);
}
