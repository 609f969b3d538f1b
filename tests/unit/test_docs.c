/* The docs are kept in step with the VM: docs/BYTECODE.md and the instruction
 * tables of docs/LANGUAGE.md are generated from the opcode table, and
 * LANGUAGE.md documents every builtin function and exception type the VM
 * registers (with its argument count or base type), lists none that it does
 * not, and calls "not yet implemented" nothing that exists. These tests fail
 * when the files in the tree and the VM have drifted apart. */
#include <dirent.h>

#include "gvtest.h"
#include "../../vm/dis.h"
#include "../../vm/opcodes.h"

#define DOC_PATH GV_SOURCE_ROOT "/docs/BYTECODE.md"
#define LANG_PATH GV_SOURCE_ROOT "/docs/LANGUAGE.md"
#define README_PATH GV_SOURCE_ROOT "/README.md"
#define MAP_PATH GV_SOURCE_ROOT "/docs/MAP.md"
#define TOUR_DIR GV_SOURCE_ROOT "/docs/tour"

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
    char *have = gvt_read_file(DOC_PATH, &havelen);
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

/* ---- docs/LANGUAGE.md ---- */

/* The file as a NUL-terminated string (freed by the caller). */
static char *read_text(const char *path) {
    char *text = gvt_read_file(path, NULL);
    if (!text) fail_msg("cannot read %s", path);
    return text;
}

/* The text of the section that starts with the line "## TITLE", up to the
 * next "## " line (a new string). */
static char *section(const char *doc, const char *title) {
    char head[128];
    snprintf(head, sizeof head, "\n## %s\n", title);
    const char *start = strstr(doc, head);
    if (!start) fail_msg("docs/LANGUAGE.md has no section \"## %s\"", title);
    start++;
    const char *end = strstr(start + 1, "\n## ");
    size_t n = end ? (size_t)(end - start) + 1 : strlen(start);
    char *s = strndup(start, n);
    assert_non_null(s);
    return s;
}

static void test_language_md_tables_match_opcode_table(void **state) {
    (void)state;
    char *want = NULL;
    size_t wantlen = 0;
    FILE *m = open_memstream(&want, &wantlen);
    assert_non_null(m);
    gv_dis_language_tables(m);
    fclose(m);

    char *doc = read_text(LANG_PATH);
    static const char begin[] = "<!-- BEGIN GENERATED", end[] = "<!-- END GENERATED -->\n";
    const char *from = strstr(doc, begin);
    const char *to = from ? strstr(from, end) : NULL;
    if (!from || !to || (from != doc && from[-1] != '\n'))
        fail_msg("docs/LANGUAGE.md has no generated instruction tables (a line \"%s ...\" and, "
                 "later, a line \"%.22s\"): put them back, then run docs/generate.sh", begin, end);
    size_t havelen = (size_t)(to + strlen(end) - from);
    bool same = havelen == wantlen && memcmp(from, want, wantlen) == 0;
    unsigned line = 0;
    if (!same) {
        line = first_diff_line(from, havelen, want, wantlen);
        for (const char *p = doc; p < from; p++) line += *p == '\n';
    }
    free(doc);
    free(want);
    if (!same)
        fail_msg("docs/LANGUAGE.md's instruction tables differ from the opcode table (first at "
                 "line %u). They are generated, not edited: run docs/generate.sh and commit it.",
                 line);
}

