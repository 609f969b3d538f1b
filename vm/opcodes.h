/* The instruction set, written once.
 *
 * Each GV_OPCODES row is OP(NAME, operand kind, pops, pushes, flags, doc):
 * pops and pushes may use `n`, the operand. The enum, the name table, the
 * assembler, the disassembler, the verifier, the eval loop's dispatch table
 * and the docs (docs/BYTECODE.md, the instruction tables of docs/LANGUAGE.md;
 * docs/generate.sh) all read this list; none keeps a copy in its own order.
 * A row's order is its opcode number, which the .gvc format stores: append new
 * opcodes at the end and bump GV_BYTECODE_VERSION when the meaning of one changes. */
#ifndef GV_OPCODES_H
#define GV_OPCODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum GvOperandKind {
    GV_OPK_NONE,  /* no operand */
    GV_OPK_CONST, /* a constant: int, float, string, none, true, false */
    GV_OPK_LOCAL, /* a local variable's name */
    GV_OPK_NAME,  /* a global name */
    GV_OPK_LABEL, /* a jump target */
    GV_OPK_COUNT, /* a non-negative count */
} GvOperandKind;

#define GV_OPF_JUMP 0x1u   /* the operand is a jump target */
#define GV_OPF_NOFALL 0x2u /* control never reaches the next instruction */
#define GV_OPF_RAISES 0x4u /* may raise an exception */
#define GV_OPF_INTERNAL 0x8u /* a superinstruction: made by the quickener only */

