#include "testmain.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* cmocka's glob: `*` any run of characters, `?` one, the rest literally. */
static bool glob_match(const char *pat, const char *s) {
    for (; *pat; pat++, s++) {
        if (*pat == '*') {
            for (;; s++) {
                if (glob_match(pat + 1, s)) return true;
                if (!*s) return false;
            }
        }
        if (!*s || (*pat != '?' && *pat != *s)) return false;
    }
    return !*s;
}

int gv_test_main(int argc, char **argv, const char *group, const struct CMUnitTest *tests, size_t n,
                 CMFixtureFunction setup, CMFixtureFunction teardown) {
    if (argc > 2) {
        fprintf(stderr, "usage: %s [PATTERN]  (or GV_TEST_FILTER=PATTERN): run the cases matching PATTERN\n",
                argv[0]);
        return 2;
    }
    const char *pattern = argc == 2 ? argv[1] : getenv("GV_TEST_FILTER");
    if (pattern && *pattern) {
        size_t matched = 0;
        for (size_t i = 0; i < n; i++) matched += glob_match(pattern, tests[i].name);
        if (matched == 0) {
            fprintf(stderr, "%s: no case matches '%s'; the cases are:\n", argv[0], pattern);
            for (size_t i = 0; i < n; i++) fprintf(stderr, "  %s\n", tests[i].name);
            return 2;
        }
        cmocka_set_test_filter(pattern);
    }
    return _cmocka_run_group_tests(group, tests, n, setup, teardown);
}
