/* The assembler: .gva text to code objects (vm/asm.c). */

/* A second copy of the assembler with tiny table limits, so the "too many"
 * errors can be reached without assembling gigabytes. It is included first so
 * that asm.h declares the renamed function. */
#include <stdbool.h>
#include <stdlib.h>

/* The copy also allocates through these, so a test can make the k-th
 * allocation fail. */
static long alloc_budget = -1; /* allocations that may still succeed; -1: any number */
static bool alloc_ok(void) {
    if (alloc_budget == 0) return false;
    if (alloc_budget > 0) alloc_budget--;
    return true;
}
static void *small_malloc(size_t n) { return alloc_ok() ? malloc(n) : NULL; }
static void *small_calloc(size_t n, size_t size) { return alloc_ok() ? calloc(n, size) : NULL; }
static void *small_realloc(void *p, size_t n) { return alloc_ok() ? realloc(p, n) : NULL; }

#define GV_ASM_MAX_ENTRIES 4u
#define GV_ASM_MAX_INSTRS 6u
#define gv_assemble gv_assemble_small
#define malloc small_malloc
#define calloc small_calloc
#define realloc small_realloc
#include "../../vm/asm.c"
#undef malloc
#undef calloc
#undef realloc
#undef gv_assemble
#undef err
#undef GV_ASM_MAX_ENTRIES
#undef GV_ASM_MAX_INSTRS
/* asm.h was read under the new name; the real assembler's prototype: */
GvProgram *gv_assemble(const char *src, size_t len, const char *filename, GvDiag *diag);

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/code.h"
#include "../../runtime/str.h"
#include "../../vm/diag.h"
#include "../../vm/opcodes.h"
#include "gvtest.h"

/* ---- helpers ---- */

static GvProgram *assemble_n(const char *src, size_t n, GvDiag *d) {
    return gv_assemble(src, n, "t.gva", d);
}

/* Assembles src, which must succeed. */
static GvProgram *ok(const char *src) {
    GvDiag d;
    GvProgram *p = assemble_n(src, strlen(src), &d);
    if (!p) fail_msg("unexpected error: %s", d.text);
    assert_string_equal(d.text, "");
    return p;
}

/* Assembles src, which must fail with exactly this diagnostic. */
static void fails_n(const char *src, size_t n, const char *text) {
    GvDiag d;
    GvProgram *p = assemble_n(src, n, &d);
    if (p) {
        GvProgram_Free(p);
        fail_msg("assembled, expected: %s", text);
    }
    assert_string_equal(d.text, text);
}

static void fails(const char *src, const char *text) { fails_n(src, strlen(src), text); }

static GvCode *fn(GvProgram *p, const char *name) {
    int i = gv_program_find(p, name);
    if (i < 0) fail_msg("no function %s", name);
    return p->code[i];
}

static void assert_instr(const GvCode *c, uint32_t pc, int op, uint32_t arg) {
    assert_true(pc < c->ninstrs);
    assert_string_equal(gv_opinfo[GV_OP(c->instrs[pc])].name, gv_opinfo[op].name);
    assert_int_equal(GV_ARG(c->instrs[pc]), arg);
}

static const char *str_of(GvObject *o) { return gv_str_cstr(o); }

/* ---- programs and functions ---- */

static void test_empty_source_is_an_empty_program(void **state) {
    (void)state;
    GvProgram *p = ok("");
    assert_int_equal(p->ncode, 0);
    assert_string_equal(str_of(p->filename), "t.gva");
    GvProgram_Free(p);
    p = ok("; only a comment\n\n   \t\n");
    assert_int_equal(p->ncode, 0);
    GvProgram_Free(p);
}

static void test_null_source_with_zero_length_is_an_empty_program(void **state) {
    (void)state;
    GvDiag d;
    GvProgram *p = gv_assemble(NULL, 0, "t.gva", &d);
    assert_non_null(p);
    assert_int_equal(p->ncode, 0);
    GvProgram_Free(p);
}

static void test_function_gets_name_filename_firstline_and_instructions(void **state) {
    (void)state;
    GvProgram *p = ok("; header\n"
                      "\n"
                      ".func main\n"
                      "    LOAD_CONST 7\n"
                      "    RETURN_VALUE\n"
                      ".end\n");
    assert_int_equal(p->ncode, 1);
    GvCode *c = p->code[0];
    assert_string_equal(str_of(c->name), "main");
    assert_string_equal(str_of(c->filename), "t.gva");
    assert_int_equal(c->firstline, 3);
    assert_int_equal(c->ninstrs, 2);
    assert_instr(c, 0, GV_OP_LOAD_CONST, 0);
    assert_instr(c, 1, GV_OP_RETURN_VALUE, 0);
    assert_int_equal(c->nconsts, 1);
    assert_true(gv_is_int(c->consts[0]));
    assert_int_equal(c->consts[0].as.i, 7);
    assert_int_equal(c->nparams, 0);
    assert_int_equal(c->nlocals, 0);
    assert_int_equal(c->nnames, 0);
    assert_int_equal(c->nexc, 0);
    assert_false(c->verified);
    GvProgram_Free(p);
}

static void test_functions_kept_in_definition_order(void **state) {
    (void)state;
    GvProgram *p = ok(".func b\nNOP\n.end\n.func a\nNOP\n.end\n.func main\nNOP\n.end\n");
    assert_int_equal(p->ncode, 3);
    assert_string_equal(str_of(p->code[0]->name), "b");
    assert_string_equal(str_of(p->code[1]->name), "a");
    assert_string_equal(str_of(p->code[2]->name), "main");
    assert_int_equal(gv_program_find(p, "main"), 2);
    GvProgram_Free(p);
}

