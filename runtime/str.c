/* Strings (immutable UTF-8 with cached length and hash) and GvBuf, the
 * growable byte buffer everything that renders text builds into.
 *
 * Every str holds valid UTF-8: gv_str_new checks, and the constructors that
 * cannot fail on bad input (gv_str_format, gv_buf_to_str) replace invalid
 * bytes with U+FFFD instead. Code that indexes or measures a str relies on it. */
#include "str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes
 * there are not one (overlong forms, surrogates and code points past
 * U+10FFFF are rejected, as Python's decoder does). *why says which rule
 * failed, for the error message. */
static size_t seq_len(const unsigned char *s, size_t i, size_t size, const char **why) {
    unsigned c = s[i];
    if (c < 0x80) return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;      /* overlong */
        else if (c == 0xed) hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;      /* overlong */
        else if (c == 0xf4) hi = 0x8f; /* past U+10FFFF */
    } else {
        *why = "invalid start byte";
        return 0;
    }
    for (size_t k = 1; k < n; k++) {
        if (i + k >= size) {
            *why = "unexpected end of data";
            return 0;
        }
        unsigned b = s[i + k];
        unsigned l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xbf;
        if (b < l || b > h) {
            *why = "invalid continuation byte";
            return 0;
        }
    }
    return n;
}

/* Scans s: returns the index of the first invalid byte, or size if valid.
 * Counts code points into *length. */
static size_t utf8_scan(const char *str, size_t size, size_t *length, const char **why) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, count = 0;
    while (i < size) {
        if (s[i] < 0x80) {
            i++;
            count++;
            continue;
        }
        size_t n = seq_len(s, i, size, why);
        if (n == 0) break;
        i += n;
        count++;
    }
    *length = count;
    return i;
}

bool gv_utf8_valid(const char *s, size_t size, size_t *length_out) {
    size_t length;
    const char *why = NULL;
    bool ok = utf8_scan(s, size, &length, &why) == size;
    if (ok && length_out) *length_out = length;
    return ok;
}

/* Decodes the code point at s[*i] (valid UTF-8 assumed) and advances *i. */
static uint32_t decode(const unsigned char *s, size_t *i) {
    uint32_t c = s[*i];
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    c &= n == 2 ? 0x1fu : n == 3 ? 0x0fu : 0x07u;
    for (size_t k = 1; k < n; k++) c = (c << 6) | (s[*i + k] & 0x3fu);
    *i += n;
    return c;
}

/* ---- construction ---- */

/* An uninitialised str of `size` bytes (NUL written); the caller fills data
 * and sets length/ascii. */
static GvStr *alloc_str(size_t size) {
    if (size > SIZE_MAX - sizeof(GvStr) - 1) {
        gv_err_nomemory();
        return NULL;
    }
    GvStr *s = (GvStr *)gv_object_new(GV_KSTR, sizeof(GvStr) + size + 1);
    if (!s) return NULL;
    s->size = size;
    s->data[size] = '\0';
    return s;
}

static GvObject *make(const char *bytes, size_t size, size_t length) {
    GvStr *s = alloc_str(size);
    if (!s) return NULL;
    if (size) memcpy(s->data, bytes, size);
    s->length = length;
    s->ascii = length == size;
    return &s->ob;
}

GvObject *gv_str_new(const char *s, size_t size) {
    size_t length;
    const char *why = "invalid start byte";
    size_t bad = utf8_scan(s, size, &length, &why);
    if (bad != size) {
        gv_err_format(&gv_type_ValueError,
                      "'utf-8' codec can't decode byte 0x%02x in position %zu: %s",
                      (unsigned)(unsigned char)s[bad], bad, why);
        return NULL;
    }
    return make(s, size, length);
}

GvObject *gv_str_from_cstr(const char *s) { return gv_str_new(s, strlen(s)); }

/* A str from bytes that may be invalid UTF-8: each bad byte becomes U+FFFD.
 * For text that must not fail to render (messages quoting C strings). */
static GvObject *str_lossy(const char *bytes, size_t size) {
    size_t length;
    const char *why;
    size_t bad = utf8_scan(bytes, size, &length, &why);
    if (bad == size) return make(bytes, size, length);
    GvBuf b;
    gv_buf_init(&b);
    const unsigned char *s = (const unsigned char *)bytes;
    size_t i = 0;
    while (i < size) {
        size_t n = s[i] < 0x80 ? 1 : seq_len(s, i, size, &why);
        if (n == 0) {
            gv_buf_append(&b, "\xef\xbf\xbd", 3);
            i++;
        } else {
            gv_buf_append(&b, bytes + i, n);
            i += n;
        }
    }
    GvObject *r = NULL;
    if (!b.failed) {
        utf8_scan(b.data, b.len, &length, &why);
        r = make(b.data, b.len, length);
    }
    gv_buf_free(&b);
    return r;
}

GvObject *gv_str_format(const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return str_lossy("", 0);
    if ((size_t)n < sizeof small) return str_lossy(small, (size_t)n);
    char *big = gv_malloc((size_t)n + 1);
    if (!big) return NULL;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    GvObject *r = str_lossy(big, (size_t)n);
    gv_free(big);
    return r;
}

GvObject *gv_str_concat(GvStr *a, GvStr *b) {
    if (a->size > SIZE_MAX / 2 - b->size) {
        gv_err_nomemory();
        return NULL;
    }
    GvStr *s = alloc_str(a->size + b->size);
    if (!s) return NULL;
    memcpy(s->data, a->data, a->size);
    memcpy(s->data + a->size, b->data, b->size);
    s->length = a->length + b->length;
    s->ascii = a->ascii && b->ascii;
    return &s->ob;
}