#define GV_OPCODES(OP) \
    OP(NOP,               GV_OPK_NONE,  0, 0, 0, "does nothing") \
    OP(LOAD_CONST,        GV_OPK_CONST, 0, 1, 0, "pushes a constant") \
    OP(POP_TOP,           GV_OPK_NONE,  1, 0, 0, "discards the top of the stack") \
    OP(DUP_TOP,           GV_OPK_NONE,  1, 2, 0, "pushes the top of the stack again") \
    OP(ROT_TWO,           GV_OPK_NONE,  2, 2, 0, "swaps the two top items: a b -> b a") \
    OP(ROT_THREE,         GV_OPK_NONE,  3, 3, 0, "lifts the top item under the next two: a b c -> c a b") \
    OP(LOAD_FAST,         GV_OPK_LOCAL, 0, 1, 0, "pushes a local variable") \
    OP(STORE_FAST,        GV_OPK_LOCAL, 1, 0, 0, "pops into a local variable") \
    OP(LOAD_GLOBAL,       GV_OPK_NAME,  0, 1, GV_OPF_RAISES, "pushes a global, else a builtin; NameError if neither") \
    OP(STORE_GLOBAL,      GV_OPK_NAME,  1, 0, GV_OPF_RAISES, "pops into a global") \
    OP(BINARY_ADD,        GV_OPK_NONE,  2, 1, GV_OPF_RAISES, "a b -> a + b (numbers; joins str and list)") \
    OP(BINARY_SUB,        GV_OPK_NONE,  2, 1, GV_OPF_RAISES, "a b -> a - b") \
    OP(BINARY_MUL,        GV_OPK_NONE,  2, 1, GV_OPF_RAISES, "a b -> a * b") \
    OP(BINARY_DIV,        GV_OPK_NONE,  2, 1, GV_OPF_RAISES, "a b -> a / b, always a float") \
    OP(BINARY_FLOORDIV,   GV_OPK_NONE,  2, 1, GV_OPF_RAISES, "a b -> a // b, rounded toward minus infinity") \
    OP(BINARY_MOD,        GV_OPK_NONE,  2, 1, GV_OPF_RAISES, "a b -> a % b, with the sign of b") \
    OP(UNARY_NEG,         GV_OPK_NONE,  1, 1, GV_OPF_RAISES, "a -> -a") \
    OP(UNARY_NOT,         GV_OPK_NONE,  1, 1, 0, "a -> not a (a bool)") \
    OP(COMPARE_EQ,        GV_OPK_NONE,  2, 1, GV_OPF_RAISES, "a b -> a == b") \
    OP(COMPARE_NE,        GV_OPK_NONE,  2, 1, GV_OPF_RAISES, "a b -> a != b") \
    OP(COMPARE_LT,        GV_OPK_NONE,  2, 1, GV_OPF_RAISES, "a b -> a < b") \
    OP(COMPARE_LE,        GV_OPK_NONE,  2, 1, GV_OPF_RAISES, "a b -> a <= b") \
    OP(COMPARE_GT,        GV_OPK_NONE,  2, 1, GV_OPF_RAISES, "a b -> a > b") \
    OP(COMPARE_GE,        GV_OPK_NONE,  2, 1, GV_OPF_RAISES, "a b -> a >= b") \
    OP(JUMP,              GV_OPK_LABEL, 0, 0, GV_OPF_JUMP | GV_OPF_NOFALL, "continues at the label") \
    OP(POP_JUMP_IF_FALSE, GV_OPK_LABEL, 1, 0, GV_OPF_JUMP, "pops x; continues at the label if x is false") \
    OP(POP_JUMP_IF_TRUE,  GV_OPK_LABEL, 1, 0, GV_OPF_JUMP, "pops x; continues at the label if x is true") \
    OP(CALL,              GV_OPK_COUNT, (n) + 1, 1, GV_OPF_RAISES, "f a1 .. an -> f(a1, .., an)") \
    OP(RETURN_VALUE,      GV_OPK_NONE,  1, 0, GV_OPF_NOFALL, "returns the top of the stack to the caller") \
    OP(BUILD_LIST,        GV_OPK_COUNT, (n), 1, GV_OPF_RAISES, "a1 .. an -> [a1, .., an]") \
    OP(BUILD_DICT,        GV_OPK_COUNT, 2 * (n), 1, GV_OPF_RAISES, "k1 v1 .. kn vn -> {k1: v1, .., kn: vn}") \
    OP(LOAD_INDEX,        GV_OPK_NONE,  2, 1, GV_OPF_RAISES, "container key -> container[key]") \
    OP(STORE_INDEX,       GV_OPK_NONE,  3, 0, GV_OPF_RAISES, "value container key -> (container[key] = value)") \
    OP(RAISE,             GV_OPK_NONE,  1, 0, GV_OPF_RAISES | GV_OPF_NOFALL, "raises an exception instance, or a new instance of a type") \
    OP(RERAISE,           GV_OPK_NONE,  1, 0, GV_OPF_RAISES | GV_OPF_NOFALL, "raises an exception again, keeping its traceback") \
    OP(CHECK_EXC_MATCH,   GV_OPK_NONE,  2, 2, GV_OPF_RAISES, "exc type -> exc bool: is exc an instance of type or a subtype") \
    OP(POP_EXCEPT,        GV_OPK_NONE,  0, 0, 0, "ends a handler: the exception being handled goes back to the outer one") \
    OP(YIELD_VALUE,       GV_OPK_NONE,  1, 1, GV_OPF_RAISES, "v -> sent: suspends the generator, handing v to its resumer; pushes the value sent in (none for next)") \
    GV_SUPERINSTRUCTIONS(OP)

/* Superinstructions: internal opcodes that vm/quicken.c writes over the first
 * word of a common sequence in the code's executable copy. The sequence's
 * other words stay as they were, and the superinstruction reads its operands
 * from them; when its fast path does not apply (not two ints, an overflow) it
 * runs the sequence's first instruction instead, and the rest follow as
 * written. The assembler, the verifier and the .gvc format never see them.
 * Names: LF local, LC constant; the operation; STORE or JF (jump if false).
 *
 * An LC sequence is fused only when its constant is an int that fits in an
 * operand (GV_SMALL_INT_MIN..MAX), and its LOAD_CONST word then becomes a
 * LOAD_SMALL_INT: the fused op takes the int from the instruction stream
 * instead of loading it (and its tag) from the constants, which is Lua's
 * ADDI/LTI. A LOAD_SMALL_INT is also what a lone LOAD_CONST of such an int
 * becomes. */
