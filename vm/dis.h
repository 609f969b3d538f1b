/* The disassembler: code objects back to text that the assembler accepts. */
#ifndef GV_DIS_H
#define GV_DIS_H

#include <stdio.h>

#include "../runtime/code.h"

/* Writes p as .gva text: one .func block per function, labels named L<index>,
 * each instruction with its offset and source line in a comment. Assembling
 * the output gives back the same code (asm -> dis -> asm round-trips). */
void gv_dis_program(const GvProgram *p, FILE *out);
void gv_dis_code(const GvCode *code, FILE *out);
/* The opcode reference (docs/BYTECODE.md), generated from the opcode table. */
void gv_dis_opcode_doc(FILE *out);
/* The instruction tables of the language reference (docs/LANGUAGE.md, between
 * its BEGIN GENERATED and END GENERATED lines, those included): the
 * instructions programs use, then the internal ones. */
void gv_dis_language_tables(FILE *out);

#endif
