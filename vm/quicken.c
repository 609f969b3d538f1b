/* The quickener.
 *
 * A stack VM spends its time in dispatch: `i = i + 1` is four instructions
 * (LOAD_FAST LOAD_CONST BINARY_ADD STORE_FAST) where a register VM such as
 * Lua's needs one. The quickener finds such sequences after verification and
 * writes a superinstruction over the first word of each, in a copy of the
 * code that only the eval loop reads. The other words keep their original
 * instructions, which serve twice: the superinstruction reads its operands
 * from them, and when its fast path does not apply (operands not ints, an
 * overflow) it runs the sequence's first instruction and lets the rest run as
 * written. So behaviour, errors and traceback lines are exactly those of the
 * original code; only the fast path is fused.
 *
 * A sequence is fused only if nothing can enter it in the middle: no jump or
 * handler targets its inner words, and no exception range starts or ends
 * inside it. One with a LOAD_CONST is fused only if the constant is a small
 * int, which every LOAD_CONST of one becomes (LOAD_SMALL_INT, the int in its
 * operand): the fused op then knows the operand's type without looking.
 *
 * Measured on bench/programs (see bench/README.md): the 30M-iteration loop
 * runs 13 dispatches per iteration unfused and 3 fused. */
#include "quicken.h"

#include <stdlib.h>
#include <string.h>

#include "../runtime/errors.h"
#include "../runtime/frame.h"
#include "../runtime/tstate.h"
#include "opcodes.h"

typedef struct Pattern {
    uint8_t super;
    uint8_t len;
    uint8_t ops[5];
} Pattern;

#define JF GV_OP_POP_JUMP_IF_FALSE
#define LF GV_OP_LOAD_FAST
#define LC GV_OP_LOAD_CONST
#define SF GV_OP_STORE_FAST

/* Longest first: the first match wins. */
static const Pattern patterns[] = {
    /* The tail of a counting loop, `i = i + 1` then back to the test: a
     * register VM's loop instruction (Lua's FORLOOP) in one dispatch. */
    {GV_OP_LFLC_ADD_STORE_JUMP, 5, {LF, LC, GV_OP_BINARY_ADD, SF, GV_OP_JUMP}},
    {GV_OP_LFLC_SUB_STORE_JUMP, 5, {LF, LC, GV_OP_BINARY_SUB, SF, GV_OP_JUMP}},
    {GV_OP_LFLC_ADD_STORE, 4, {LF, LC, GV_OP_BINARY_ADD, SF}},
    {GV_OP_LFLC_SUB_STORE, 4, {LF, LC, GV_OP_BINARY_SUB, SF}},
    {GV_OP_LFLF_ADD_STORE, 4, {LF, LF, GV_OP_BINARY_ADD, SF}},
    {GV_OP_LFLC_LT_JF, 4, {LF, LC, GV_OP_COMPARE_LT, JF}},
    {GV_OP_LFLC_LE_JF, 4, {LF, LC, GV_OP_COMPARE_LE, JF}},
    {GV_OP_LFLC_GT_JF, 4, {LF, LC, GV_OP_COMPARE_GT, JF}},
    {GV_OP_LFLC_GE_JF, 4, {LF, LC, GV_OP_COMPARE_GE, JF}},
    {GV_OP_LFLC_EQ_JF, 4, {LF, LC, GV_OP_COMPARE_EQ, JF}},
    {GV_OP_LFLC_NE_JF, 4, {LF, LC, GV_OP_COMPARE_NE, JF}},
    {GV_OP_LFLF_LT_JF, 4, {LF, LF, GV_OP_COMPARE_LT, JF}},
    {GV_OP_LFLF_LE_JF, 4, {LF, LF, GV_OP_COMPARE_LE, JF}},
    {GV_OP_LFLF_GT_JF, 4, {LF, LF, GV_OP_COMPARE_GT, JF}},
    {GV_OP_LFLF_GE_JF, 4, {LF, LF, GV_OP_COMPARE_GE, JF}},
    {GV_OP_LFLF_EQ_JF, 4, {LF, LF, GV_OP_COMPARE_EQ, JF}},
    {GV_OP_LFLF_NE_JF, 4, {LF, LF, GV_OP_COMPARE_NE, JF}},
    {GV_OP_LFLC_ADD, 3, {LF, LC, GV_OP_BINARY_ADD, 0}},
    {GV_OP_LFLC_SUB, 3, {LF, LC, GV_OP_BINARY_SUB, 0}},
    {GV_OP_LFLF_ADD, 3, {LF, LF, GV_OP_BINARY_ADD, 0}},
    {GV_OP_LF_RETURN, 2, {LF, GV_OP_RETURN_VALUE, 0, 0}},
    {GV_OP_ADD_RETURN, 2, {GV_OP_BINARY_ADD, GV_OP_RETURN_VALUE, 0, 0}},
};