static void test_program_without_main_assembles(void **state) {
    (void)state;
    GvProgram *p = ok(".func helper\nLOAD_CONST none\nRETURN_VALUE\n.end\n");
    assert_int_equal(gv_program_find(p, "main"), -1);
    GvProgram_Free(p);
}

static void test_empty_function_has_no_instructions(void **state) {
    (void)state;
    GvProgram *p = ok(".func f\n.end\n");
    assert_int_equal(fn(p, "f")->ninstrs, 0);
    GvProgram_Free(p);
}

static void test_positions_are_line_and_mnemonic_column(void **state) {
    (void)state;
    GvProgram *p = ok(".func main\n"
                      "NOP\n"
                      "    NOP ; indented\n"
                      "\tPOP_TOP\n"
                      "\n"
                      "  LOAD_CONST 1\n"
                      ".end\n");
    GvCode *c = p->code[0];
    assert_int_equal(c->pos[0].line, 2);
    assert_int_equal(c->pos[0].col, 1);
    assert_int_equal(c->pos[1].line, 3);
    assert_int_equal(c->pos[1].col, 5);
    assert_int_equal(c->pos[2].line, 4);
    assert_int_equal(c->pos[2].col, 2);
    assert_int_equal(c->pos[3].line, 6);
    assert_int_equal(c->pos[3].col, 3);
    assert_int_equal(gv_code_line(c, 3), 6);
    GvProgram_Free(p);
}

static void test_crlf_line_endings_are_line_ends(void **state) {
    (void)state;
    GvProgram *p = ok(".func main\r\n  LOAD_CONST \"a\"\r\nRETURN_VALUE\r\n.end\r\n");
    GvCode *c = p->code[0];
    assert_int_equal(c->ninstrs, 2);
    assert_string_equal(str_of(c->consts[0].as.o), "a"); /* no \r in the string */
    assert_int_equal(c->pos[0].line, 2);
    assert_int_equal(c->pos[0].col, 3);
    assert_int_equal(c->pos[1].line, 3);
    GvProgram_Free(p);
}

static void test_last_line_without_newline_is_read(void **state) {
    (void)state;
    GvProgram *p = ok(".func main\nNOP\n.end");
    assert_int_equal(p->code[0]->ninstrs, 1);
    GvProgram_Free(p);
}

static void test_utf8_bom_is_skipped(void **state) {
    (void)state;
    GvProgram *p = ok("\xEF\xBB\xBF.func main\nNOP\n.end\n");
    assert_int_equal(p->ncode, 1);
    GvProgram_Free(p);
}

static void test_lowercase_mnemonics_are_accepted(void **state) {
    (void)state;
    GvProgram *p = ok(".func main\nload_const 1\npop_top\njump x\nx:\n.end\n");
    GvCode *c = p->code[0];
    assert_instr(c, 0, GV_OP_LOAD_CONST, 0);
    assert_instr(c, 1, GV_OP_POP_TOP, 0);
    assert_instr(c, 2, GV_OP_JUMP, 3);
    GvProgram_Free(p);
}

static void test_every_opcode_in_the_table_assembles(void **state) {
    (void)state;
    static const char *operand[] = {
        [GV_OPK_NONE] = "", [GV_OPK_CONST] = " 1", [GV_OPK_LOCAL] = " x",
        [GV_OPK_NAME] = " g", [GV_OPK_LABEL] = " top", [GV_OPK_COUNT] = " 3",
    };
    char src[8192];
    size_t n = (size_t)snprintf(src, sizeof src, ".func main x\ntop:\n");
    uint32_t count = 0;
    for (int op = 0; op < GV_NUM_OPCODES; op++) {
        if (gv_opinfo[op].flags & GV_OPF_INTERNAL) continue; /* never written by hand */
        n += (size_t)snprintf(src + n, sizeof src - n, "%s%s\n", gv_opinfo[op].name,
                              operand[gv_opinfo[op].kind]);
        count++;
    }
    snprintf(src + n, sizeof src - n, ".end\n");
    GvProgram *p = ok(src);
    GvCode *c = p->code[0];
    assert_int_equal(c->ninstrs, count);
    uint32_t pc = 0;
    for (int op = 0; op < GV_NUM_OPCODES; op++) {
        if (gv_opinfo[op].flags & GV_OPF_INTERNAL) continue;
        uint32_t want = gv_opinfo[op].kind == GV_OPK_COUNT ? 3 : 0; /* const, local, name, label: index 0 */
        assert_instr(c, pc++, op, want);
    }
    GvProgram_Free(p);
}

static void test_internal_superinstructions_are_not_mnemonics(void **state) {
    (void)state;
    for (int op = 0; op < GV_NUM_OPCODES; op++) {
        if (!(gv_opinfo[op].flags & GV_OPF_INTERNAL)) continue;
        char src[128], want[160];
        snprintf(src, sizeof src, ".func f x\n  %s x\n.end\n", gv_opinfo[op].name);
        snprintf(want, sizeof want, "t.gva:2:3: error: unknown mnemonic '%s'", gv_opinfo[op].name);
        fails(src, want);
    }
}

/* ---- labels ---- */