#define GV_SUPERINSTRUCTIONS(OP) \
    OP(LOAD_SMALL_INT,    GV_OPK_NONE,  0, 1, GV_OPF_INTERNAL, "LOAD_CONST of an int that fits in the operand (signed 24 bits), which holds it") \
    OP(LFLC_ADD,          GV_OPK_LOCAL, 0, 1, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_CONST BINARY_ADD") \
    OP(LFLC_SUB,          GV_OPK_LOCAL, 0, 1, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_CONST BINARY_SUB") \
    OP(LFLF_ADD,          GV_OPK_LOCAL, 0, 1, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_FAST BINARY_ADD") \
    OP(LFLC_ADD_STORE,    GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_CONST BINARY_ADD STORE_FAST") \
    OP(LFLC_SUB_STORE,    GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_CONST BINARY_SUB STORE_FAST") \
    OP(LFLF_ADD_STORE,    GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_FAST BINARY_ADD STORE_FAST") \
    OP(LFLC_ADD_STORE_JUMP, GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_CONST BINARY_ADD STORE_FAST JUMP") \
    OP(LFLC_SUB_STORE_JUMP, GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_CONST BINARY_SUB STORE_FAST JUMP") \
    OP(LFLC_LT_JF,        GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_CONST COMPARE_LT POP_JUMP_IF_FALSE") \
    OP(LFLC_LE_JF,        GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_CONST COMPARE_LE POP_JUMP_IF_FALSE") \
    OP(LFLC_GT_JF,        GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_CONST COMPARE_GT POP_JUMP_IF_FALSE") \
    OP(LFLC_GE_JF,        GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_CONST COMPARE_GE POP_JUMP_IF_FALSE") \
    OP(LFLC_EQ_JF,        GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_CONST COMPARE_EQ POP_JUMP_IF_FALSE") \
    OP(LFLC_NE_JF,        GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_CONST COMPARE_NE POP_JUMP_IF_FALSE") \
    OP(LFLF_LT_JF,        GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_FAST COMPARE_LT POP_JUMP_IF_FALSE") \
    OP(LFLF_LE_JF,        GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_FAST COMPARE_LE POP_JUMP_IF_FALSE") \
    OP(LFLF_GT_JF,        GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_FAST COMPARE_GT POP_JUMP_IF_FALSE") \
    OP(LFLF_GE_JF,        GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_FAST COMPARE_GE POP_JUMP_IF_FALSE") \
    OP(LFLF_EQ_JF,        GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_FAST COMPARE_EQ POP_JUMP_IF_FALSE") \
    OP(LFLF_NE_JF,        GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_RAISES, "LOAD_FAST LOAD_FAST COMPARE_NE POP_JUMP_IF_FALSE") \
    OP(LF_RETURN,         GV_OPK_LOCAL, 0, 0, GV_OPF_INTERNAL | GV_OPF_NOFALL, "LOAD_FAST RETURN_VALUE") \
    OP(ADD_RETURN,        GV_OPK_NONE,  2, 0, GV_OPF_INTERNAL | GV_OPF_NOFALL | GV_OPF_RAISES, "BINARY_ADD RETURN_VALUE") \
    OP(TRACE,             GV_OPK_NONE,  0, 0, GV_OPF_INTERNAL, "tracing: report events, then run the original instruction")

typedef enum GvOpcode {
#define GV_OP_ENUM(name, kind, pops, pushes, flags, doc) GV_OP_##name,
    GV_OPCODES(GV_OP_ENUM)
#undef GV_OP_ENUM
    GV_NUM_OPCODES
} GvOpcode;

_Static_assert(GV_NUM_OPCODES <= 256, "an opcode fits in 8 bits");

typedef struct GvOpInfo {
    const char *name;
    GvOperandKind kind;
    uint32_t flags;
    const char *pops_text, *pushes_text; /* as written in the table, for docs */
    const char *doc;
} GvOpInfo;

extern const GvOpInfo gv_opinfo[GV_NUM_OPCODES];

/* Values the instruction pops and pushes, given its operand. */
int gv_op_pops(unsigned op, uint32_t n);
int gv_op_pushes(unsigned op, uint32_t n);
/* Opcode by mnemonic (upper or lower case, not mixed); -1 if unknown. */
int gv_op_lookup(const char *name, size_t len);
const char *gv_operand_kind_name(GvOperandKind k);

#endif