#undef JF
#undef LF
#undef LC
#undef SF

/* Whether constant k is an int that fits in an operand. */
static bool small_int_const(const GvCode *code, uint32_t k) {
    GvValue v = code->consts[k];
    return v.tag == GV_TINT && v.as.i >= GV_SMALL_INT_MIN && v.as.i <= GV_SMALL_INT_MAX;
}

int gv_quicken(GvCode *code) {
    uint32_t n = code->ninstrs;
    /* The copy and the cache live as long as the code: counted against the
     * memory limit (gv_calloc raises MemoryError past it). */
    GvInstr *q = gv_calloc(n ? n : 1, sizeof *q);
    GvGlobalCache *gc = q ? gv_calloc(code->nnames ? code->nnames : 1, sizeof *gc) : NULL;
    /* entered[i]: control can arrive at i other than from i-1. */
    uint8_t *entered = gc ? calloc(n + 1, 1) : NULL;
    if (!entered) {
        gv_free(q);
        gv_free(gc);
        return gc ? gv_err_nomemory() : -1;
    }
    memcpy(q, code->instrs, n * sizeof *q);
    for (uint32_t i = 0; i < n; i++)
        if (gv_opinfo[GV_OP(code->instrs[i])].flags & GV_OPF_JUMP) entered[GV_ARG(code->instrs[i])] = 1;
    for (uint32_t i = 0; i < code->nexc; i++) {
        const GvExcEntry *e = &code->exc[i];
        entered[e->handler] = 1;
        entered[e->start] = 1; /* a range boundary inside a sequence would */
        entered[e->end] = 1;   /* change which handler a fused error meets */
    }
    for (uint32_t i = 0; i < n; i++) {
        GvInstr ins = code->instrs[i];
        if (GV_OP(ins) == GV_OP_LOAD_CONST && small_int_const(code, GV_ARG(ins)))
            q[i] = GV_MAKE_INSTR(GV_OP_LOAD_SMALL_INT, (uint32_t)code->consts[GV_ARG(ins)].as.i);
    }
    for (uint32_t i = 0; i < n;) {
        const Pattern *hit = NULL;
        for (size_t p = 0; p < sizeof patterns / sizeof patterns[0] && !hit; p++) {
            const Pattern *pt = &patterns[p];
            if (i + pt->len > n) continue;
            bool ok = true;
            for (uint32_t k = 0; k < pt->len && ok; k++) {
                ok = GV_OP(code->instrs[i + k]) == pt->ops[k];
                if (k > 0 && entered[i + k]) ok = false;
                if (ok && pt->ops[k] == GV_OP_LOAD_CONST) ok = GV_OP(q[i + k]) == GV_OP_LOAD_SMALL_INT;
            }
            if (ok) hit = pt;
        }
        if (hit) {
            q[i] = GV_MAKE_INSTR(hit->super, GV_ARG(code->instrs[i]));
            i += hit->len;
        } else {
            i++;
        }
    }
    free(entered);
    gv_free(code->quick);
    gv_free(code->gcache);
    code->frame_size = code->nlocals + GV_FRAME_SLOTS + code->max_stack;
    code->quick = q;
    code->gcache = gc;
    return 0;
}

int gv_quicken_program(GvProgram *p) {
    for (uint32_t i = 0; i < p->ncode; i++)
        if (gv_quicken(p->code[i]) < 0) return -1;
    return 0;
}