static void test_label_used_before_definition_resolves(void **state) {
    (void)state;
    GvProgram *p = ok(".func main\n"
                      "  LOAD_CONST true\n"     /* 0 */
                      "  POP_JUMP_IF_TRUE done\n" /* 1 */
                      "  NOP\n"                 /* 2 */
                      "  NOP\n"                 /* 3 */
                      "done:\n"
                      "  LOAD_CONST none\n"     /* 4 */
                      "  RETURN_VALUE\n"
                      ".end\n");
    assert_instr(p->code[0], 1, GV_OP_POP_JUMP_IF_TRUE, 4);
    GvProgram_Free(p);
}

static void test_backward_jump_targets_label_index(void **state) {
    (void)state;
    GvProgram *p = ok(".func main\n"
                      "  NOP\n"
                      "top:\n"
                      "again:\n" /* two labels on one instruction */
                      "  NOP\n"
                      "  JUMP top\n"
                      "  JUMP again\n"
                      ".end\n");
    assert_instr(p->code[0], 2, GV_OP_JUMP, 1);
    assert_instr(p->code[0], 3, GV_OP_JUMP, 1);
    GvProgram_Free(p);
}

static void test_labels_are_scoped_to_their_function(void **state) {
    (void)state;
    GvProgram *p = ok(".func f\n  NOP\nx:\n  JUMP x\n.end\n"
                      ".func g\nx:\n  JUMP x\n.end\n");
    assert_instr(fn(p, "f"), 1, GV_OP_JUMP, 1);
    assert_instr(fn(p, "g"), 0, GV_OP_JUMP, 0);
    GvProgram_Free(p);
}

static void test_label_after_last_instruction_is_function_end(void **state) {
    (void)state;
    GvProgram *p = ok(".func main\n  JUMP out\n  NOP\nout:\n.end\n");
    assert_instr(p->code[0], 0, GV_OP_JUMP, 2);
    GvProgram_Free(p);
}

static void test_label_may_be_a_mnemonic_or_keyword(void **state) {
    (void)state;
    GvProgram *p = ok(".func main\nNOP:\nnone:\n  JUMP NOP\n  JUMP none\n.end\n");
    assert_instr(p->code[0], 0, GV_OP_JUMP, 0);
    assert_instr(p->code[0], 1, GV_OP_JUMP, 0);
    GvProgram_Free(p);
}

/* ---- locals and names ---- */

static void test_params_then_locals_are_numbered_in_order(void **state) {
    (void)state;
    GvProgram *p = ok(".func f a b\n"
                      "  .local c\n"
                      "  .local d e ; two more\n"
                      "  LOAD_FAST e\n  LOAD_FAST a\n  STORE_FAST c\n  load_fast b\n"
                      ".end\n");
    GvCode *c = fn(p, "f");
    assert_int_equal(c->nparams, 2);
    assert_int_equal(c->nlocals, 5);
    const char *names[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) assert_string_equal(str_of(c->localnames[i]), names[i]);
    assert_instr(c, 0, GV_OP_LOAD_FAST, 4);
    assert_instr(c, 1, GV_OP_LOAD_FAST, 0);
    assert_instr(c, 2, GV_OP_STORE_FAST, 2);
    assert_instr(c, 3, GV_OP_LOAD_FAST, 1);
    GvProgram_Free(p);
}

static void test_local_declared_after_instructions_is_usable_below_it(void **state) {
    (void)state;
    GvProgram *p = ok(".func f\n  LOAD_CONST 1\n  .local late\n  STORE_FAST late\n.end\n");
    GvCode *c = fn(p, "f");
    assert_int_equal(c->nlocals, 1);
    assert_instr(c, 1, GV_OP_STORE_FAST, 0);
    GvProgram_Free(p);
}

static void test_local_used_above_its_declaration_is_unknown(void **state) {
    (void)state;
    fails(".func f\n  LOAD_CONST 1\n  STORE_FAST late\n  .local late\n.end\n",
          "t.gva:3:14: error: unknown local 'late'");
}

static void test_global_names_are_deduplicated_per_function(void **state) {
    (void)state;
    GvProgram *p = ok(".func f\n"
                      "  LOAD_GLOBAL print\n  LOAD_GLOBAL x\n  STORE_GLOBAL print\n  LOAD_GLOBAL x\n"
                      ".end\n"
                      ".func g\n  LOAD_GLOBAL x\n.end\n");
    GvCode *f = fn(p, "f");
    assert_int_equal(f->nnames, 2);
    assert_string_equal(str_of(f->names[0]), "print");
    assert_string_equal(str_of(f->names[1]), "x");
    assert_instr(f, 0, GV_OP_LOAD_GLOBAL, 0);
    assert_instr(f, 1, GV_OP_LOAD_GLOBAL, 1);
    assert_instr(f, 2, GV_OP_STORE_GLOBAL, 0);
    assert_instr(f, 3, GV_OP_LOAD_GLOBAL, 1);
    GvCode *g = fn(p, "g");
    assert_int_equal(g->nnames, 1);
    assert_instr(g, 0, GV_OP_LOAD_GLOBAL, 0);
    GvProgram_Free(p);
}

/* ---- constants ---- */

