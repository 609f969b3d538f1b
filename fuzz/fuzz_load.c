/* fuzz_load: any bytes as a .gvc image.
 *
 * GvProgram_LoadBytes (the loader, then the verifier and quickener) must
 * accept or reject every input without crashing, leaking or allocating
 * more than the input justifies (vm/bytecode.c bounds every count by the
 * bytes left; run.sh caps single allocations with -malloc_limit_mb to hold
 * it to that). An image it accepts must save back to exactly the same bytes:
 * the format has one encoding per program, so a difference means the loader
 * dropped or changed something. The disassembler must print whatever loads,
 * including what .gva cannot write (NaN, infinities, NUL in strings). */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_setup((rlim_t)4 << 30);
    if (!Gv_Initialize()) abort();
    return 0;
}

static void disassemble_to_memory(const GvProgram *p) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return;
    GvProgram_Disassemble(p, f);
    fclose(f);
    free(text);
}

/* One load, with allocation k of the load failing (0: none; only with
 * GV_FUZZ_SWEEP=1, see fuzz_common.h). */
static void load(const uint8_t *data, size_t size, long k) {
    GvDiag d;
    fuzz_alloc_arm(k);
    GvProgram *p = GvProgram_LoadBytes(data, size, "<fuzz.gvc>", &d);
    bool injected = fuzz_alloc.fired;
    fuzz_alloc_disarm();
    if (!p) {
        if (!memchr(d.text, '\0', sizeof d.text) || !strstr(d.text, "error: "))
            fuzz_fail("a rejected image without a diagnostic");
        return;
    }
    void *img = NULL;
    size_t len = 0;
    if (GvProgram_Save(p, &img, &len) == 0) {
        if (len != size || memcmp(img, data, size) != 0)
            fuzz_fail(injected ? "an image loaded despite a failed allocation saves differently"
                               : "a loaded image does not save back to the same bytes");
        free(img);
    }
    disassemble_to_memory(p);
    GvProgram_Free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_with_alloc_failures(data, size, load);
    return 0;
}
