/* What the fuzzers (fuzz/) rely on, and every input they found that broke
 * something, fed again to the entry point it broke.
 *
 * - The instruction budget (Gv_SetInstructionBudget): fuzz_exec runs any
 *   program, so the budget must end every run, whatever handlers it has.
 * - Regressions: each test names the target that found it and the bug. */
#include "gvtest.h"

/* Runs src's main under a budget of n checkpoints; removes the budget after.
 * Returns what gvt_load_call returns (the exception stays set on -1). */
static int run_with_budget(const char *src, long long n, GvValue *out) {
    Gv_SetInstructionBudget(n);
    int rc = gvt_load_call(src, "main", out);
    Gv_SetInstructionBudget(-1);
    return rc;
}

static void expect_budget_exhausted(const char *src, long long n) {
    GvValue r;
    if (run_with_budget(src, n, &r) == 0) {
        gv_vdecref(r);
        fail_msg("main returned under a budget of %lld", n);
    }
    assert_ptr_equal(gvt_exc_type(), &gv_type_RuntimeError);
    assert_string_equal(gvt_exc_message(), "instruction budget exhausted");
    gv_err_clear(GvThreadState_Get());
}

static const char loop_forever[] = ".func main\ntop:\n JUMP top\n.end\n";

static void test_budget_ends_an_endless_loop(void **state) {
    (void)state;
    expect_budget_exhausted(loop_forever, 1000);
    expect_budget_exhausted(loop_forever, 0);
}

/* A handler that catches the RuntimeError and loops again: once spent, no
 * handler catches anything, or the budget would bound nothing. */
static void test_budget_handler_cannot_catch_spent_budget(void **state) {
    (void)state;
    const char *src =
        ".func main\n"
        " .try s e h\n"
        "s:\n"
        " JUMP s\n"
        "e:\n"
        "h:\n"
        " POP_TOP\n"
        " POP_EXCEPT\n"
        " JUMP s\n"
        ".end\n";
    expect_budget_exhausted(src, 50);
}

/* Function entry is a checkpoint: endless recursion whose RecursionError is
 * caught in a loop, and a catch-all at the callee's first instruction. */
static void test_budget_counts_calls_and_entries(void **state) {
    (void)state;
    const char *src =
        ".func f\n"
        " .try s e h\n"
        "s:\n"
        " LOAD_GLOBAL f\n CALL 0\n POP_TOP\n"
        " LOAD_GLOBAL f\n CALL 0\n RETURN_VALUE\n"
        "e:\n"
        "h:\n"
        " POP_TOP\n POP_EXCEPT\n"
        " LOAD_GLOBAL f\n CALL 0\n POP_TOP\n"
        " LOAD_GLOBAL f\n CALL 0\n RETURN_VALUE\n"
        ".end\n"
        ".func main\n"
        " LOAD_GLOBAL f\n CALL 0\n RETURN_VALUE\n"
        ".end\n";
    expect_budget_exhausted(src, 5000);
}

static const char count_to_100[] =
    ".func main\n.local i\n"
    " LOAD_CONST 0\n STORE_FAST i\n"
    "top:\n"
    " LOAD_FAST i\n LOAD_CONST 100\n COMPARE_LT\n POP_JUMP_IF_FALSE done\n"
    " LOAD_FAST i\n LOAD_CONST 1\n BINARY_ADD\n STORE_FAST i\n"
    " JUMP top\n"
    "done:\n"
    " LOAD_FAST i\n RETURN_VALUE\n"
    ".end\n";

/* 100 backward jumps and one entry: 101 checkpoints. */
static void test_budget_large_enough_lets_the_program_finish(void **state) {
    (void)state;
    GvValue r;
    assert_int_equal(run_with_budget(count_to_100, 101, &r), 0);
    assert_true(gv_is_int(r));
    assert_int_equal(r.as.i, 100);
    expect_budget_exhausted(count_to_100, 100);
}

/* Without a budget (the default, or after n < 0) nothing counts. */
static void test_budget_removed_counts_nothing(void **state) {
    (void)state;
    expect_budget_exhausted(count_to_100, 10);
    GvValue r;
    assert_int_equal(gvt_load_call(count_to_100, "main", &r), 0);
    assert_int_equal(r.as.i, 100);
    GvThreadState *ts = GvThreadState_Get();
    assert_false(atomic_load(&ts->eval_breaker) & GV_EB_BUDGET);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_ends_an_endless_loop),
        cmocka_unit_test(test_budget_handler_cannot_catch_spent_budget),
        cmocka_unit_test(test_budget_counts_calls_and_entries),
        cmocka_unit_test(test_budget_large_enough_lets_the_program_finish),
        cmocka_unit_test(test_budget_removed_counts_nothing),
    };
    return gvt_run(argc, argv, tests, gvt_setup, gvt_teardown);
}
