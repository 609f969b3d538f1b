/* The malformed-source corpus (tests/malformed/NAME.gva): every file must fail
 * to assemble with exactly the diagnostic its first line announces:
 *     ; error: %FILE%:LINE:COL: error: MESSAGE
 * where %FILE% stands for the path the file is assembled under. */
#include <dirent.h>

#include "../../vm/asm.h"
#include "gvtest.h"

#define CORPUS_DIR "tests/malformed"

/* Every corpus file, without its .gva extension. */
#define CASES(X) \
    X(unknown_mnemonic) \
    X(mixed_case_mnemonic) \
    X(missing_operand) \
    X(missing_operand_at_end_of_line) \
    X(extra_operand) \
    X(operand_on_no_operand_op) \
    X(int_too_large) \
    X(int_too_small) \
    X(hex_too_large) \
    X(bad_hex_digit) \
    X(empty_hex) \
    X(bad_float) \
    X(bad_exponent) \
    X(lone_dot) \
    X(float_out_of_range) \
    X(expected_constant) \
    X(unterminated_string) \
    X(unterminated_string_backslash) \
    X(bad_escape) \
    X(bad_escape_x) \
    X(invalid_utf8) \
    X(overlong_utf8) \
    X(surrogate_utf8) \
    X(string_then_junk) \
    X(undefined_label) \
    X(duplicate_label) \
    X(duplicate_function) \
    X(duplicate_local) \
    X(duplicate_param) \
    X(unknown_local) \
    X(instruction_outside_function) \
    X(func_without_end) \
    X(end_without_func) \
    X(nested_func) \
    X(try_undefined_label) \
    X(try_missing_label) \
    X(try_extra_operand) \
    X(try_outside_function) \
    X(label_not_on_its_own_line) \
    X(label_outside_function) \
    X(bad_label_name) \
    X(bad_function_name) \
    X(bad_parameter_name) \
    X(bad_local_name) \
    X(missing_function_name) \
    X(missing_local_name) \
    X(local_outside_function) \
    X(end_with_operand) \
    X(unknown_directive) \
    X(negative_count) \
    X(count_out_of_range) \
    X(count_not_a_number) \
    X(local_operand_not_a_name) \
    X(global_operand_not_a_name) \
    X(jump_operand_not_a_label) \
    X(nul_byte) \
    X(crlf_line_endings) \
    X(error_after_label_use) \
    X(tab_indent_column)

/* The expected text: the first line after "; error: ", with %FILE% replaced. */
static void expected_text(const char *src, size_t len, const char *file, char *out, size_t cap) {
    static const char tag[] = "; error: ";
    if (len < sizeof tag - 1 || memcmp(src, tag, sizeof tag - 1) != 0)
        fail_msg("%s: the first line must start with '%s'", file, tag);
    const char *p = src + sizeof tag - 1, *end = src + len;
    size_t o = 0;
    while (p < end && *p != '\n' && *p != '\r') {
        if (end - p >= 6 && memcmp(p, "%FILE%", 6) == 0) {
            o += (size_t)snprintf(out + o, cap - o, "%s", file);
            p += 6;
        } else if (o + 1 < cap) {
            out[o++] = *p++;
        } else {
            p++;
        }
        if (o >= cap) o = cap - 1;
    }
    out[o] = '\0';
}

static void check_case(void **state) {
    const char *name = *state;
    char path[4096], file[256], want[1024];
    snprintf(file, sizeof file, CORPUS_DIR "/%s.gva", name);
    snprintf(path, sizeof path, GV_SOURCE_ROOT "/%s", file);
    size_t len = 0;
    char *src = gvt_read_file(path, &len);
    if (!src) fail_msg("cannot read %s", path);
    expected_text(src, len, file, want, sizeof want);

    GvDiag d;
    GvProgram *p = gv_assemble(src, len, file, &d);
    free(src);
    if (p) {
        GvProgram_Free(p);
        fail_msg("%s assembled; expected: %s", file, want);
    }
    assert_string_equal(d.text, want);
}

#define AS_NAME(c) #c,
static const char *const case_names[] = {CASES(AS_NAME)};
#undef AS_NAME

/* A corpus file missing from CASES would never be checked. */
static void corpus_files_are_all_listed(void **state) {
    (void)state;
    DIR *dir = opendir(GV_SOURCE_ROOT "/" CORPUS_DIR);
    assert_non_null(dir);
    size_t seen = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".gva") != 0) continue;
        bool listed = false;
        for (size_t i = 0; i < sizeof case_names / sizeof *case_names; i++)
            if (strlen(case_names[i]) == n - 4 && memcmp(case_names[i], e->d_name, n - 4) == 0)
                listed = true;
        if (!listed) fail_msg("%s/%s is not listed in CASES", CORPUS_DIR, e->d_name);
        seen++;
    }
    closedir(dir);
    assert_int_equal(seen, sizeof case_names / sizeof *case_names);
}

int main(int argc, char **argv) {
#define AS_TEST(c) {.name = #c, .test_func = check_case, .initial_state = (void *)#c},
    const struct CMUnitTest tests[] = {
        CASES(AS_TEST)
        {.name = "corpus_files_are_all_listed", .test_func = corpus_files_are_all_listed},
    };
#undef AS_TEST
    return gvt_run(argc, argv, tests, gvt_setup, gvt_teardown);
}