static void test_language_md_gives_every_opcode_with_operand_and_stack(void **state) {
    (void)state;
    char *doc = read_text(LANG_PATH);
    const char *internal = strstr(doc, "\nInternal instructions.");
    if (!internal) fail_msg("docs/LANGUAGE.md has no \"Internal instructions.\" paragraph");
    for (int op = 0; op < GV_NUM_OPCODES; op++) {
        const GvOpInfo *info = &gv_opinfo[op];
        /* As the tables write it: the stack effect without the macro's "(n)" parentheses. */
        char row[256], pops[64], pushes[64];
        char *outs[2] = {pops, pushes};
        const char *ins[2] = {info->pops_text, info->pushes_text};
        for (int k = 0; k < 2; k++) {
            size_t j = 0;
            for (const char *c = ins[k]; *c && j + 1 < sizeof pops; c++)
                if (!(c[0] == '(' && c[1] == 'n' && c[2] == ')') && !(c[0] == ')' && c > ins[k] && c[-1] == 'n'))
                    outs[k][j++] = *c;
            outs[k][j] = '\0';
        }
        snprintf(row, sizeof row, "\n| `%s` | %s | %s → %s |", info->name,
                 info->kind == GV_OPK_NONE ? "" : gv_operand_kind_name(info->kind), pops, pushes);
        const char *at = strstr(doc, row);
        if (!at) {
            free(doc);
            fail_msg("docs/LANGUAGE.md has no row for %s with its operand and stack effect (%s)",
                     info->name, row + 1);
        }
        /* Instructions programs use come before the internal ones. */
        bool is_internal = (info->flags & GV_OPF_INTERNAL) != 0;
        if ((at > internal) != is_internal) {
            free(doc);
            fail_msg("docs/LANGUAGE.md lists %s among the %s instructions", info->name,
                     is_internal ? "program" : "internal");
        }
    }
    free(doc);
}

/* How the Builtins table writes an argument count. */
static void arity_text(const GvBuiltin *b, char *out, size_t n) {
    if (b->max_args < 0) {
        if (b->min_args == 0) snprintf(out, n, "any number");
        else snprintf(out, n, "%d or more", b->min_args);
    } else if (b->min_args == b->max_args) {
        snprintf(out, n, "%d", b->min_args);
    } else if (b->max_args == b->min_args + 1) {
        snprintf(out, n, "%d or %d", b->min_args, b->max_args);
    } else {
        snprintf(out, n, "%d to %d", b->min_args, b->max_args);
    }
}

static void test_language_md_documents_every_builtin(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    char *doc = read_text(LANG_PATH);
    char *sec = section(doc, "Builtins");
    GvDict *builtins = (GvDict *)ts->interp->builtins;
    size_t it = 0, nfuncs = 0, ntypes = 0;
    GvValue k, v;
    while (gv_dict_next(builtins, &it, &k, &v)) {
        const char *name = gv_str_cstr(k.as.o);
        char row[256];
        if (gv_is_kind(v, GV_KBUILTIN)) {
            char arity[32];
            arity_text((GvBuiltin *)v.as.o, arity, sizeof arity);
            snprintf(row, sizeof row, "\n| `%s` | %s |", name, arity);
            nfuncs++;
        } else if (gv_is_kind(v, GV_KTYPE)) {
            const GvType *base = ((GvType *)v.as.o)->base;
            if (base) snprintf(row, sizeof row, "\n| `%s` | `%s`", name, base->name);
            else snprintf(row, sizeof row, "\n| `%s` | (none) |", name);
            ntypes++;
        } else {
            fail_msg("builtin %s is neither a function nor a type: document what it is", name);
        }
        if (!strstr(sec, row))
            fail_msg("docs/LANGUAGE.md (## Builtins) has no row \"%s\": builtin %s is not documented, "
                     "or with the wrong %s", row + 1, name,
                     gv_is_kind(v, GV_KBUILTIN) ? "argument count" : "base type");
    }
    assert_true(nfuncs >= 30);
    assert_true(ntypes >= 14);
    /* And the other way: every row names something the VM has. */
    size_t rows = 0;
    for (const char *p = strstr(sec, "\n| `"); p; p = strstr(p + 1, "\n| `")) {
        const char *name = p + 4, *end = strchr(name, '`');
        assert_non_null(end);
        GvObject *key = gv_str_new(name, (size_t)(end - name));
        assert_non_null(key);
        GvValue found;
        int rc = gv_dict_get(builtins, gv_obj(key), &found);
        gv_decref(key);
        if (rc != 1) fail_msg("docs/LANGUAGE.md (## Builtins) documents %.*s, which is not a builtin",
                              (int)(end - name), name);
        gv_vdecref(found);
        rows++;
    }
    assert_int_equal(rows, nfuncs + ntypes);
    free(sec);
    free(doc);
}