GvObject *gv_str_char_at(GvStr *s, size_t i) {
    if (s->ascii) return make(s->data + i, 1, 1);
    /* Walk to the i-th code point by skipping lead bytes: O(i), which is
     * fine for the short non-ASCII strings programs index. */
    const unsigned char *p = (const unsigned char *)s->data;
    size_t pos = 0;
    for (size_t k = 0; k < i; k++) decode(p, &pos);
    size_t start = pos;
    decode(p, &pos);
    return make(s->data + start, pos - start, 1);
}

void gv_str_dealloc(GvObject *o) { gv_free(o); }

/* ---- comparison and hashing ---- */

bool gv_str_equal(GvStr *a, GvStr *b) {
    if (a == b) return true;
    if (a->size != b->size) return false;
    if (a->has_hash && b->has_hash && a->hash != b->hash) return false;
    return memcmp(a->data, b->data, a->size) == 0;
}

int gv_str_compare(GvStr *a, GvStr *b) {
    /* UTF-8 byte order is code point order. */
    size_t n = a->size < b->size ? a->size : b->size;
    int c = n ? memcmp(a->data, b->data, n) : 0;
    if (c) return c < 0 ? -1 : 1;
    return a->size < b->size ? -1 : a->size > b->size ? 1 : 0;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

uint64_t gv_str_hash(GvStr *s) {
    if (s->has_hash) return s->hash;
    /* Eight bytes at a time, each word folded in with a multiply; the
     * final mix spreads every input bit over the low bits the dict uses. */
    const unsigned char *p = (const unsigned char *)s->data;
    size_t n = s->size;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    for (size_t k = 0; k < n; k++) tail |= (uint64_t)p[k] << (8 * k);
    h = (h ^ tail) * 0x100000001b3ull;
    h = mix64(h);
    s->hash = h;
    s->has_hash = true;
    return h;
}

/* ---- repr ---- */

/* Code points Python's str.isprintable() rejects that repr must escape.
 * Python consults the full Unicode tables; this covers the controls, the
 * separators and format characters people actually meet, and private use. */
static bool printable(uint32_t c) {
    if (c < 0x20 || c == 0x7f) return false;
    if (c < 0x7f) return true;
    if (c <= 0xa0 || c == 0xad) return false;
    if (c >= 0x0600 && c <= 0x0605) return false;
    if (c == 0x061c || c == 0x06dd || c == 0x070f || c == 0x1680 || c == 0x180e) return false;
    if (c >= 0x2000 && c <= 0x200f) return false;
    if (c >= 0x2028 && c <= 0x202f) return false;
    if (c >= 0x205f && c <= 0x206f) return false;
    if (c == 0x3000 || c == 0xfeff) return false;
    if (c >= 0xd800 && c <= 0xf8ff) return false; /* surrogates, private use */
    if (c >= 0xfff9 && c <= 0xfffb) return false;
    if (c == 0xfffe || c == 0xffff) return false;
    if (c >= 0xe0000) return false; /* tags, private use planes */
    return true;
}

int gv_str_repr_into(GvBuf *b, GvStr *s) {
    /* Python prefers single quotes, and switches to double quotes when the
     * text has a ' but no ". */
    bool has_single = memchr(s->data, '\'', s->size) != NULL;
    bool has_double = memchr(s->data, '"', s->size) != NULL;
    char q = has_single && !has_double ? '"' : '\'';
    gv_buf_append(b, &q, 1);
    const unsigned char *p = (const unsigned char *)s->data;
    size_t i = 0, run = 0; /* run: start of plain bytes not yet copied */
    while (i < s->size) {
        size_t at = i;
        uint32_t c = decode(p, &i);
        const char *esc = NULL;
        char tmp[12];
        if (c == (uint32_t)q) esc = q == '\'' ? "\\'" : "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (!printable(c)) {
            if (c < 0x100) snprintf(tmp, sizeof tmp, "\\x%02x", (unsigned)c);
            else if (c < 0x10000) snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)c);
            else snprintf(tmp, sizeof tmp, "\\U%08x", (unsigned)c);
            esc = tmp;
        }
        if (esc) {
            gv_buf_append(b, s->data + run, at - run);
            gv_buf_puts(b, esc);
            run = i;
        }
    }
    gv_buf_append(b, s->data + run, s->size - run);
    gv_buf_append(b, &q, 1);
    return b->failed ? -1 : 0;
}

/* ---- GvBuf ---- */

void gv_buf_init(GvBuf *b) {
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

void gv_buf_free(GvBuf *b) {
    gv_free(b->data);
    gv_buf_init(b);
}

/* Makes room for n more bytes plus a NUL. */
static int reserve(GvBuf *b, size_t n) {
    if (b->failed) return -1;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return gv_err_nomemory();
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    char *d = gv_realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int gv_buf_append(GvBuf *b, const char *s, size_t n) {
    if (reserve(b, n) < 0) return -1;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int gv_buf_puts(GvBuf *b, const char *s) { return gv_buf_append(b, s, strlen(s)); }

int gv_buf_printf(GvBuf *b, const char *fmt, ...) {
    if (b->failed) return -1;
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return 0; /* an encoding error in the format: add nothing */
    if ((size_t)n < sizeof small) return gv_buf_append(b, small, (size_t)n);
    if (reserve(b, (size_t)n) < 0) return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

GvObject *gv_buf_to_str(GvBuf *b) {
    if (b->failed) return NULL;
    return str_lossy(b->data ? b->data : "", b->len);
}