static void test_constants_deduplicated_by_type_and_value(void **state) {
    (void)state;
    GvProgram *p = ok(".func f\n"
                      "  LOAD_CONST 1\n"     /* 0 */
                      "  LOAD_CONST 1.0\n"   /* 1 */
                      "  LOAD_CONST true\n"  /* 2 */
                      "  LOAD_CONST \"1\"\n" /* 3 */
                      "  LOAD_CONST 0x1\n"   /* 0 again */
                      "  LOAD_CONST 1.\n"    /* 1 again */
                      "  LOAD_CONST 0.0\n"   /* 4 */
                      "  LOAD_CONST -0.0\n"  /* 5 */
                      "  LOAD_CONST 0\n"     /* 6 */
                      "  LOAD_CONST false\n" /* 7 */
                      "  LOAD_CONST none\n"  /* 8 */
                      "  LOAD_CONST \"1\"\n" /* 3 again */
                      "  LOAD_CONST -0\n"    /* 6 again: the int zero */
                      "  LOAD_CONST none\n"  /* 8 again */
                      ".end\n");
    GvCode *c = fn(p, "f");
    const uint32_t want[] = {0, 1, 2, 3, 0, 1, 4, 5, 6, 7, 8, 3, 6, 8};
    assert_int_equal(c->ninstrs, 14);
    for (uint32_t i = 0; i < 14; i++) assert_instr(c, i, GV_OP_LOAD_CONST, want[i]);
    assert_int_equal(c->nconsts, 9);
    assert_true(gv_is_int(c->consts[0]) && c->consts[0].as.i == 1);
    assert_true(gv_is_float(c->consts[1]) && c->consts[1].as.f == 1.0);
    assert_true(gv_is_bool(c->consts[2]) && c->consts[2].as.i == 1);
    assert_true(gv_is_kind(c->consts[3], GV_KSTR));
    assert_true(gv_is_float(c->consts[4]) && !signbit(c->consts[4].as.f));
    assert_true(gv_is_float(c->consts[5]) && signbit(c->consts[5].as.f));
    assert_true(gv_is_int(c->consts[6]) && c->consts[6].as.i == 0);
    assert_true(gv_is_bool(c->consts[7]) && c->consts[7].as.i == 0);
    assert_true(gv_is_none(c->consts[8]));
    GvProgram_Free(p);
}

static void test_constants_are_per_function(void **state) {
    (void)state;
    GvProgram *p = ok(".func f\nLOAD_CONST 5\nLOAD_CONST 6\n.end\n.func g\nLOAD_CONST 6\n.end\n");
    assert_int_equal(fn(p, "f")->nconsts, 2);
    assert_int_equal(fn(p, "g")->nconsts, 1);
    assert_instr(fn(p, "g"), 0, GV_OP_LOAD_CONST, 0);
    assert_int_equal(fn(p, "g")->consts[0].as.i, 6);
    GvProgram_Free(p);
}

static int64_t int_const(const char *literal) {
    char src[256];
    snprintf(src, sizeof src, ".func f\nLOAD_CONST %s\n.end\n", literal);
    GvProgram *p = ok(src);
    GvValue v = p->code[0]->consts[0];
    if (!gv_is_int(v)) fail_msg("%s is not an int", literal);
    GvProgram_Free(p);
    return v.as.i;
}

static double float_const(const char *literal) {
    char src[256];
    snprintf(src, sizeof src, ".func f\nLOAD_CONST %s\n.end\n", literal);
    GvProgram *p = ok(src);
    GvValue v = p->code[0]->consts[0];
    if (!gv_is_float(v)) fail_msg("%s is not a float", literal);
    GvProgram_Free(p);
    return v.as.f;
}

static void test_integer_literals(void **state) {
    (void)state;
    assert_int_equal(int_const("42"), 42);
    assert_int_equal(int_const("-7"), -7);
    assert_int_equal(int_const("+7"), 7);
    assert_int_equal(int_const("010"), 10); /* not octal */
    assert_int_equal(int_const("0x1f"), 31);
    assert_int_equal(int_const("0X1F"), 31);
    assert_int_equal(int_const("-0x10"), -16);
    assert_int_equal(int_const("9223372036854775807"), INT64_MAX);
    assert_int_equal(int_const("-9223372036854775808"), INT64_MIN);
    assert_int_equal(int_const("0x7fffffffffffffff"), INT64_MAX);
    assert_int_equal(int_const("-0x8000000000000000"), INT64_MIN);
    assert_int_equal(int_const("000000000000000000000000001"), 1);
}

static void test_float_literals(void **state) {
    (void)state;
    assert_true(float_const("1.5") == 1.5);
    assert_true(float_const(".5") == 0.5);
    assert_true(float_const("5.") == 5.0);
    assert_true(float_const("1e3") == 1000.0);
    assert_true(float_const("1E-3") == 0.001);
    assert_true(float_const("-2.5e+2") == -250.0);
    assert_true(float_const("+.25") == 0.25);
    assert_true(float_const("0.1") == 0.1);
    assert_true(float_const("1e-400") == 0.0); /* underflow is not an error */
}

static void test_string_escapes_are_decoded(void **state) {
    (void)state;
    GvProgram *p = ok(".func f\n  LOAD_CONST \"a\\nb\\tc\\\"d\\\\e\"\n  LOAD_CONST \"\"\n.end\n");
    GvStr *s = gv_as_str(p->code[0]->consts[0]);
    assert_int_equal(s->size, 9);
    assert_memory_equal(s->data, "a\nb\tc\"d\\e", 9);
    assert_int_equal(gv_as_str(p->code[0]->consts[1])->size, 0);
    GvProgram_Free(p);
}