/* A directive the assembler does not know is a load error. */
static bool directive_known(const char *directive) {
    char src[256];
    snprintf(src, sizeof src, ".func main\n%s\n LOAD_CONST 0\n RETURN_VALUE\n.end\n", directive);
    GvDiag d;
    GvProgram *p = GvProgram_Assemble(src, strlen(src), "directive.gva", &d);
    if (!p) return strstr(d.text, "unknown directive") == NULL;
    GvProgram_Free(p);
    return true;
}

static void test_not_yet_implemented_is_not_implemented(void **state) {
    (void)state;
    GvThreadState *ts = GvThreadState_Get();
    char *doc = read_text(LANG_PATH);
    static const char banner[] = "\n> **Not yet implemented**";
    GvDict *builtins = (GvDict *)ts->interp->builtins;
    int nbanners = 0, nnames = 0;
    for (const char *b = strstr(doc, banner); b; b = strstr(b + 1, banner)) {
        nbanners++;
        /* The names in backquotes, up to "What follows". */
        const char *end = strstr(b, "What follows");
        assert_non_null(end);
        for (const char *q = strchr(b, '`'); q && q < end; q = strchr(q + 1, '`')) {
            const char *close = strchr(q + 1, '`');
            assert_non_null(close);
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(close - q - 1), q + 1);
            q = close;
            nnames++;
            if (name[0] == '.') {
                if (directive_known(name))
                    fail_msg("docs/LANGUAGE.md says %s is not yet implemented, but the assembler "
                             "knows it: update its section", name);
                continue;
            }
            if (gv_op_lookup(name, strlen(name)) >= 0)
                fail_msg("docs/LANGUAGE.md says %s is not yet implemented, but it is an "
                         "instruction now: update its section", name);
            GvObject *key = gv_str_from_cstr(name);
            assert_non_null(key);
            GvValue found;
            int rc = gv_dict_get(builtins, gv_obj(key), &found);
            gv_decref(key);
            if (rc == 1) {
                gv_vdecref(found);
                fail_msg("docs/LANGUAGE.md says %s is not yet implemented, but it is a builtin "
                         "now: update its section and the Builtins tables", name);
            }
        }
    }
    /* Every banner names what it is about. */
    assert_true(nnames >= nbanners);
    free(doc);
}

static void test_readme_points_to_the_docs(void **state) {
    (void)state;
    char *readme = read_text(README_PATH);
    /* The reference people read is in the repository. */
    assert_non_null(strstr(readme, "(docs/LANGUAGE.md)"));
    assert_non_null(strstr(readme, "(docs/MAP.md)"));
    if (strstr(readme, "../shared/")) fail_msg("README.md points outside the repository (../shared/)");
    free(readme);
}

/* ---- docs/MAP.md: every `file:function` it cites exists there ---- */

static bool is_ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* True if `src` defines the function `name`: a line starting at column 0
 * with `name(` on it that is not a prototype (ends in `;`). */
static bool defines_function(const char *src, const char *name) {
    size_t n = strlen(name);
    for (const char *line = src, *end; *line; line = *end ? end + 1 : end) {
        end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        if (*line == ' ' || *line == '\t' || *line == '\n' || *line == '#' || *line == '/' || *line == '*')
            continue;
        for (const char *p = line; p + n < end; p++) {
            if (memcmp(p, name, n) != 0 || p[n] != '(' || (p > line && is_ident_char(p[-1]))) continue;
            const char *last = end;
            while (last > line && (last[-1] == ' ' || last[-1] == '\r')) last--;
            if (last > line && last[-1] != ';') return true;
        }
    }
    return false;
}

/* Checks one `PATH:WHAT` citation of the page `doc` (WHAT a function, or
 * CASE(OP) of the eval loop); returns false (with a message printed) if it
 * is stale. */
static bool citation_holds(const char *doc, const char *path, const char *what) {
    char full[512];
    snprintf(full, sizeof full, "%s/%s", GV_SOURCE_ROOT, path);
    char *text = gvt_read_file(full, NULL);
    if (!text) {
        print_error("%s cites %s:%s, but there is no file %s\n", doc, path, what, path);
        return false;
    }
    bool ok = strncmp(what, "CASE(", 5) == 0 ? strstr(text, what) != NULL : defines_function(text, what);
    if (!ok) print_error("%s cites %s:%s, but %s does not define it (renamed or moved?)\n", doc, path, what, path);
    free(text);
    return ok;
}

