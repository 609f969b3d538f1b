/* Immutable strings: UTF-8 bytes, NUL-terminated for C's convenience, with
 * the length in bytes and in code points (Python's len() counts code points)
 * and a cached hash. */
#ifndef GV_STR_H
#define GV_STR_H

#include "object.h"

typedef struct GvStr {
    GvObject ob;
    size_t size;       /* bytes, not counting the terminating NUL */
    size_t length;     /* code points */
    uint64_t hash;     /* valid when has_hash */
    bool has_hash;
    bool ascii;        /* size == length: index by byte */
    char data[];       /* size + 1 bytes */
} GvStr;

/* New str from bytes that must be valid UTF-8 (checked: ValueError if not). */
GvObject *gv_str_new(const char *s, size_t size);
GvObject *gv_str_from_cstr(const char *s);
/* printf-style; never fails except on MemoryError. */
GvObject *gv_str_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* a + b */
GvObject *gv_str_concat(GvStr *a, GvStr *b);
/* The i-th code point as a 1-character str; i already normalised to [0, length). */
GvObject *gv_str_char_at(GvStr *s, size_t i);
bool gv_str_equal(GvStr *a, GvStr *b);
int gv_str_compare(GvStr *a, GvStr *b); /* <0, 0, >0 by code points (== bytes for UTF-8) */
uint64_t gv_str_hash(GvStr *s);
bool gv_utf8_valid(const char *s, size_t size, size_t *length_out);
/* Python's repr of a str ('abc', "it's", '\n' escaped) appended to a buffer. */
struct GvBuf;
int gv_str_repr_into(struct GvBuf *b, GvStr *s);

static inline GvStr *gv_as_str(GvValue v) { return (GvStr *)v.as.o; }
static inline const char *gv_str_cstr(GvObject *o) { return ((GvStr *)o)->data; }

/* A growable byte buffer for building strings (repr, print, messages). */
typedef struct GvBuf {
    char *data;
    size_t len, cap;
    bool failed; /* an allocation failed: MemoryError is set */
} GvBuf;
void gv_buf_init(GvBuf *b);
void gv_buf_free(GvBuf *b);
int gv_buf_append(GvBuf *b, const char *s, size_t n);
int gv_buf_puts(GvBuf *b, const char *s);
int gv_buf_printf(GvBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The buffer's content as a new str (the buffer stays owned by the caller). */
GvObject *gv_buf_to_str(GvBuf *b);

#endif