static void test_semicolon_inside_string_is_not_a_comment(void **state) {
    (void)state;
    GvProgram *p = ok(".func f\n  LOAD_CONST \"a ; b\" ; a comment \"x\"\n.end\n");
    assert_string_equal(str_of(p->code[0]->consts[0].as.o), "a ; b");
    GvProgram_Free(p);
}

static void test_utf8_strings_keep_their_bytes(void **state) {
    (void)state;
    GvProgram *p = ok(".func f\n  LOAD_CONST \"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"\n.end\n");
    GvStr *s = gv_as_str(p->code[0]->consts[0]);
    assert_string_equal(s->data, "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80");
    assert_int_equal(s->length, 9);
    GvProgram_Free(p);
}

static void test_count_operands_encode_their_value(void **state) {
    (void)state;
    GvProgram *p = ok(".func f\n  CALL 0\n  BUILD_LIST 016\n  BUILD_DICT 16777215\n.end\n");
    assert_instr(p->code[0], 0, GV_OP_CALL, 0);
    assert_instr(p->code[0], 1, GV_OP_BUILD_LIST, 16);
    assert_instr(p->code[0], 2, GV_OP_BUILD_DICT, GV_ARG_MAX);
    GvProgram_Free(p);
}

/* ---- exception ranges ---- */

static void test_try_entries_are_stored_innermost_first(void **state) {
    (void)state;
    GvProgram *p = ok(".func main\n"
                      "  .try outer_s outer_e outer_h\n" /* line 2, the wider range first */
                      "outer_s:\n"
                      "  NOP\n"                          /* 0 */
                      "  .try inner_s inner_e inner_h\n" /* line 5 */
                      "inner_s:\n"
                      "  NOP\n"                          /* 1 */
                      "inner_e:\n"
                      "  NOP\n"                          /* 2 */
                      "outer_e:\n"
                      "  NOP\n"                          /* 3 */
                      "inner_h:\n"
                      "  NOP\n"                          /* 4 */
                      "outer_h:\n"
                      "  NOP\n"                          /* 5 */
                      ".end\n");
    GvCode *c = p->code[0];
    assert_int_equal(c->nexc, 2);
    assert_int_equal(c->exc[0].start, 1);
    assert_int_equal(c->exc[0].end, 2);
    assert_int_equal(c->exc[0].handler, 4);
    assert_int_equal(c->exc[0].pos.line, 5);
    assert_int_equal(c->exc[0].pos.col, 3);
    assert_int_equal(c->exc[1].start, 0);
    assert_int_equal(c->exc[1].end, 3);
    assert_int_equal(c->exc[1].handler, 5);
    assert_int_equal(c->exc[1].pos.line, 2);
    assert_int_equal(c->exc[1].depth, 0);
    assert_int_equal(c->exc[1].exc_depth, 0);
    GvProgram_Free(p);
}

static void test_try_ranges_of_equal_size_keep_source_order(void **state) {
    (void)state;
    GvProgram *p = ok(".func main\n"
                      "a:\n  NOP\nb:\n  NOP\nc:\n  NOP\nh:\n  NOP\n"
                      ".try b c h\n"
                      ".try a b h\n"
                      ".try a c h\n"
                      ".end\n");
    GvCode *c = p->code[0];
    assert_int_equal(c->nexc, 3);
    assert_int_equal(c->exc[0].start, 1); /* b c: size 1, first in source */
    assert_int_equal(c->exc[1].start, 0); /* a b: size 1 */
    assert_int_equal(c->exc[2].end, 2);   /* a c: size 2 */
    assert_int_equal(c->exc[0].pos.line, 10);
    assert_int_equal(c->exc[1].pos.line, 11);
    assert_int_equal(c->exc[2].pos.line, 12);
    GvProgram_Free(p);
}

/* ---- errors ---- */

static void test_error_text_has_file_line_and_column(void **state) {
    (void)state;
    GvDiag d;
    GvProgram *p = gv_assemble(".func main\n  FOO 1\n.end\n", 22, "dir/prog.gva", &d);
    assert_null(p);
    assert_string_equal(d.text, "dir/prog.gva:2:3: error: unknown mnemonic 'FOO'");
    assert_string_equal(d.message, "unknown mnemonic 'FOO'");
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 3);
}

static void test_only_the_first_error_is_reported(void **state) {
    (void)state;
    fails(".func main\n  BAD1\n  BAD2\n.end\n", "t.gva:2:3: error: unknown mnemonic 'BAD1'");
}

static void test_undefined_label_reported_at_earliest_use(void **state) {
    (void)state;
    fails(".func main\n  JUMP ok\n  JUMP nowhere\n  JUMP elsewhere\nok:\n  JUMP nowhere\n.end\n",
          "t.gva:3:8: error: undefined label 'nowhere'");
    fails(".func main\n  .try a b c\na:\n  NOP\nb:\n  NOP\n.end\n",
          "t.gva:2:12: error: undefined label 'c'");
}

static void test_undefined_label_in_earlier_function_wins(void **state) {
    (void)state;
    fails(".func f\n  JUMP x\n.end\n.func g\n  BAD\n.end\n",
          "t.gva:2:8: error: undefined label 'x'");
}

static void test_unclosed_function_reported_at_end_of_last_line(void **state) {
    (void)state;
    fails(".func main\n  NOP\n  LOAD_CONST 1\n",
          "t.gva:3:15: error: missing '.end' for function 'main' (opened at line 1)");
    fails(".func main\n  NOP", "t.gva:2:6: error: missing '.end' for function 'main' (opened at line 1)");
}

