/* The .gvc format (vm/bytecode.c) and the disassembler (vm/dis.c): images
 * round-trip exactly, every malformed image is refused cleanly, and the
 * disassembly assembles back to the same code. */
#include <math.h>

#include "gvtest.h"
#include "../../vm/asm.h"
#include "../../vm/bytecode.h"
#include "../../vm/dis.h"
#include "../../vm/opcodes.h"
#include "../../vm/verify.h"

/* ------------------------------------------------------------ helpers */

static GvObject *S(const char *s) {
    GvObject *o = gv_str_new(s, strlen(s));
    assert_non_null(o);
    return o;
}

static GvObject *Sn(const char *s, size_t n) {
    GvObject *o = gv_str_new(s, n);
    assert_non_null(o);
    return o;
}

static void program_free(GvProgram *p) { GvProgram_Free(p); }

/* Loads from an exact-size copy, so that ASan sees any read past the end. */
static GvProgram *load(const uint8_t *data, size_t len, GvDiag *d) {
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len) memcpy(copy, data, len);
    memset(d, 0, sizeof *d);
    GvProgram *p = gv_bytecode_load(len ? copy : NULL, len, "t.gvc", d);
    free(copy);
    return p;
}

static void save(const GvProgram *p, uint8_t **data, size_t *len) {
    assert_int_equal(gv_bytecode_save(p, data, len), 0);
    assert_non_null(*data);
}

static char *dis_text(const GvProgram *p) {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    assert_non_null(m);
    gv_dis_program(p, m);
    fclose(m);
    return text;
}

static char *dis_code_text(const GvCode *c) {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    assert_non_null(m);
    gv_dis_code(c, m);
    fclose(m);
    return text;
}

static GvProgram *assemble(const char *src) {
    GvDiag d;
    memset(&d, 0, sizeof d);
    GvProgram *p = gv_assemble(src, strlen(src), "t.gva", &d);
    if (!p) fail_msg("assembly failed: %s\n--- source ---\n%s", d.text, src);
    return p;
}

static void assert_verifies(GvProgram *p) {
    GvDiag d;
    memset(&d, 0, sizeof d);
    if (gv_verify_program(p, &d) != 0) fail_msg("verification failed: %s", d.text);
}

static void assert_same_str(const GvObject *a, const GvObject *b) {
    assert_non_null(a);
    assert_non_null(b);
    const GvStr *x = (const GvStr *)a, *y = (const GvStr *)b;
    assert_int_equal(x->size, y->size);
    assert_memory_equal(x->data, y->data, x->size);
}

static void assert_same_const(GvValue a, GvValue b) {
    assert_int_equal(a.tag, b.tag);
    switch (a.tag) {
    case GV_TNONE: break;
    case GV_TBOOL:
    case GV_TINT: assert_true(a.as.i == b.as.i); break;
    case GV_TFLOAT: assert_memory_equal(&a.as.f, &b.as.f, sizeof(double)); break; /* bits */
    case GV_TOBJ: assert_same_str(a.as.o, b.as.o); break;
    default: fail_msg("unexpected tag %u", a.tag);
    }
}

/* What the code does: the fields the assembler and the loader produce,
 * except source positions (compare_pos) which a re-assembly changes. */
static void assert_same_code(const GvCode *a, const GvCode *b, bool compare_pos) {
    assert_same_str(a->name, b->name);
    assert_int_equal(a->nparams, b->nparams);
    assert_int_equal(a->nlocals, b->nlocals);
    for (uint32_t i = 0; i < a->nlocals; i++) assert_same_str(a->localnames[i], b->localnames[i]);
    assert_int_equal(a->ninstrs, b->ninstrs);
    assert_memory_equal(a->instrs, b->instrs, a->ninstrs * sizeof(GvInstr));
    assert_int_equal(a->nconsts, b->nconsts);
    for (uint32_t i = 0; i < a->nconsts; i++) assert_same_const(a->consts[i], b->consts[i]);
    assert_int_equal(a->nnames, b->nnames);
    for (uint32_t i = 0; i < a->nnames; i++) assert_same_str(a->names[i], b->names[i]);
    assert_int_equal(a->nexc, b->nexc);
    for (uint32_t i = 0; i < a->nexc; i++) {
        assert_int_equal(a->exc[i].start, b->exc[i].start);
        assert_int_equal(a->exc[i].end, b->exc[i].end);
        assert_int_equal(a->exc[i].handler, b->exc[i].handler);
        if (compare_pos) {
            assert_int_equal(a->exc[i].pos.line, b->exc[i].pos.line);
            assert_int_equal(a->exc[i].pos.col, b->exc[i].pos.col);
        }
    }
    if (compare_pos) {
        assert_same_str(a->filename, b->filename);
        assert_int_equal(a->firstline, b->firstline);
        for (uint32_t i = 0; i < a->ninstrs; i++) {
            assert_int_equal(a->pos[i].line, b->pos[i].line);
            assert_int_equal(a->pos[i].col, b->pos[i].col);
        }
    }
}

static void assert_same_program(const GvProgram *a, const GvProgram *b, bool compare_pos) {
    if (compare_pos) assert_same_str(a->filename, b->filename);
    assert_int_equal(a->ncode, b->ncode);
    for (uint32_t i = 0; i < a->ncode; i++) assert_same_code(a->code[i], b->code[i], compare_pos);
}

/* A program built by hand that uses every field and every kind of constant,
 * including values the assembler would never make (a NUL inside a string,
 * an operand at GV_ARG_MAX, positions that are not in order). */