/* Checks every `file:function` citation of the page at `path` (shown as
 * `doc`); returns how many are stale, and in *cited how many there are. */
static int check_citations(const char *path, const char *doc, int *cited) {
    char *page = read_text(path);
    int stale = 0;
    *cited = 0;
    for (char *p = strchr(page, '`'); p; p = strchr(p, '`')) {
        char *close = strchr(p + 1, '`');
        if (!close) break;
        *close = '\0';
        char *span = p + 1;
        char *colon = strchr(span, ':');
        /* A citation: a source path (with a '/', ending in .c or .h), ':', a name. */
        if (colon && colon - span > 2 && memchr(span, '/', (size_t)(colon - span)) && colon[-2] == '.' &&
            (colon[-1] == 'c' || colon[-1] == 'h') && !strchr(span, ' ')) {
            *colon = '\0';
            (*cited)++;
            if (!citation_holds(doc, span, colon + 1)) stale++;
            *colon = ':';
        }
        *close = '`';
        p = close + 1;
    }
    free(page);
    return stale;
}

static void test_map_md_cites_only_what_exists(void **state) {
    (void)state;
    int cited = 0;
    int stale = check_citations(MAP_PATH, "docs/MAP.md", &cited);
    if (stale) fail_msg("%d of the %d places docs/MAP.md cites do not exist: update docs/MAP.md", stale, cited);
    /* The map is made of citations: finding few means the parsing broke. */
    if (cited < 40) fail_msg("docs/MAP.md: found only %d `file:function` citations", cited);
}

/* The guided tours' pages (the .md files of docs/tour/) cite places in their prose too;
 * their gdb files are checked by the tour suite, in the stepping build
 * only, so the prose is checked here, in every build. */
static void test_tour_pages_cite_only_what_exists(void **state) {
    (void)state;
    DIR *dir = opendir(TOUR_DIR);
    assert_non_null(dir);
    int pages = 0, cited_all = 0, stale_all = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".md") != 0 || strcmp(e->d_name, "README.md") == 0) continue;
        char path[512], doc[300];
        snprintf(path, sizeof path, "%s/%s", TOUR_DIR, e->d_name);
        snprintf(doc, sizeof doc, "docs/tour/%s", e->d_name);
        int cited = 0;
        stale_all += check_citations(path, doc, &cited);
        if (cited < 3) fail_msg("%s: found only %d `file:function` citations", doc, cited);
        cited_all += cited;
        pages++;
    }
    closedir(dir);
    if (stale_all) fail_msg("%d of the %d places the tours cite do not exist: update docs/tour/", stale_all, cited_all);
    if (pages < 8) fail_msg("docs/tour/: found only %d tour pages", pages);
}

static void test_defines_function_tells_definitions_from_calls(void **state) {
    (void)state;
    const char *src = "int gv_a(void);\nstatic int gv_a(void) {\n    gv_b(1);\n}\nvoid xgv_c(void) {\n";
    assert_true(defines_function(src, "gv_a"));
    assert_false(defines_function(src, "gv_b"));   /* only called, indented */
    assert_false(defines_function(src, "gv_c"));   /* only a longer name */
    assert_false(defines_function("int gv_d(void);\n", "gv_d")); /* a prototype */
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytecode_md_matches_opcode_table),
        cmocka_unit_test(test_opcode_doc_lists_every_opcode),
        cmocka_unit_test(test_language_md_tables_match_opcode_table),
        cmocka_unit_test(test_language_md_gives_every_opcode_with_operand_and_stack),
        cmocka_unit_test_setup_teardown(test_language_md_documents_every_builtin, gvt_setup, gvt_teardown),
        cmocka_unit_test_setup_teardown(test_not_yet_implemented_is_not_implemented, gvt_setup,
                                        gvt_teardown),
        cmocka_unit_test(test_readme_points_to_the_docs),
        cmocka_unit_test(test_map_md_cites_only_what_exists),
        cmocka_unit_test(test_tour_pages_cite_only_what_exists),
        cmocka_unit_test(test_defines_function_tells_definitions_from_calls),
    };
    return gvt_run(argc, argv, tests, NULL, NULL);
}
