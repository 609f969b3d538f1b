/* Arithmetic with Python's semantics on 64-bit ints and doubles.
 *
 * Ints never wrap: every int operation checks for overflow (the compiler's
 * __builtin_*_overflow) and raises OverflowError instead, so no program can
 * reach C's undefined behaviour. `/` is always true division to float; `//`
 * and `%` round toward negative infinity, for ints and floats alike, so that
 * a == (a // b) * b + a % b with the remainder taking the divisor's sign.
 * bool is an int here; an int meeting a float becomes a float. */
#include <math.h>
#include <string.h>

#include "errors.h"
#include "list.h"
#include "object.h"
#include "str.h"

static const char *const op_symbols[] = {"+", "-", "*", "/", "//", "%"};

static int overflow(void) { return gv_err_format(&gv_type_OverflowError, "integer overflow"); }

static int zero_division(const char *msg) {
    return gv_err_format(&gv_type_ZeroDivisionError, "%s", msg);
}

/* Python's true division of two ints: correctly rounded when both are exact
 * as doubles (|x| <= 2^53), otherwise through long double, whose 64-bit
 * mantissa holds any int64. */
static double int_truediv(int64_t a, int64_t b) {
    const int64_t exact = (int64_t)1 << 53;
    if (a >= -exact && a <= exact && b >= -exact && b <= exact) return (double)a / (double)b;
    return (double)((long double)a / (long double)b);
}

static int int_op(GvBinop op, int64_t a, int64_t b, GvValue *out) {
    int64_t r;
    switch (op) {
    case GV_OP_ADD:
        if (__builtin_add_overflow(a, b, &r)) return overflow();
        break;
    case GV_OP_SUB:
        if (__builtin_sub_overflow(a, b, &r)) return overflow();
        break;
    case GV_OP_MUL:
        if (__builtin_mul_overflow(a, b, &r)) return overflow();
        break;
    case GV_OP_DIV:
        if (b == 0) return zero_division("division by zero");
        *out = gv_float(int_truediv(a, b));
        return 0;
    case GV_OP_FLOORDIV:
        if (b == 0) return zero_division("integer division or modulo by zero");
        if (b == -1) {
            /* INT64_MIN / -1 is the one quotient that does not fit. */
            if (__builtin_sub_overflow((int64_t)0, a, &r)) return overflow();
            break;
        }
        r = a / b;
        if (a % b != 0 && ((a < 0) != (b < 0))) r--; /* C truncates; floor instead */
        break;
    case GV_OP_MOD:
        if (b == 0) return zero_division("integer modulo by zero");
        if (b == -1) {
            r = 0; /* INT64_MIN % -1 is UB in C; the answer is 0 */
            break;
        }
        r = a % b;
        if (r != 0 && ((r < 0) != (b < 0))) r += b; /* the divisor's sign */
        break;
    default:
        return gv_err_format(&gv_type_TypeError, "bad operator");
    }
    *out = gv_int(r);
    return 0;
}

/* Floor division and modulo of doubles: the remainder from fmod (exact),
 * moved to the divisor's sign; the quotient from the exact difference,
 * rounded to the nearest integer to absorb the division's rounding. */
static void float_divmod(double a, double b, double *div_out, double *mod_out) {
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    if (mod != 0.0) {
        if ((b < 0) != (mod < 0)) {
            mod += b;
            div -= 1.0;
        }
    } else {
        mod = copysign(0.0, b); /* a zero remainder takes the divisor's sign */
    }
    double fdiv;
    if (div != 0.0) {
        fdiv = floor(div);
        if (div - fdiv > 0.5) fdiv += 1.0;
    } else {
        fdiv = copysign(0.0, a / b);
    }
    *div_out = fdiv;
    *mod_out = mod;
}

static int float_op(GvBinop op, double a, double b, GvValue *out) {
    double r, q, m;
    switch (op) {
    case GV_OP_ADD: r = a + b; break;
    case GV_OP_SUB: r = a - b; break;
    case GV_OP_MUL: r = a * b; break;
    case GV_OP_DIV:
        if (b == 0.0) return zero_division("float division by zero");
        r = a / b;
        break;
    case GV_OP_FLOORDIV:
        if (b == 0.0) return zero_division("float floor division by zero");
        float_divmod(a, b, &q, &m);
        r = q;
        break;
    case GV_OP_MOD:
        if (b == 0.0) return zero_division("float modulo");
        float_divmod(a, b, &q, &m);
        r = m;
        break;
    default:
        return gv_err_format(&gv_type_TypeError, "bad operator");
    }
    *out = gv_float(r);
    return 0;
}