#define OPCODE_MARK 0xabcdefu  /* an operand whose bytes are easy to find in the image */
#define UTF8_MARK "QZQZ"       /* a string constant easy to find in the image */
static GvProgram *hand_program(void) {
    GvObject *file = S("hand.gva");
    GvProgram *p = gv_program_new(file, 2);
    assert_non_null(p);

    GvObject *name = S("main");
    GvCode *c = gv_code_new(name, file, 1, 3, 6, 9, 2, 2);
    gv_decref(name);
    assert_non_null(c);
    c->firstline = 17;
    c->localnames[0] = S("arg");
    c->localnames[1] = S("x");
    c->localnames[2] = S("ünïcode");
    c->consts[0] = gv_none();
    c->consts[1] = gv_bool(false);
    c->consts[2] = gv_bool(true);
    c->consts[3] = gv_int(INT64_MIN);
    c->consts[4] = gv_int(-1);
    c->consts[5] = gv_float(-0.0);
    c->consts[6] = gv_float(0.1);
    c->consts[7] = gv_obj(Sn("h\xc3\xa9llo\n\0end", 11));
    c->consts[8] = gv_obj(S(UTF8_MARK));
    c->names[0] = S("print");
    c->names[1] = S("ValueError");
    c->instrs[0] = GV_MAKE_INSTR(GV_OP_LOAD_CONST, 7);
    c->instrs[1] = GV_MAKE_INSTR(GV_OP_LOAD_GLOBAL, 1);
    c->instrs[2] = GV_MAKE_INSTR(GV_OP_CALL, OPCODE_MARK);
    c->instrs[3] = GV_MAKE_INSTR(GV_OP_JUMP, GV_ARG_MAX);
    c->instrs[4] = GV_MAKE_INSTR(GV_OP_POP_EXCEPT, 0);
    c->instrs[5] = GV_MAKE_INSTR(GV_NUM_OPCODES - 1, 0);
    for (uint32_t i = 0; i < 6; i++) c->pos[i] = (GvSrcPos){100 - i, i * 3 + 1};
    c->exc[0] = (GvExcEntry){1, 3, 4, 0, 0, {18, 1}};
    c->exc[1] = (GvExcEntry){0, 5, 5, 0, 0, {19, 2}};
    p->code[0] = c;

    name = S("f");
    c = gv_code_new(name, file, 0, 0, 1, 0, 0, 0);
    gv_decref(name);
    assert_non_null(c);
    c->firstline = 1;
    c->instrs[0] = GV_MAKE_INSTR(GV_OP_RETURN_VALUE, 0);
    c->pos[0] = (GvSrcPos){2, 5};
    p->code[1] = c;

    gv_decref(file);
    return p;
}

/* An image built byte by byte, to write what gv_bytecode_save never would. */
typedef struct Img {
    uint8_t b[512];
    size_t n;
} Img;

static void img_u8(Img *m, uint8_t v) {
    assert_true(m->n < sizeof m->b);
    m->b[m->n++] = v;
}
static void img_u32(Img *m, uint32_t v) {
    for (int i = 0; i < 4; i++) img_u8(m, (uint8_t)(v >> (8 * i)));
}
static void img_str(Img *m, const char *s) {
    img_u32(m, (uint32_t)strlen(s));
    for (const char *q = s; *q; q++) img_u8(m, (uint8_t)*q);
}
static void img_header(Img *m) {
    m->n = 0;
    img_u8(m, 'G');
    img_u8(m, 'V');
    img_u8(m, 'C');
    img_u8(m, 0);
    img_u32(m, GV_BYTECODE_VERSION);
}

/* Expects the load to fail with `needle` in the message. */
static void assert_load_fails(const uint8_t *data, size_t len, const char *needle) {
    GvDiag d;
    GvProgram *p = load(data, len, &d);
    if (p) {
        program_free(p);
        fail_msg("loaded, expected an error containing \"%s\"", needle);
    }
    assert_int_equal(d.line, 0);
    if (!strstr(d.text, needle)) fail_msg("\"%s\" does not contain \"%s\"", d.text, needle);
    assert_true(strncmp(d.text, "t.gvc: error: ", 14) == 0);
}

static size_t find(const uint8_t *data, size_t len, const void *what, size_t n) {
    const uint8_t *at = memmem(data, len, what, n);
    assert_non_null(at);
    return (size_t)(at - data);
}

/* ------------------------------------------------------------ save/load */