static void test_nul_byte_is_rejected(void **state) {
    (void)state;
    static const char in_comment[] = ".func main\n  NOP ; x\0y\n.end\n";
    static const char in_string[] = ".func main\n  LOAD_CONST \"a\0b\"\n.end\n";
    fails_n(in_comment, sizeof in_comment - 1, "t.gva:2:10: error: NUL byte in source");
    fails_n(in_string, sizeof in_string - 1, "t.gva:2:16: error: NUL byte in source");
}

static void test_source_text_in_messages_is_escaped_and_cut(void **state) {
    (void)state;
    fails(".func main\n  \x01\xff\n.end\n", "t.gva:2:3: error: unknown mnemonic '\\x01\\xff'");
    char src[400];
    snprintf(src, sizeof src, ".func main\n  %0200d\n.end\n", 0);
    GvDiag d;
    assert_null(assemble_n(src, strlen(src), &d));
    assert_true(strlen(d.text) < 150);
    assert_non_null(strstr(d.text, "...'"));
}

static void test_null_diag_is_allowed(void **state) {
    (void)state;
    assert_null(gv_assemble(".func\n", 6, "t.gva", NULL));
    GvProgram *p = gv_assemble(".func f\n.end\n", 13, "t.gva", NULL);
    assert_non_null(p);
    GvProgram_Free(p);
}

static void test_diag_is_cleared_before_assembling(void **state) {
    (void)state;
    GvDiag d;
    memset(&d, 'x', sizeof d); /* garbage from an earlier use */
    d.text[sizeof d.text - 1] = '\0';
    GvProgram *p = gv_assemble(".func f\n.end\n", 13, "t.gva", &d);
    assert_non_null(p);
    assert_string_equal(d.text, "");
    GvProgram_Free(p);
    memset(&d, 'x', sizeof d);
    assert_null(gv_assemble("NOP\n", 4, "t.gva", &d));
    assert_string_equal(d.text, "t.gva:1:1: error: instruction outside a function");
}

static void test_filename_that_is_not_utf8_still_assembles(void **state) {
    (void)state;
    GvDiag d;
    GvProgram *p = gv_assemble(".func f\n.end\n", 13, "bad\xff.gva", &d);
    assert_non_null(p);
    assert_string_equal(str_of(p->code[0]->filename), "bad?.gva");
    GvProgram_Free(p);
    assert_null(gv_assemble("X\n", 2, "bad\xff.gva", &d));
    assert_string_equal(d.text, "bad\xff.gva:1:1: error: unknown mnemonic 'X'");
}

/* ---- gv_diag_set ---- */

static void test_diag_set_formats_and_keeps_the_first(void **state) {
    (void)state;
    GvDiag d;
    memset(&d, 0, sizeof d);
    gv_diag_set(&d, "f.gva", 3, 7, "bad %s %d", "thing", 42);
    assert_string_equal(d.text, "f.gva:3:7: error: bad thing 42");
    assert_string_equal(d.message, "bad thing 42");
    gv_diag_set(&d, "f.gva", 1, 1, "second");
    assert_string_equal(d.message, "bad thing 42");
    assert_int_equal(d.line, 3);
    assert_int_equal(d.col, 7);

    memset(&d, 0, sizeof d);
    gv_diag_set(&d, "f.gva", 0, 5, "cannot read");
    assert_string_equal(d.text, "f.gva: error: cannot read");
    assert_int_equal(d.line, 0);
    assert_int_equal(d.col, 0);

    memset(&d, 0, sizeof d);
    gv_diag_set(&d, "f.gva", 4, 0, "no column");
    assert_string_equal(d.text, "f.gva:4: error: no column");
    gv_diag_set(NULL, "f.gva", 1, 1, "ignored"); /* no crash */
}

static void test_diag_set_cuts_long_messages(void **state) {
    (void)state;
    GvDiag d;
    memset(&d, 0, sizeof d);
    char big[3000];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    gv_diag_set(&d, big, 1, 1, "%s", big);
    assert_int_equal(strlen(d.message), sizeof d.message - 1);
    assert_int_equal(strlen(d.text), sizeof d.text - 1);
}

/* ---- table limits (the small copy of the assembler) ---- */

static void small_fails(const char *src, const char *text) {
    GvDiag d;
    GvProgram *p = gv_assemble_small(src, strlen(src), "t.gva", &d);
    if (p) {
        GvProgram_Free(p);
        fail_msg("assembled, expected: %s", text);
    }
    assert_string_equal(d.text, text);
}

static void test_constant_table_overflow_is_an_error(void **state) {
    (void)state;
    /* four distinct constants fit; repeats cost nothing; the fifth fails */
    small_fails(".func f\n LOAD_CONST 1\n LOAD_CONST 2\n LOAD_CONST 1\n LOAD_CONST \"s\"\n"
                " LOAD_CONST none\n LOAD_CONST 2.5\n.end\n",
                "t.gva:7:13: error: too many constants in function 'f' (at most 4)");
}

