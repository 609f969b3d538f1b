#include "gvtest.h"

/* Set once gvt_run starts cmocka: gvt_fail then fails the running case. */
static bool under_cmocka;

void gvt_fail(const char *fmt, ...) {
    char msg[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (under_cmocka) {
        print_error("ERROR: %s\n", msg);
        _fail(__FILE__, __LINE__); /* returns only outside a case */
    }
    fflush(stdout);
    fprintf(stderr, "FAIL: %s\n", msg);
    fflush(stderr);
    exit(1);
}

int gvt_setup(void **state) {
    (void)state;
    return Gv_Initialize() ? 0 : -1;
}

int gvt_teardown(void **state) {
    (void)state;
    gvt_watchdog_reset(); /* a failed case may have left one armed */
    GvErr_Clear();
    Gv_Finalize();
    return 0;
}

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

int gvt_run_group(int argc, char **argv, const char *group, const struct CMUnitTest *tests, size_t n,
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
    under_cmocka = true;
    return _cmocka_run_group_tests(group, tests, n, setup, teardown);
}