static void test_round_trip_preserves_every_field(void **state) {
    (void)state;
    GvProgram *p = hand_program();
    uint8_t *img;
    size_t len;
    save(p, &img, &len);
    GvDiag d;
    GvProgram *q = load(img, len, &d);
    if (!q) fail_msg("load failed: %s", d.text);
    assert_same_program(p, q, true);
    /* The code objects point to the program's file name. */
    assert_ptr_equal(q->code[0]->filename, q->filename);

    /* Saving the loaded program gives the same bytes again. */
    uint8_t *img2;
    size_t len2;
    save(q, &img2, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(img, img2, len);
    free(img);
    free(img2);
    program_free(p);
    program_free(q);
}

static void test_verifier_results_are_not_stored(void **state) {
    (void)state;
    GvProgram *p = hand_program();
    uint8_t *img;
    size_t len;
    save(p, &img, &len);
    p->code[0]->max_stack = 9;
    p->code[0]->verified = true;
    p->code[0]->exc[0].depth = 4;
    p->code[0]->exc[0].exc_depth = 2;
    uint8_t *img2;
    size_t len2;
    save(p, &img2, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(img, img2, len);

    GvDiag d;
    GvProgram *q = load(img2, len2, &d);
    assert_non_null(q);
    assert_false(q->code[0]->verified);
    assert_int_equal(q->code[0]->max_stack, 0);
    assert_int_equal(q->code[0]->exc[0].depth, 0);
    assert_int_equal(q->code[0]->exc[0].exc_depth, 0);
    free(img);
    free(img2);
    program_free(p);
    program_free(q);
}

static void test_image_starts_with_magic_and_version(void **state) {
    (void)state;
    GvProgram *p = hand_program();
    uint8_t *img;
    size_t len;
    save(p, &img, &len);
    assert_memory_equal(img, "GVC\0\2\0\0\0", 8);
    assert_true(gv_bytecode_is(img, len));
    assert_true(gv_bytecode_is(img, 4));
    assert_false(gv_bytecode_is(img, 3));
    assert_false(gv_bytecode_is((const uint8_t *)".func main\n", 11));
    assert_false(gv_bytecode_is(NULL, 0));
    free(img);
    program_free(p);
}

static void test_minimal_image_loads(void **state) {
    (void)state;
    Img m;
    img_header(&m);
    img_str(&m, "x.gva");
    img_u32(&m, 1);
    img_str(&m, "f");
    for (int i = 0; i < 8; i++) img_u32(&m, 0); /* nparams .. nexc (flags too), all empty */
    GvDiag d;
    GvProgram *p = load(m.b, m.n, &d);
    if (!p) fail_msg("%s", d.text);
    assert_int_equal(p->ncode, 1);
    assert_string_equal(gv_str_cstr(p->code[0]->name), "f");
    assert_string_equal(gv_str_cstr(p->filename), "x.gva");
    assert_int_equal(p->code[0]->ninstrs, 0);
    program_free(p);
}

/* ------------------------------------------------------------ corruption */

static void test_empty_file_is_rejected(void **state) {
    (void)state;
    GvDiag d;
    assert_null(load(NULL, 0, &d));
    assert_string_equal(d.text, "t.gvc: error: not a gilvm bytecode file (bad magic number); the file is empty");
}

static void test_bad_magic_is_rejected(void **state) {
    (void)state;
    GvProgram *p = hand_program();
    uint8_t *img;
    size_t len;
    save(p, &img, &len);
    img[2] = 'X';
    assert_load_fails(img, len, "not a gilvm bytecode file");
    assert_load_fails((const uint8_t *)".func main\n.end\n", 16, "not a gilvm bytecode file");
    free(img);
    program_free(p);
}

/* ------------------------------------------------------------ damaged magic */

#define DAMAGED "not a gilvm bytecode file (bad magic number); it looks like a damaged .gvc"

static void test_damaged_magic_is_recognised(void **state) {
    (void)state;
    GvProgram *p = hand_program();
    uint8_t *img;
    size_t len;
    save(p, &img, &len);
    /* One byte of the magic wrong, in each place: still bytecode, whatever the name. */
    for (int i = 0; i < 4; i++) {
        img[i] ^= 0x20;
        assert_true(gv_bytecode_looks_damaged(img, len, "prog.bin"));
        assert_true(gv_bytecode_looks_damaged(img, len, NULL));
        assert_load_fails(img, len, DAMAGED);
        img[i] ^= 0x20;
    }
    /* Every bit of the magic flipped: the NUL bytes of the version still show it. */
    for (int i = 0; i < 4; i++) img[i] = (uint8_t)~img[i];
    assert_true(gv_bytecode_looks_damaged(img, len, "prog.bin"));
    assert_load_fails(img, len, DAMAGED);
    for (int i = 0; i < 4; i++) img[i] = (uint8_t)~img[i];
    /* Intact: not damaged. */
    assert_false(gv_bytecode_looks_damaged(img, len, "prog.gvc"));
    /* Cut inside the magic, or right after it. */
    assert_true(gv_bytecode_looks_damaged((const uint8_t *)"GV", 2, "prog.bin"));
    assert_true(gv_bytecode_looks_damaged((const uint8_t *)"GVC", 3, "prog.bin"));
    assert_load_fails((const uint8_t *)"GVC", 3, DAMAGED);
    assert_load_fails((const uint8_t *)"GV", 2, DAMAGED);
    free(img);
    program_free(p);
}

static void test_text_is_not_taken_for_damaged_bytecode(void **state) {
    (void)state;
    static const char *texts[] = {
        ".func main\n.end\n", "; a comment\n.func main\n.end\n", "", "G", "GVX is not a mnemonic\n",
        "\xef\xbb\xbf.func main\n.end\n", /* a UTF-8 byte order mark */
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const uint8_t *t = (const uint8_t *)texts[i];
        if (gv_bytecode_looks_damaged(t, strlen(texts[i]), "prog.gva"))
            fail_msg("\"%s\" taken for damaged bytecode", texts[i]);
        assert_false(gv_bytecode_looks_damaged(t, strlen(texts[i]), NULL));
    }
    /* Named .gvc, text is refused as bytecode (as Python treats a .pyc). */
    const uint8_t *t = (const uint8_t *)texts[0];
    assert_true(gv_bytecode_looks_damaged(t, strlen(texts[0]), "dir/prog.gvc"));
    assert_true(gv_bytecode_looks_damaged(t, strlen(texts[0]), "PROG.GVC"));
    assert_false(gv_bytecode_looks_damaged(t, strlen(texts[0]), "gvc"));
    assert_load_fails(t, strlen(texts[0]), "not a gilvm bytecode file (bad magic number); a .gvc file must hold bytecode");
}

/* Writes bytes to DIR/NAME; returns the path (malloc'ed). */
static char *write_file(const char *dir, const char *name, const void *data, size_t len) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    assert_non_null(path);
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* GvProgram_LoadFile (what `gilvm run` calls) on the file path: NULL, and
 * the diagnostic is "PATH: error: " + want. */
static void assert_file_fails(const char *path, const char *want) {
    GvDiag d;
    GvProgram *p = GvProgram_LoadFile(path, &d);
    if (p) {
        program_free(p);
        fail_msg("%s loaded, expected: %s", path, want);
    }
    char expect[1024];
    snprintf(expect, sizeof expect, "%s: error: %s", path, want);
    assert_string_equal(d.text, expect);
    unlink(path);
}

static void test_load_file_reports_damaged_gvc(void **state) {
    (void)state;
    char dir[] = "/tmp/gv_damaged_XXXXXX";
    assert_non_null(mkdtemp(dir));
    GvProgram *p = assemble(".func main\n LOAD_CONST 7\n RETURN_VALUE\n.end\n");
    assert_verifies(p);
    uint8_t *img;
    size_t len;
    save(p, &img, &len);
    program_free(p);

    /* The intact image loads from a file. */
    char *path = write_file(dir, "ok.gvc", img, len);
    GvDiag d;
    p = GvProgram_LoadFile(path, &d);
    if (!p) fail_msg("%s", d.text);
    program_free(p);
    unlink(path);
    free(path);

    /* One flipped magic byte: before, read as text ("1:4: error: NUL byte in source"). */
    img[1] ^= 0x01;
    path = write_file(dir, "flipped.gvc", img, len);
    assert_file_fails(path, DAMAGED);
    free(path);
    path = write_file(dir, "flipped.out", img, len); /* the bytes say it, not the name */
    assert_file_fails(path, DAMAGED);
    free(path);
    img[1] ^= 0x01;

    /* The magic cut short. */
    path = write_file(dir, "cut.out", img, 3);
    assert_file_fails(path, DAMAGED);
    free(path);
    path = write_file(dir, "cut2.gvc", img, 2);
    assert_file_fails(path, DAMAGED);
    free(path);
    path = write_file(dir, "empty.gvc", "", 0);
    assert_file_fails(path, "not a gilvm bytecode file (bad magic number); the file is empty");
    free(path);

    /* Text is still assembled when nothing says bytecode... */
    const char *src = ".func main\n LOAD_CONST 7\n RETURN_VALUE\n.end\n";
    path = write_file(dir, "text.gva", src, strlen(src));
    p = GvProgram_LoadFile(path, &d);
    if (!p) fail_msg("%s", d.text);
    program_free(p);
    unlink(path);
    free(path);
    /* ...and bad text still gets the assembler's error. */
    path = write_file(dir, "bad.gva", "FOO\n", 4);
    assert_null(GvProgram_LoadFile(path, &d));
    assert_non_null(strstr(d.text, ":1:1: error: unknown mnemonic 'FOO'"));
    unlink(path);
    free(path);

    free(img);
    assert_int_equal(rmdir(dir), 0);
}

static void test_wrong_version_is_rejected(void **state) {
    (void)state;
    GvProgram *p = hand_program();
    uint8_t *img;
    size_t len;
    save(p, &img, &len);
    img[4] = 1; /* the format before function flags */
    GvDiag d;
    assert_null(load(img, len, &d));
    assert_string_equal(d.text, "t.gvc: error: unsupported bytecode version 1 "
                                "(this gilvm reads version 2)");
    img[4] = 0;
    img[7] = 0x80;
    assert_load_fails(img, len, "unsupported bytecode version 2147483648 ");
    free(img);
    program_free(p);
}

static void test_every_truncation_is_rejected(void **state) {
    (void)state;
    GvProgram *p = hand_program();
    uint8_t *img;
    size_t len;
    save(p, &img, &len);
    for (size_t cut = 0; cut < len; cut++) {
        GvDiag d;
        GvProgram *q = load(img, cut, &d);
        if (q) {
            program_free(q);
            fail_msg("an image cut to %zu of %zu bytes loaded", cut, len);
        }
        assert_true(strlen(d.text) > 0);
    }
    GvDiag d;
    assert_null(load(img, 6, &d));
    assert_string_equal(d.text,
                        "t.gvc: error: at byte offset 4: file ends inside the version "
                        "(4 bytes needed, 2 left)");
    free(img);
    program_free(p);
}

/* Every image one bit away from a valid one either fails with a message or
 * loads; what loads goes on to the disassembler and the verifier, which must
 * cope with whatever the loader let through (the verifier is what stands
 * between a corrupted file and the eval loop). Run under ASan. */
static void test_every_bit_flip_fails_cleanly_or_loads(void **state) {
    (void)state;
    GvProgram *p = hand_program();
    /* Valid code in the image too, so that flips reach the verifier's paths. */
    GvProgram *a = assemble(".func main\n"
                            ".local x\n"
                            ".try a b h\n"
                            "a:\n"
                            "    LOAD_CONST 1\n"
                            "    STORE_FAST x\n"
                            "b:\n"
                            "    LOAD_CONST \"s\"\n"
                            "    RETURN_VALUE\n"
                            "h:\n"
                            "    POP_TOP\n"
                            "    POP_EXCEPT\n"
                            "    LOAD_GLOBAL x\n"
                            "    RETURN_VALUE\n"
                            ".end\n");
    const GvProgram *progs[] = {p, a};
    size_t loaded = 0, refused = 0;
    for (size_t k = 0; k < 2; k++) {
        uint8_t *img;
        size_t len;
        save(progs[k], &img, &len);
        for (size_t i = 0; i < len; i++) {
            for (int bit = 0; bit < 8; bit++) {
                img[i] ^= (uint8_t)(1u << bit);
                GvDiag d;
                GvProgram *q = load(img, len, &d);
                if (q) {
                    loaded++;
                    char *text = dis_text(q);
                    free(text);
                    GvDiag vd;
                    memset(&vd, 0, sizeof vd);
                    if (gv_verify_program(q, &vd) != 0) assert_true(strlen(vd.text) > 0);
                    program_free(q);
                } else {
                    refused++;
                    assert_true(strlen(d.text) > 0);
                }
                img[i] ^= (uint8_t)(1u << bit);
            }
        }
        free(img);
    }
    /* Both outcomes happen: the test exercises the loader's checks and what
     * lies beyond them. */
    assert_true(loaded > 0);
    assert_true(refused > 0);
    program_free(p);
    program_free(a);
}

static void test_huge_function_count_fails_before_allocating(void **state) {
    (void)state;
    Img m;
    img_header(&m);
    img_str(&m, "x.gva");
    img_u32(&m, 0x80000000u);
    while (m.n < 100) img_u8(&m, 0);
    assert_load_fails(m.b, m.n,
                      "at byte offset 17: the function count (2147483648) is more than the "
                      "79 bytes left");
}

static void test_huge_counts_inside_a_function_fail(void **state) {
    (void)state;
    /* For each count field of a function (local, instruction, constant,
     * name, exception entry), an image where that count is enormous. */
    static const char *what[] = {"the local count", "the instruction count",
                                 "the constant count", "the name count",
                                 "the exception entry count"};
    for (int field = 0; field < 5; field++) {
        Img m;
        img_header(&m);
        img_str(&m, "x.gva");
        img_u32(&m, 1);
        img_str(&m, "f");
        img_u32(&m, 0);                                /* nparams */
        img_u32(&m, field == 0 ? 0xffffffffu : 0);     /* nlocals */
        if (field == 0) goto pad;
        img_u32(&m, 1);                                /* firstline */
        img_u32(&m, 0);                                /* flags */
        img_u32(&m, field == 1 ? 0x7fffffffu : 0);     /* ninstrs */
        if (field == 1) goto pad;
        img_u32(&m, field == 2 ? 0xfffffff0u : 0);     /* nconsts */
        if (field == 2) goto pad;
        img_u32(&m, field == 3 ? 0x40000000u : 0);     /* nnames */
        if (field == 3) goto pad;
        img_u32(&m, 0x10000000u);                      /* nexc */
    pad:
        for (int i = 0; i < 40; i++) img_u8(&m, 0);
        assert_load_fails(m.b, m.n, what[field]);
    }
}

static void test_huge_string_length_fails(void **state) {
    (void)state;
    Img m;
    img_header(&m);
    img_u32(&m, 0xfffffffeu); /* the filename's length */
    img_str(&m, "abc");
    assert_load_fails(m.b, m.n,
                      "at byte offset 8: the length of the source filename (4294967294) is "
                      "more than the 7 bytes left");
}

static void test_trailing_bytes_are_rejected(void **state) {
    (void)state;
    GvProgram *p = hand_program();
    uint8_t *img;
    size_t len;
    save(p, &img, &len);
    uint8_t *longer = malloc(len + 3);
    assert_non_null(longer);
    memcpy(longer, img, len);
    memcpy(longer + len, "abc", 3);
    char want[80];
    snprintf(want, sizeof want, "at byte offset %zu: 3 trailing bytes", len);
    assert_load_fails(longer, len + 3, want);
    free(longer);
    free(img);
    program_free(p);
}

static void test_invalid_utf8_string_is_rejected(void **state) {
    (void)state;
    GvProgram *p = hand_program();
    uint8_t *img;
    size_t len;
    save(p, &img, &len);
    size_t at = find(img, len, UTF8_MARK, 4);
    img[at + 1] = 0xff; /* never valid in UTF-8 */
    char want[80];
    snprintf(want, sizeof want, "at byte offset %zu: a str constant is not valid UTF-8", at - 4);
    assert_load_fails(img, len, want);
    img[at + 1] = 0xc0; /* an overlong encoding of NUL: C0 80 */
    img[at + 2] = 0x80;
    assert_load_fails(img, len, "is not valid UTF-8");
    free(img);
    program_free(p);
}

static void test_nul_in_a_name_is_rejected(void **state) {
    (void)state;
    GvProgram *p = hand_program();
    uint8_t *img;
    size_t len;
    save(p, &img, &len);
    size_t at = find(img, len, "ValueError", 10);
    img[at + 5] = 0;
    assert_load_fails(img, len, "a global name contains a NUL byte");
    free(img);
    program_free(p);
}

static void test_opcode_out_of_range_is_rejected(void **state) {
    (void)state;
    GvProgram *p = hand_program();
    uint8_t *img;
    size_t len;
    save(p, &img, &len);
    const uint8_t word[4] = {GV_OP_CALL, 0xef, 0xcd, 0xab}; /* CALL OPCODE_MARK */
    size_t at = find(img, len, word, 4);
    img[at] = GV_NUM_OPCODES;
    char want[80];
    snprintf(want, sizeof want, "at byte offset %zu: unknown opcode %d in instruction 2", at,
             GV_NUM_OPCODES);
    assert_load_fails(img, len, want);
    img[at] = 0xff;
    assert_load_fails(img, len, "unknown opcode 255");
    free(img);
    program_free(p);
}

static void test_unknown_constant_tag_is_rejected(void **state) {
    (void)state;
    Img m;
    img_header(&m);
    img_str(&m, "x.gva");
    img_u32(&m, 1);
    img_str(&m, "f");
    img_u32(&m, 0); /* nparams */
    img_u32(&m, 0); /* nlocals */
    img_u32(&m, 1); /* firstline */
    img_u32(&m, 0); /* flags */
    img_u32(&m, 0); /* ninstrs */
    img_u32(&m, 1); /* nconsts */
    img_u8(&m, 6);  /* no such tag */
    img_u32(&m, 0); /* nnames */
    img_u32(&m, 0); /* nexc */
    assert_load_fails(m.b, m.n, "at byte offset 50: unknown constant tag 6");
}

static void test_more_params_than_locals_is_rejected(void **state) {
    (void)state;
    Img m;
    img_header(&m);
    img_str(&m, "x.gva");
    img_u32(&m, 1);
    img_str(&m, "f");
    img_u32(&m, 2); /* nparams */
    img_u32(&m, 1); /* nlocals */
    img_str(&m, "a");
    for (int i = 0; i < 5; i++) img_u32(&m, 0);
    assert_load_fails(m.b, m.n, "2 parameters but only 1 locals");
}

static void test_save_rejects_constants_with_no_encoding(void **state) {
    (void)state;
    GvProgram *p = hand_program();
    GvCode *c = p->code[1];
    /* A code object as a constant: nothing in the format can hold it. */
    GvCode *bad = gv_code_new(NULL, NULL, 0, 0, 0, 0, 0, 0);
    assert_non_null(bad);
    /* Swap in a bigger constant table holding it. */
    GvCode *d = gv_code_new(c->name, c->filename, 0, 0, 1, 1, 0, 0);
    assert_non_null(d);
    d->consts[0] = gv_obj(&bad->ob);
    d->instrs[0] = c->instrs[0];
    p->code[1] = d;
    gv_decref(&c->ob);
    uint8_t *img = (uint8_t *)1;
    size_t len = 1;
    assert_int_equal(gv_bytecode_save(p, &img, &len), -1);
    assert_null(img);
    assert_int_equal(len, 0);
    program_free(p);
}

/* ------------------------------------------------------------ disassembly */

static void test_dis_text_has_directives_labels_and_comments(void **state) {
    (void)state;
    GvObject *name = S("f"), *file = S("f.gva");
    GvCode *c = gv_code_new(name, file, 1, 2, 5, 2, 1, 1);
    gv_decref(name);
    gv_decref(file);
    assert_non_null(c);
    c->localnames[0] = S("a");
    c->localnames[1] = S("b");
    c->consts[0] = gv_float(2.0);
    c->consts[1] = gv_obj(S("t\"ab\\\n\t\xc3\xa9"));
    c->names[0] = S("print");
    c->instrs[0] = GV_MAKE_INSTR(GV_OP_LOAD_CONST, 0);
    c->instrs[1] = GV_MAKE_INSTR(GV_OP_POP_JUMP_IF_TRUE, 4);
    c->instrs[2] = GV_MAKE_INSTR(GV_OP_LOAD_GLOBAL, 0);
    c->instrs[3] = GV_MAKE_INSTR(GV_OP_CALL, 0);
    c->instrs[4] = GV_MAKE_INSTR(GV_OP_LOAD_CONST, 1);
    for (uint32_t i = 0; i < 5; i++) c->pos[i] = (GvSrcPos){i + 3, 5};
    c->exc[0] = (GvExcEntry){2, 4, 4, 0, 0, {2, 1}};
    char *text = dis_code_text(c);
    const char *want =
        ".func f a\n"
        ".local b\n"
        ".try L2 L4 L4\n"
        "    LOAD_CONST 2.0                      ; offset 0, line 3\n"
        "    POP_JUMP_IF_TRUE L4                 ; offset 1, line 4\n"
        "L2:\n"
        "    LOAD_GLOBAL print                   ; offset 2, line 5\n"
        "    CALL 0                              ; offset 3, line 6\n"
        "L4:\n"
        "    LOAD_CONST \"t\\\"ab\\\\\\n\\t\xc3\xa9\"           ; offset 4, line 7\n"
        ".end\n";
    assert_string_equal(text, want);
    free(text);
    gv_decref(&c->ob);
}

static void test_dis_shows_invalid_code_without_failing(void **state) {
    (void)state;
    GvObject *name = S("g");
    GvCode *c = gv_code_new(name, NULL, 0, 0, 5, 0, 0, 1);
    gv_decref(name);
    assert_non_null(c);
    c->instrs[0] = GV_MAKE_INSTR(GV_OP_LOAD_CONST, 3);
    c->instrs[1] = GV_MAKE_INSTR(GV_OP_LOAD_FAST, 0);
    c->instrs[2] = GV_MAKE_INSTR(GV_OP_JUMP, 77);
    c->instrs[3] = GV_MAKE_INSTR(GV_OP_NOP, 5);
    c->instrs[4] = GV_MAKE_INSTR(250, 0);
    c->exc[0] = (GvExcEntry){0, 99, 5, 0, 0, {0, 0}};
    char *text = dis_code_text(c);
    assert_non_null(strstr(text, ".try L0 99 L5\n"));
    assert_non_null(strstr(text, "LOAD_CONST 3"));
    assert_non_null(strstr(text, "(invalid: no such constant)"));
    assert_non_null(strstr(text, "(invalid: no such local)"));
    assert_non_null(strstr(text, "JUMP 77"));
    assert_non_null(strstr(text, "(invalid: jump out of the function)"));
    assert_non_null(strstr(text, "(invalid: an operand on an instruction that takes none)"));
    assert_non_null(strstr(text, "(invalid: unknown opcode)"));
    assert_non_null(strstr(text, "L5:\n.end\n"));
    free(text);
    gv_decref(&c->ob);
}

static void test_dis_marks_inf_and_nan(void **state) {
    (void)state;
    GvObject *name = S("h");
    GvCode *c = gv_code_new(name, NULL, 0, 0, 3, 3, 0, 0);
    gv_decref(name);
    assert_non_null(c);
    c->consts[0] = gv_float(INFINITY);
    c->consts[1] = gv_float(-INFINITY);
    c->consts[2] = gv_float(NAN);
    for (uint32_t i = 0; i < 3; i++) c->instrs[i] = GV_MAKE_INSTR(GV_OP_LOAD_CONST, i);
    char *text = dis_code_text(c);
    assert_non_null(strstr(text, "LOAD_CONST 1.7976931348623157e308 "));
    assert_non_null(strstr(text, "(inf: no literal in .gva"));
    assert_non_null(strstr(text, "LOAD_CONST -1.7976931348623157e308 "));
    assert_non_null(strstr(text, "(-inf: no literal in .gva"));
    assert_non_null(strstr(text, "LOAD_CONST 0.0 "));
    assert_non_null(strstr(text, "(nan: no literal in .gva"));
    free(text);
    gv_decref(&c->ob);
}

static void test_dis_marks_strings_with_nul(void **state) {
    (void)state;
    GvObject *name = S("h");
    GvCode *c = gv_code_new(name, NULL, 0, 0, 1, 1, 0, 0);
    gv_decref(name);
    assert_non_null(c);
    c->consts[0] = gv_obj(Sn("a\0b", 3));
    c->instrs[0] = GV_MAKE_INSTR(GV_OP_LOAD_CONST, 0);
    char *text = dis_code_text(c);
    assert_non_null(strstr(text, "LOAD_CONST \"ab\" "));
    assert_non_null(strstr(text, "(NUL bytes: no literal in .gva, left out)"));
    free(text);
    gv_decref(&c->ob);
}

/* ------------------------------------------------------------ with the assembler */

static const char sample_src[] =
    "; every construct of the assembly\n"
    ".func add a b\n"
    "    LOAD_FAST a\n"
    "    LOAD_FAST b\n"
    "    BINARY_ADD\n"
    "    RETURN_VALUE\n"
    ".end\n"
    "\n"
    ".func main\n"
    ".local x i\n"
    ".try t0 t1 handler\n"
    "    LOAD_CONST 0\n"
    "    STORE_FAST i\n"
    "loop:\n"
    "    LOAD_FAST i\n"
    "    LOAD_CONST 3\n"
    "    COMPARE_LT\n"
    "    POP_JUMP_IF_FALSE done\n"
    "    LOAD_FAST i\n"
    "    LOAD_CONST 1\n"
    "    BINARY_ADD\n"
    "    STORE_FAST i\n"
    "    JUMP loop\n"
    "done:\n"
    "t0:\n"
    "    LOAD_GLOBAL add\n"
    "    LOAD_CONST 1\n"
    "    LOAD_CONST 2.5\n"
    "    CALL 2\n"
    "    STORE_FAST x\n"
    "    LOAD_CONST \"a\\tb\\n\\\"q\\\" \\\\ \xc3\xa9 ; not a comment\"\n"
    "    POP_TOP\n"
    "t1:\n"
    "    JUMP out\n"
    "handler:\n"
    "    LOAD_GLOBAL ValueError\n"
    "    CHECK_EXC_MATCH\n"
    "    POP_JUMP_IF_FALSE reraise\n"
    "    POP_TOP\n"
    "    POP_EXCEPT\n"
    "    JUMP out\n"
    "reraise:\n"
    "    RERAISE\n"
    "out:\n"
    "    LOAD_CONST true\n"
    "    LOAD_CONST false\n"
    "    BUILD_LIST 2\n"
    "    LOAD_CONST -7\n"
    "    LOAD_CONST 0x1f\n"
    "    BUILD_DICT 1\n"
    "    ROT_TWO\n"
    "    POP_TOP\n"
    "    LOAD_CONST 1e-3\n"
    "    LOAD_CONST -9223372036854775808\n"
    "    ROT_THREE\n"
    "    POP_TOP\n"
    "    POP_TOP\n"
    "    POP_TOP\n"
    "    LOAD_CONST none\n"
    "    RETURN_VALUE\n"
    ".end\n"
    "\n"
    "; nested ranges (their order is kept), labels shared by two ranges\n"
    ".func nested\n"
    ".try i0 i1 hi\n"
    ".try o0 o1 ho\n"
    "o0:\n"
    "i0:\n"
    "    LOAD_GLOBAL main\n"
    "    POP_TOP\n"
    "i1:\n"
    "    LOAD_CONST 1\n"
    "    POP_TOP\n"
    "o1:\n"
    "    LOAD_CONST none\n"
    "    RETURN_VALUE\n"
    "hi:\n"
    "    POP_TOP\n"
    "    POP_EXCEPT\n"
    "    LOAD_CONST 1\n"
    "    RETURN_VALUE\n"
    "ho:\n"
    "    POP_TOP\n"
    "    POP_EXCEPT\n"
    "    LOAD_CONST 2\n"
    "    RETURN_VALUE\n"
    ".end\n"
    "\n"
    "; a range that runs to the end of the function: a label before .end\n"
    ".func tail\n"
    ".try a e h\n"
    "    JUMP a\n"
    "h:\n"
    "    POP_TOP\n"
    "    POP_EXCEPT\n"
    "    LOAD_CONST none\n"
    "    RETURN_VALUE\n"
    "a:\n"
    "    LOAD_CONST none\n"
    "    RETURN_VALUE\n"
    "e:\n"
    ".end\n";

static void test_asm_save_load_dis_matches_original(void **state) {
    (void)state;
    GvProgram *p = assemble(sample_src);
    uint8_t *img;
    size_t len;
    save(p, &img, &len);
    GvDiag d;
    GvProgram *q = load(img, len, &d);
    if (!q) fail_msg("load failed: %s", d.text);
    assert_same_program(p, q, true);
    char *a = dis_text(p), *b = dis_text(q);
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(img);
    program_free(p);
    program_free(q);
}

static void test_dis_output_reassembles_to_same_code(void **state) {
    (void)state;
    GvProgram *p = assemble(sample_src);
    char *text = dis_text(p);
    GvProgram *q = assemble(text);
    assert_same_program(p, q, false);
    /* The sample is a valid program, and so is its disassembly. */
    assert_verifies(p);
    assert_verifies(q);
    /* And the second disassembly equals the first, but for source lines. */
    char *text2 = dis_text(q);
    GvProgram *r = assemble(text2);
    assert_same_program(q, r, false);
    free(text);
    free(text2);
    program_free(p);
    program_free(q);
    program_free(r);
}

/* Constants the assembler cannot be asked for directly round-trip through the
 * disassembly: every finite float bit for bit, extreme ints, awkward strings. */
static void test_dis_constants_reassemble_exactly(void **state) {
    (void)state;
    static const double floats[] = {
        0.1, 0.2 + 0.1, 2.0, -2.5, 1e16, 1e22, 1.5e-7, 123456789.125, 5e-324,
        2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 0.0, 1.0 / 3.0, 100.0, 1e100,
    };
    static const int64_t ints[] = {0, -1, INT64_MAX, INT64_MIN, 42};
    static const char *strs[] = {
        "", "\\", "\"", "\n\t", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "semi ; colon",
        "back\\nslash", "raw \r\x01\x7f controls",
    };
    size_t nf = sizeof floats / sizeof floats[0], ni = sizeof ints / sizeof ints[0],
           ns = sizeof strs / sizeof strs[0];
    uint32_t n = (uint32_t)(nf + ni + ns);
    GvObject *name = S("main");
    GvCode *c = gv_code_new(name, NULL, 0, 0, 2 * n + 2, n + 1, 0, 0);
    gv_decref(name);
    assert_non_null(c);
    uint32_t k = 0;
    for (size_t i = 0; i < nf; i++) c->consts[k++] = gv_float(floats[i]);
    for (size_t i = 0; i < ni; i++) c->consts[k++] = gv_int(ints[i]);
    for (size_t i = 0; i < ns; i++) c->consts[k++] = gv_obj(S(strs[i]));
    c->consts[n] = gv_none();
    for (uint32_t i = 0; i < n; i++) {
        c->instrs[2 * i] = GV_MAKE_INSTR(GV_OP_LOAD_CONST, i);
        c->instrs[2 * i + 1] = GV_MAKE_INSTR(GV_OP_POP_TOP, 0);
    }
    c->instrs[2 * n] = GV_MAKE_INSTR(GV_OP_LOAD_CONST, n);
    c->instrs[2 * n + 1] = GV_MAKE_INSTR(GV_OP_RETURN_VALUE, 0);

    char *text = dis_code_text(c);
    GvProgram *q = assemble(text);
    assert_int_equal(q->ncode, 1);
    GvCode *back = q->code[0];
    /* Compare what each instruction loads: the assembler may number the
     * constants its own way. */
    assert_int_equal(back->ninstrs, c->ninstrs);
    for (uint32_t i = 0; i < c->ninstrs; i++) {
        assert_int_equal(GV_OP(back->instrs[i]), GV_OP(c->instrs[i]));
        if (GV_OP(c->instrs[i]) != GV_OP_LOAD_CONST) continue;
        uint32_t ai = GV_ARG(c->instrs[i]), bi = GV_ARG(back->instrs[i]);
        assert_true(bi < back->nconsts);
        assert_same_const(c->consts[ai], back->consts[bi]);
    }
    free(text);
    program_free(q);
    gv_decref(&c->ob);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_preserves_every_field),
        cmocka_unit_test(test_verifier_results_are_not_stored),
        cmocka_unit_test(test_image_starts_with_magic_and_version),
        cmocka_unit_test(test_minimal_image_loads),
        cmocka_unit_test(test_empty_file_is_rejected),
        cmocka_unit_test(test_bad_magic_is_rejected),
        cmocka_unit_test(test_damaged_magic_is_recognised),
        cmocka_unit_test(test_text_is_not_taken_for_damaged_bytecode),
        cmocka_unit_test(test_load_file_reports_damaged_gvc),
        cmocka_unit_test(test_wrong_version_is_rejected),
        cmocka_unit_test(test_every_truncation_is_rejected),
        cmocka_unit_test(test_every_bit_flip_fails_cleanly_or_loads),
        cmocka_unit_test(test_huge_function_count_fails_before_allocating),
        cmocka_unit_test(test_huge_counts_inside_a_function_fail),
        cmocka_unit_test(test_huge_string_length_fails),
        cmocka_unit_test(test_trailing_bytes_are_rejected),
        cmocka_unit_test(test_invalid_utf8_string_is_rejected),
        cmocka_unit_test(test_nul_in_a_name_is_rejected),
        cmocka_unit_test(test_opcode_out_of_range_is_rejected),
        cmocka_unit_test(test_unknown_constant_tag_is_rejected),
        cmocka_unit_test(test_more_params_than_locals_is_rejected),
        cmocka_unit_test(test_save_rejects_constants_with_no_encoding),
        cmocka_unit_test(test_dis_text_has_directives_labels_and_comments),
        cmocka_unit_test(test_dis_shows_invalid_code_without_failing),
        cmocka_unit_test(test_dis_marks_inf_and_nan),
        cmocka_unit_test(test_dis_marks_strings_with_nul),
        cmocka_unit_test(test_asm_save_load_dis_matches_original),
        cmocka_unit_test(test_dis_output_reassembles_to_same_code),
        cmocka_unit_test(test_dis_constants_reassemble_exactly),
    };
    return gvt_run(argc, argv, tests, gvt_setup, gvt_teardown);
}
