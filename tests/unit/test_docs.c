/* docs/BYTECODE.md is generated from the opcode table; this test fails when
 * the file in the tree and the table have drifted apart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../../vm/dis.h"
#include "../../vm/opcodes.h"

#define DOC_PATH GV_SOURCE_ROOT "/docs/BYTECODE.md"

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 4096;
            char *nb = realloc(buf, cap);
            assert_non_null(nb);
            buf = nb;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        if (n == 0) break;
        *len += n;
    }
    fclose(f);
    return buf;
}

/* 1-based number of the first line where a and b differ. */
static unsigned first_diff_line(const char *a, size_t alen, const char *b, size_t blen) {
    unsigned line = 1;
    for (size_t i = 0; i < alen && i < blen && a[i] == b[i]; i++)
        if (a[i] == '\n') line++;
    return line;
}

static void test_bytecode_md_matches_opcode_table(void **state) {
    (void)state;
    char *want = NULL;
    size_t wantlen = 0;
    FILE *m = open_memstream(&want, &wantlen);
    assert_non_null(m);
    gv_dis_opcode_doc(m);
    fclose(m);

    size_t havelen = 0;
    char *have = read_all(DOC_PATH, &havelen);
    if (!have) {
        free(want);
        fail_msg("cannot read %s; generate it with: ./build/gilvm dis --opcodes > docs/BYTECODE.md",
                 DOC_PATH);
    }
    bool same = havelen == wantlen && memcmp(have, want, wantlen) == 0;
    unsigned line = same ? 0 : first_diff_line(have, havelen, want, wantlen);
    free(have);
    free(want);
    if (!same)
        fail_msg("docs/BYTECODE.md differs from the opcode table (first at line %u). It is "
                 "generated, not edited: regenerate it with "
                 "`./build/gilvm dis --opcodes > docs/BYTECODE.md` and commit it.",
                 line);
}

static void test_opcode_doc_lists_every_opcode(void **state) {
    (void)state;
    char *doc = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&doc, &len);
    assert_non_null(m);
    gv_dis_opcode_doc(m);
    fclose(m);
    assert_non_null(strstr(doc, "gilvm dis --opcodes"));
    assert_non_null(strstr(doc, "Do not edit by hand"));
    for (int op = 0; op < GV_NUM_OPCODES; op++) {
        char row[64];
        snprintf(row, sizeof row, "| %d | `%s` |", op, gv_opinfo[op].name);
        if (!strstr(doc, row)) {
            free(doc);
            fail_msg("no row for opcode %d (%s)", op, gv_opinfo[op].name);
        }
    }
    /* The stack effect shows the operand without the macro's parentheses. */
    assert_non_null(strstr(doc, "| `CALL` | count | n + 1 → 1 | raises |"));
    free(doc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytecode_md_matches_opcode_table),
        cmocka_unit_test(test_opcode_doc_lists_every_opcode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
