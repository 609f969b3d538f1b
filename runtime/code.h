/* Code objects: one per function, made by the assembler or the .gvc loader,
 * checked by the verifier, run by vm/eval.c. The runtime knows their shape
 * (frames and tracebacks need it) but not what the opcodes mean.
 *
 * An instruction is one 32-bit word: the opcode in the low 8 bits, the
 * operand in the high 24 (a constant, local or name index, a count, or a jump
 * target as an instruction index). Fixed width keeps decoding to a shift and
 * a mask and makes every instruction start a valid jump target. */
#ifndef GV_CODE_H
#define GV_CODE_H

#include "object.h"

typedef uint32_t GvInstr;
#define GV_OP(ins) ((unsigned)((ins) & 0xffu))
#define GV_ARG(ins) ((uint32_t)((ins) >> 8))
#define GV_MAKE_INSTR(op, arg) ((GvInstr)(((uint32_t)(arg) << 8) | ((uint32_t)(op) & 0xffu)))
#define GV_ARG_MAX 0xffffffu
/* An operand read as a signed 24-bit int (the quickener's LOAD_SMALL_INT). */
#define GV_SMALL_INT_MIN (-0x800000)
#define GV_SMALL_INT_MAX 0x7fffff
#define GV_SARG(ins) ((int32_t)(GV_ARG(ins) ^ 0x800000u) - 0x800000)

/* Where an instruction came from in the source, for errors and tracebacks. */
typedef struct GvSrcPos {
    uint32_t line, col; /* 1-based; 0 when unknown */
} GvSrcPos;

/* One `.try START END HANDLER` range. An exception raised by an instruction
 * in [start, end) lands at handler, with the value stack cut back to `depth`
 * and the thread's handled-exception stack cut back to `exc_depth` entries
 * (both as at `start`, computed by the verifier). Entries are stored
 * innermost first: the first entry that covers a pc is the one that wins. */
typedef struct GvExcEntry {
    uint32_t start, end, handler;
    uint32_t depth;     /* filled by the verifier */
    uint32_t exc_depth; /* filled by the verifier */
    GvSrcPos pos;       /* of the .try line */
} GvExcEntry;

/* LOAD_GLOBAL's cache, one per global name of a code object: the value found
 * when the globals and builtins dicts had these versions. Borrowed: while the
 * versions match, the dict that holds the value still holds it. */
typedef struct GvGlobalCache {
    uint64_t globals_version, builtins_version; /* 0: empty (dict versions start at 1) */
    GvValue value;
} GvGlobalCache;

typedef struct GvCode {
    GvObject ob;
    GvObject *name;       /* str, strong */
    GvObject *filename;   /* str, strong */
    uint32_t nparams;     /* parameters are locals 0 .. nparams-1 */
    uint32_t nlocals;     /* parameters included */
    uint32_t ninstrs;
    uint32_t nconsts;
    uint32_t nnames;
    uint32_t nexc;
    uint32_t max_stack;   /* filled by the verifier */
    uint32_t firstline;   /* line of the .func directive */
    bool verified;
    uint8_t flags;        /* GV_CODE_*: ASYNC from the source; GENERATOR set by the verifier */
    GvInstr *instrs;      /* ninstrs */
    GvSrcPos *pos;        /* ninstrs: source position of each instruction */
    GvValue *consts;      /* nconsts, strong: int, float, bool, none, str */
    GvObject **names;     /* nnames strs, strong: global names */
    GvObject **localnames;/* nlocals strs, strong */
    GvExcEntry *exc;      /* nexc */
    /* Made by the VM after verification (vm/quicken.c), never loaded/saved: */
    GvInstr *quick;       /* ninstrs: what the eval loop runs (instrs with superinstructions) */
    GvGlobalCache *gcache;/* nnames */
    GvInstr *traced;      /* ninstrs TRACE words, made when a traced thread first runs it */
    uint32_t frame_size;  /* data-stack slots a frame needs: locals, header, stack */
} GvCode;

/* A function whose body contains YIELD_VALUE (found by the verifier): calling
 * it makes a generator (runtime/gen.h). */
#define GV_CODE_GENERATOR 0x1u
/* `.async`: its generators are async generators (stored in .gvc files). */
#define GV_CODE_ASYNC 0x2u

/* A new, empty code object with the arrays allocated (zeroed: consts none,
 * names NULL) for the given counts. The caller fills them in. */
GvCode *gv_code_new(GvObject *name, GvObject *filename, uint32_t nparams, uint32_t nlocals,
                    uint32_t ninstrs, uint32_t nconsts, uint32_t nnames, uint32_t nexc);
/* Source line of the instruction at index pc (0 if unknown). */
uint32_t gv_code_line(const GvCode *code, uint32_t pc);

/* A loaded program: the functions of one file, in order of definition. */
typedef struct GvProgram {
    GvObject *filename; /* str, strong */
    uint32_t ncode;
    GvCode **code;      /* strong */
} GvProgram;

GvProgram *gv_program_new(GvObject *filename, uint32_t ncode); /* code[] zeroed */
/* Index of the function named `name`, or -1. */
int gv_program_find(const GvProgram *p, const char *name);

#endif
