/* The binary format (.gvc): a program's code objects, serialized.
 *
 * Layout (all integers little-endian):
 *   magic "GVC\0", u32 version (GV_BYTECODE_VERSION), then the program.
 * See bytecode.c for the full grammar. Every count and index is checked
 * against the bytes that remain before anything is allocated, so a
 * truncated or corrupted file is an error, never a crash or a huge
 * allocation. */
#ifndef GV_BYTECODE_H
#define GV_BYTECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../runtime/code.h"
#include "gilvm.h"

#define GV_BYTECODE_MAGIC "GVC\0"
#define GV_BYTECODE_VERSION 2u /* 2: a flags word per function (.async) */

/* Serializes p into a malloc'ed buffer (*out, *outlen). 0 or -1 (out of memory). */
int gv_bytecode_save(const GvProgram *p, uint8_t **out, size_t *outlen);
/* Loads a program (not yet verified) from bytes; NULL with *diag filled on error. */
GvProgram *gv_bytecode_load(const uint8_t *data, size_t len, const char *filename, GvDiag *diag);
/* True if the bytes start with the magic number. */
int gv_bytecode_is(const uint8_t *data, size_t len);
/* True if the bytes lack the magic number but should still be read as a
 * (damaged) bytecode file rather than as .gva text: their first bytes look
 * like a header (a NUL in the first 8, the magic with one byte wrong, or cut
 * inside it) or filename ends in .gvc. gv_bytecode_load then says why. */
bool gv_bytecode_looks_damaged(const uint8_t *data, size_t len, const char *filename);

#endif