static void test_name_local_label_and_instruction_limits(void **state) {
    (void)state;
    small_fails(".func f\n LOAD_GLOBAL a\n LOAD_GLOBAL b\n LOAD_GLOBAL c\n LOAD_GLOBAL a\n"
                " LOAD_GLOBAL d\n LOAD_GLOBAL e\n.end\n",
                "t.gva:7:14: error: too many names in function 'f' (at most 4)");
    small_fails(".func f a b\n .local c d e\n.end\n",
                "t.gva:2:13: error: too many locals in function 'f' (at most 4)");
    small_fails(".func f\na:\nb:\nc:\nd:\ne:\n.end\n",
                "t.gva:6:1: error: too many labels in function 'f' (at most 4)");
    small_fails(".func f\nNOP\nNOP\nNOP\nNOP\nNOP\nNOP\nNOP\n.end\n",
                "t.gva:8:1: error: too many instructions in function 'f' (at most 6)");
    /* six instructions and a label after them fit */
    GvDiag d;
    const char *full = ".func f\nNOP\nNOP\nNOP\nNOP\nNOP\nNOP\nend:\n  JUMP end\n.end\n";
    GvProgram *p = gv_assemble_small(full, strlen(full), "t.gva", &d);
    assert_null(p);
    assert_string_equal(d.text, "t.gva:9:3: error: too many instructions in function 'f' (at most 6)");
    full = ".func f\nNOP\nNOP\nNOP\nNOP\nNOP\nNOP\nend:\n.end\n";
    p = gv_assemble_small(full, strlen(full), "t.gva", &d);
    assert_non_null(p);
    assert_int_equal(p->code[0]->ninstrs, 6);
    GvProgram_Free(p);
}

static void test_out_of_memory_at_any_allocation_is_a_clean_diagnostic(void **state) {
    (void)state;
    const char *src = ".func f a\n"
                      "  .local b\n"
                      "  .try s e h\n"
                      "s:\n"
                      "  LOAD_CONST \"text\"\n"
                      "  LOAD_CONST 1.5\n"
                      "  LOAD_GLOBAL g\n"
                      "  STORE_FAST b\n"
                      "e:\n"
                      "  JUMP s\n"
                      "h:\n"
                      "  RETURN_VALUE\n"
                      ".end\n"
                      ".func main\n  LOAD_CONST none\n  RETURN_VALUE\n.end\n";
    GvProgram *p = NULL;
    long k;
    for (k = 0; k < 1000 && !p; k++) {
        GvDiag d;
        alloc_budget = k;
        p = gv_assemble_small(src, strlen(src), "t.gva", &d);
        if (!p) {
            assert_string_equal(d.text, "t.gva: error: out of memory");
            assert_null(GvErr_Occurred());
        }
    }
    alloc_budget = -1;
    assert_non_null(p);
    assert_true(k > 10); /* the failures really were injected */
    assert_int_equal(p->ncode, 2);
    assert_int_equal(p->code[0]->nexc, 1);
    GvProgram_Free(p);
}

/* ---- robustness ---- */

static void test_large_function_assembles_in_linear_time(void **state) {
    (void)state;
    enum { N = 200000 };
    size_t cap = (size_t)N * 40 + 64, n = 0;
    char *src = malloc(cap);
    assert_non_null(src);
    n += (size_t)sprintf(src + n, ".func main\n");
    for (int i = 0; i < N; i++) {
        n += (size_t)sprintf(src + n, "l%d:\n LOAD_CONST %d\n JUMP l%d\n", i, i % 1000,
                             (i * 7919) % N);
    }
    n += (size_t)sprintf(src + n, ".end\n");
    GvDiag d;
    GvProgram *p = assemble_n(src, n, &d);
    free(src);
    if (!p) fail_msg("%s", d.text);
    GvCode *c = p->code[0];
    assert_int_equal(c->ninstrs, 2 * N);
    assert_int_equal(c->nconsts, 1000);
    assert_instr(c, 3, GV_OP_JUMP, (uint32_t)(2 * ((1 * 7919) % N)));
    GvProgram_Free(p);
}

static void test_very_long_lines_do_not_crash(void **state) {
    (void)state;
    static const char str_head[] = ".func f\nLOAD_CONST \"", str_tail[] = "\"\n.end\n";
    static const char int_head[] = ".func f\nLOAD_CONST ";
    size_t len = 1 << 20;
    char *src = malloc(len + 64);
    assert_non_null(src);
    /* a string constant of a megabyte */
    size_t n = sizeof str_head - 1;
    memcpy(src, str_head, n);
    memset(src + n, 'z', len);
    n += len;
    memcpy(src + n, str_tail, sizeof str_tail - 1);
    n += sizeof str_tail - 1;
    GvDiag d;
    GvProgram *p = assemble_n(src, n, &d);
    if (!p) fail_msg("%s", d.text);
    assert_int_equal(gv_as_str(p->code[0]->consts[0])->size, len);
    GvProgram_Free(p);
    /* a megabyte of digits */
    n = sizeof int_head - 1;
    memcpy(src, int_head, n);
    memset(src + n, '9', len);
    n += len;
    assert_null(assemble_n(src, n, &d));
    assert_string_equal(d.text, "t.gva:2:12: error: integer constant out of range");
    free(src);
}

