/* fuzz_asm: any bytes as .gva source text.
 *
 * GvProgram_Assemble (assembler, verifier, quickener) must give back a
 * program or a diagnostic for every input, never crash, hang or leak. A
 * program it accepts must also keep the promises of the other layers:
 * - it saves, its .gvc image loads back (a verified program the loader or
 *   the verifier rejects is a bug) and saves again to the same bytes;
 * - its disassembly assembles again into the same functions, instructions,
 *   constants and names (vm/dis.c promises this for code that came from
 *   .gva: only a hand-made .gvc can hold what .gva cannot write).
 * A broken promise aborts, so libFuzzer keeps the input. An input line
 * `; fail-alloc: K` makes the K-th allocation of the assembly fail
 * (fuzz_common.h): then the result must be a program or an "out of memory"
 * diagnostic, still without a leak. */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_setup((rlim_t)4 << 30);
    /* Assembling makes objects (strs, code): they want a thread state. */
    if (!Gv_Initialize()) abort();
    return 0;
}

/* A failed load must say why, in the documented form. */
static void check_diag(const GvDiag *d) {
    if (!memchr(d->text, '\0', sizeof d->text) || !strstr(d->text, "error: "))
        fuzz_fail("a rejected program without a diagnostic");
}

static char *disassemble(const GvProgram *p, size_t *len) {
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f) return NULL;
    GvProgram_Disassemble(p, f);
    fclose(f);
    return text;
}

/* The .gvc round trip: image -> program -> the same image. */
static void check_save_load(const GvProgram *p) {
    void *img = NULL, *img2 = NULL;
    size_t len = 0, len2 = 0;
    if (GvProgram_Save(p, &img, &len) < 0) return; /* out of memory: allowed */
    GvDiag d;
    GvProgram *back = GvProgram_LoadBytes(img, len, "<fuzz.gvc>", &d);
    if (!back) {
        fprintf(stderr, "%s\n", d.text);
        fuzz_fail("a saved program does not load back");
    }
    if (GvProgram_Save(back, &img2, &len2) == 0 && (len != len2 || memcmp(img, img2, len) != 0))
        fuzz_fail("save(load(save(p))) differs from save(p)");
    if (!fuzz_program_eq(p, back)) fuzz_fail("a loaded program differs from the one saved");
    free(img2);
    free(img);
    GvProgram_Free(back);
}

/* The disassembly round trip: text -> program -> text -> the same program. */
static void check_disassembly(const GvProgram *p) {
    size_t len = 0;
    char *text = disassemble(p, &len);
    if (!text) return;
    GvDiag d;
    GvProgram *again = GvProgram_Assemble(text, len, "<fuzz-dis>", &d);
    if (!again) {
        fprintf(stderr, "%s\n--- disassembly:\n%s\n", d.text, text);
        fuzz_fail("a disassembly does not assemble again");
    }
    if (!fuzz_program_eq(p, again)) {
        fprintf(stderr, "--- disassembly:\n%s\n", text);
        fuzz_fail("a disassembly assembles into a different program");
    }
    GvProgram_Free(again);
    free(text);
}

/* One assembly, with allocation k failing (0: none). */
static void assemble(const uint8_t *data, size_t size, long k) {
    GvDiag d;
    fuzz_alloc_arm(k);
    GvProgram *p = GvProgram_Assemble((const char *)data, size, GV_FUZZ_FILENAME, &d);
    fuzz_alloc_disarm(); /* the round trips below must see every allocation succeed */
    if (!p) {
        check_diag(&d);
        return;
    }
    check_save_load(p);
    check_disassembly(p);
    GvProgram_Free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_with_alloc_failures(data, size, assemble);
    return 0;
}
