/* The shared test main: every unit executable ends its main() with
 *     return gv_test_run(argc, argv, tests, setup, teardown);
 * which runs the cases whose names match a pattern (all of them by default):
 *     build/tests/test_gil 'test_gil_*handoff*'
 *     GV_TEST_FILTER=test_gil_two_threads build/tests/test_gil
 *     meson test -C build test_gil --test-args='*handoff*'
 * The pattern is cmocka's: `*` any text, `?` one character, anything else
 * itself; argv[1] wins over GV_TEST_FILTER. A pattern that matches no case is
 * an error, so a typo cannot pass as "0 tests, all passed". */
#ifndef GV_TESTMAIN_H
#define GV_TESTMAIN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

int gv_test_main(int argc, char **argv, const char *group, const struct CMUnitTest *tests, size_t n,
                 CMFixtureFunction setup, CMFixtureFunction teardown);

#define gv_test_run(argc, argv, tests, setup, teardown) \
    gv_test_main(argc, argv, #tests, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)

#endif