static double as_double(GvValue v) { return v.tag == GV_TFLOAT ? v.as.f : (double)v.as.i; }

/* seq * n for a str or list: Python's repetition (n <= 0 gives empty). */
static int repeat(GvValue seq, int64_t n, GvValue *out) {
    if (n < 0) n = 0;
    if (gv_is_kind(seq, GV_KSTR)) {
        GvStr *s = gv_as_str(seq);
        if (s->size && (uint64_t)n > (SIZE_MAX / 2) / s->size) return gv_err_nomemory();
        size_t total = s->size * (size_t)n;
        GvBuf b;
        gv_buf_init(&b);
        if (total) {
            for (int64_t i = 0; i < n && !b.failed; i++) gv_buf_append(&b, s->data, s->size);
        }
        GvObject *r = b.failed ? NULL : total ? gv_str_new(b.data, b.len) : gv_str_new("", 0);
        gv_buf_free(&b);
        if (!r) return -1;
        *out = gv_obj(r);
        return 0;
    }
    GvList *l = gv_as_list(seq);
    if (l->size && (uint64_t)n > (SIZE_MAX / sizeof(GvValue)) / l->size) return gv_err_nomemory();
    size_t size = l->size, total = size * (size_t)n;
    GvList *r = (GvList *)gv_list_new(total);
    if (!r) return -1;
    for (int64_t i = 0; i < n; i++) {
        /* l may be r's own item list only if l is r, which it is not. */
        for (size_t k = 0; k < size; k++) {
            if (gv_list_append(r, l->items[k]) < 0) {
                gv_decref(&r->ob);
                return -1;
            }
        }
    }
    *out = gv_obj(&r->ob);
    return 0;
}

static bool is_seq(GvValue v) { return gv_is_kind(v, GV_KSTR) || gv_is_kind(v, GV_KLIST); }

int gv_binary_op(GvBinop op, GvValue a, GvValue b, GvValue *out) {
    if (gv_is_intlike(a) && gv_is_intlike(b)) return int_op(op, a.as.i, b.as.i, out);
    bool an = gv_is_intlike(a) || gv_is_float(a), bn = gv_is_intlike(b) || gv_is_float(b);
    if (an && bn) return float_op(op, as_double(a), as_double(b), out);

    if (op == GV_OP_ADD) {
        if (gv_is_kind(a, GV_KSTR) && gv_is_kind(b, GV_KSTR)) {
            GvObject *r = gv_str_concat(gv_as_str(a), gv_as_str(b));
            if (!r) return -1;
            *out = gv_obj(r);
            return 0;
        }
        if (gv_is_kind(a, GV_KLIST) && gv_is_kind(b, GV_KLIST)) {
            GvObject *r = gv_list_concat(gv_as_list(a), gv_as_list(b));
            if (!r) return -1;
            *out = gv_obj(r);
            return 0;
        }
        if (is_seq(a)) {
            const char *t = gv_type_name(a);
            return gv_err_format(&gv_type_TypeError,
                                 "can only concatenate %s (not \"%s\") to %s", t,
                                 gv_type_name(b), t);
        }
    }
    if (op == GV_OP_MUL) {
        if (is_seq(a) && gv_is_intlike(b)) return repeat(a, b.as.i, out);
        if (gv_is_intlike(a) && is_seq(b)) return repeat(b, a.as.i, out);
        if (is_seq(a) || is_seq(b)) {
            GvValue other = is_seq(a) ? b : a;
            return gv_err_format(&gv_type_TypeError,
                                 "can't multiply sequence by non-int of type '%s'",
                                 gv_type_name(other));
        }
    }
    const char *sym = (unsigned)op < sizeof op_symbols / sizeof *op_symbols ? op_symbols[op] : "?";
    return gv_err_format(&gv_type_TypeError, "unsupported operand type(s) for %s: '%s' and '%s'",
                         sym, gv_type_name(a), gv_type_name(b));
}

int gv_negate(GvValue a, GvValue *out) {
    if (gv_is_intlike(a)) {
        int64_t r;
        if (__builtin_sub_overflow((int64_t)0, a.as.i, &r)) return overflow();
        *out = gv_int(r);
        return 0;
    }
    if (gv_is_float(a)) {
        *out = gv_float(-a.as.f);
        return 0;
    }
    return gv_err_format(&gv_type_TypeError, "bad operand type for unary -: '%s'",
                         gv_type_name(a));
}