/* xorshift: the same inputs on every run */
static uint64_t next_random(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_mangled_programs_fail_cleanly_or_assemble(void **state) {
    (void)state;
    static const char base[] =
        ".func add a b\n"
        "  .local t\n"
        "  .try s e h\n"
        "s:\n"
        "  LOAD_FAST a\n  LOAD_FAST b\n  BINARY_ADD\n  STORE_FAST t\n"
        "e:\n"
        "  LOAD_CONST \"x\\n;y\"\n  LOAD_CONST -0x1f\n  LOAD_CONST 1.5e3\n"
        "  LOAD_GLOBAL print\n  CALL 2\n  JUMP s\n"
        "h:\n"
        "  POP_EXCEPT\n  RETURN_VALUE\n"
        ".end\n"
        ".func main\n  LOAD_CONST none\n  RETURN_VALUE\n.end\n";
    static const char junk[] = "\0\r\n\t ;:.\"\\-+x0e9\xc3\xff";
    uint64_t seed = 0x9e3779b97f4a7c15u;
    char buf[sizeof base + 16];
    for (int round = 0; round < 20000; round++) {
        size_t n = sizeof base - 1;
        memcpy(buf, base, n);
        int edits = 1 + (int)(next_random(&seed) % 4);
        for (int k = 0; k < edits; k++) {
            size_t at = (size_t)(next_random(&seed) % n);
            uint64_t r = next_random(&seed);
            switch (r % 3) {
            case 0: buf[at] = junk[(r >> 8) % (sizeof junk - 1)]; break;   /* replace */
            case 1: memmove(buf + at, buf + at + 1, n - at - 1); n--; break; /* delete */
            default: n = at; break;                                       /* truncate */
            }
            if (n == 0) break;
        }
        GvDiag d;
        GvProgram *p = assemble_n(buf, n, &d);
        if (p) {
            assert_string_equal(d.text, "");
            GvProgram_Free(p);
        } else {
            assert_true(strncmp(d.text, "t.gva:", 6) == 0);
            assert_non_null(strstr(d.text, ": error: "));
        }
        assert_null(GvErr_Occurred());
    }
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_source_is_an_empty_program),
        cmocka_unit_test(test_null_source_with_zero_length_is_an_empty_program),
        cmocka_unit_test(test_function_gets_name_filename_firstline_and_instructions),
        cmocka_unit_test(test_functions_kept_in_definition_order),
        cmocka_unit_test(test_program_without_main_assembles),
        cmocka_unit_test(test_empty_function_has_no_instructions),
        cmocka_unit_test(test_positions_are_line_and_mnemonic_column),
        cmocka_unit_test(test_crlf_line_endings_are_line_ends),
        cmocka_unit_test(test_last_line_without_newline_is_read),
        cmocka_unit_test(test_utf8_bom_is_skipped),
        cmocka_unit_test(test_lowercase_mnemonics_are_accepted),
        cmocka_unit_test(test_every_opcode_in_the_table_assembles),
        cmocka_unit_test(test_internal_superinstructions_are_not_mnemonics),
        cmocka_unit_test(test_label_used_before_definition_resolves),
        cmocka_unit_test(test_backward_jump_targets_label_index),
        cmocka_unit_test(test_labels_are_scoped_to_their_function),
        cmocka_unit_test(test_label_after_last_instruction_is_function_end),
        cmocka_unit_test(test_label_may_be_a_mnemonic_or_keyword),
        cmocka_unit_test(test_params_then_locals_are_numbered_in_order),
        cmocka_unit_test(test_local_declared_after_instructions_is_usable_below_it),
        cmocka_unit_test(test_local_used_above_its_declaration_is_unknown),
        cmocka_unit_test(test_global_names_are_deduplicated_per_function),
        cmocka_unit_test(test_constants_deduplicated_by_type_and_value),
        cmocka_unit_test(test_constants_are_per_function),
        cmocka_unit_test(test_integer_literals),
        cmocka_unit_test(test_float_literals),
        cmocka_unit_test(test_string_escapes_are_decoded),
        cmocka_unit_test(test_semicolon_inside_string_is_not_a_comment),
        cmocka_unit_test(test_utf8_strings_keep_their_bytes),
        cmocka_unit_test(test_count_operands_encode_their_value),
        cmocka_unit_test(test_try_entries_are_stored_innermost_first),
        cmocka_unit_test(test_try_ranges_of_equal_size_keep_source_order),
        cmocka_unit_test(test_error_text_has_file_line_and_column),
        cmocka_unit_test(test_only_the_first_error_is_reported),
        cmocka_unit_test(test_undefined_label_reported_at_earliest_use),
        cmocka_unit_test(test_undefined_label_in_earlier_function_wins),
        cmocka_unit_test(test_unclosed_function_reported_at_end_of_last_line),
        cmocka_unit_test(test_nul_byte_is_rejected),
        cmocka_unit_test(test_source_text_in_messages_is_escaped_and_cut),
        cmocka_unit_test(test_null_diag_is_allowed),
        cmocka_unit_test(test_diag_is_cleared_before_assembling),
        cmocka_unit_test(test_filename_that_is_not_utf8_still_assembles),
        cmocka_unit_test(test_diag_set_formats_and_keeps_the_first),
        cmocka_unit_test(test_diag_set_cuts_long_messages),
        cmocka_unit_test(test_constant_table_overflow_is_an_error),
        cmocka_unit_test(test_name_local_label_and_instruction_limits),
        cmocka_unit_test(test_out_of_memory_at_any_allocation_is_a_clean_diagnostic),
        cmocka_unit_test(test_large_function_assembles_in_linear_time),
        cmocka_unit_test(test_very_long_lines_do_not_crash),
        cmocka_unit_test(test_mangled_programs_fail_cleanly_or_assemble),
    };
    return gvt_run(argc, argv, tests, gvt_setup, gvt_teardown);
}
