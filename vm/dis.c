/* The disassembler: code objects back to .gva text, and the opcode reference.
 *
 * The text is meant to be assembled again and give back the same instruction
 * words and constants: each function is a `.func` line with its parameters, a
 * `.local` line with the other locals, one `.try` line per exception entry (in
 * table order, which is innermost first, as the assembler stores them), and
 * the instructions, with a label `L<index>:` before every instruction that a
 * jump or an exception entry refers to. Each instruction carries its offset
 * and source line in a trailing comment.
 *
 * What cannot round-trip: float constants that are infinite or NaN and
 * strings holding NUL bytes. The assembly has no literal for them (they
 * cannot come from .gva, only from a hand-made .gvc), so they are written as
 * a stand-in (the largest finite float, 0.0, the string without its NULs)
 * with a comment saying so. Code the verifier would reject (operands out of range, jumps out
 * of the function) is written with the raw operand and an "invalid" comment:
 * the disassembler shows what is there rather than failing. */
#include "dis.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/str.h"
#include "bytecode.h"
#include "opcodes.h"

/* The column where the trailing `; offset` comments start. */
#define COMMENT_COL 40

static void put_str_raw(const GvObject *s, FILE *out) {
    if (!s) return;
    const GvStr *str = (const GvStr *)s;
    fwrite(str->data, 1, str->size, out);
}

/* A UTF-8 continuation byte: takes no column of its own. */
static bool is_cont(char c) { return ((unsigned char)c & 0xc0u) == 0x80u; }

/* Columns a str takes (code points, which is close enough for alignment). */
static int width(const GvStr *s) {
    int n = 0;
    for (size_t i = 0; i < s->size; i++) n += is_cont(s->data[i]) ? 0 : 1;
    return n;
}

/* A str constant: quoted, with the escapes the assembler knows. Other bytes,
 * UTF-8 included, are written as they are, except NUL, which .gva source
 * cannot contain: it is left out and *note says so. */
static int put_quoted(const GvObject *s, FILE *out, const char **note) {
    const GvStr *str = (const GvStr *)s;
    int n = 2;
    fputc('"', out);
    for (size_t i = 0; i < str->size; i++) {
        char c = str->data[i];
        const char *esc = NULL;
        switch (c) {
        case '\0':
            *note = "NUL bytes: no literal in .gva, left out";
            continue;
        case '\n': esc = "\\n"; break;
        case '\t': esc = "\\t"; break;
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        }
        if (esc) {
            fputs(esc, out);
            n += 2;
        } else {
            fputc(c, out);
            n += is_cont(c) ? 0 : 1;
        }
    }
    fputc('"', out);
    return n;
}

/* The shortest decimal form that reads back as exactly f, written so that the
 * assembler sees a float: it always has a '.' or an exponent ("2.0", "1e16",
 * "1.5e-07" becomes "1.5e-7"). f must be finite. */
static void format_float(double f, char *buf, size_t size) {
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* Rewrite the exponent without '+' or leading zeros. */
    char *e = strchr(tmp, 'e');
    if (e) {
        long exp = strtol(e + 1, NULL, 10);
        *e = '\0';
        snprintf(buf, size, "%se%ld", tmp, exp);
    } else if (!strchr(tmp, '.')) {
        snprintf(buf, size, "%s.0", tmp);
    } else {
        snprintf(buf, size, "%s", tmp);
    }
}

/* Writes a constant; returns the columns used. *note is set to a comment for
 * a value that has no exact literal. */
static int put_const(GvValue v, FILE *out, const char **note) {
    char buf[64];
    switch (v.tag) {
    case GV_TNONE: return fprintf(out, "none");
    case GV_TBOOL: return fprintf(out, "%s", v.as.i ? "true" : "false");
    case GV_TINT: return fprintf(out, "%lld", (long long)v.as.i);
    case GV_TFLOAT:
        if (isnan(v.as.f)) {
            *note = "nan: no literal in .gva, written as 0.0";
            return fprintf(out, "0.0");
        }
        if (isinf(v.as.f)) {
            *note = v.as.f > 0 ? "inf: no literal in .gva, written as the largest float"
                               : "-inf: no literal in .gva, written as the lowest float";
            return fprintf(out, "%s1.7976931348623157e308", v.as.f > 0 ? "" : "-");
        }
        format_float(v.as.f, buf, sizeof buf);
        return fprintf(out, "%s", buf);
    case GV_TOBJ:
        if (v.as.o->kind == GV_KSTR) return put_quoted(v.as.o, out, note);
        break;
    }
    *note = "invalid: a constant of a kind .gva cannot express";
    return fprintf(out, "none");
}

static int put_name(const GvObject *s, FILE *out) {
    if (!s) return 0;
    put_str_raw(s, out);
    return width((const GvStr *)s);
}

/* Marks every instruction index that needs a label (0 .. ninstrs). */
static bool *find_labels(const GvCode *c) {
    bool *is_label = calloc((size_t)c->ninstrs + 1, 1);
    if (!is_label) return NULL;
    for (uint32_t i = 0; i < c->ninstrs; i++) {
        unsigned op = GV_OP(c->instrs[i]);
        uint32_t arg = GV_ARG(c->instrs[i]);
        if (op < GV_NUM_OPCODES && (gv_opinfo[op].flags & GV_OPF_JUMP) && arg <= c->ninstrs)
            is_label[arg] = true;
    }
    for (uint32_t i = 0; i < c->nexc; i++) {
        const GvExcEntry *e = &c->exc[i];
        if (e->start <= c->ninstrs) is_label[e->start] = true;
        if (e->end <= c->ninstrs) is_label[e->end] = true;
        if (e->handler <= c->ninstrs) is_label[e->handler] = true;
    }
    return is_label;
}

static void put_target(uint32_t t, const GvCode *c, FILE *out) {
    if (t <= c->ninstrs)
        fprintf(out, " L%" PRIu32, t);
    else
        fprintf(out, " %" PRIu32, t); /* invalid: shown raw, will not assemble */
}

static void put_instr(const GvCode *c, uint32_t i, FILE *out) {
    GvInstr w = c->instrs[i];
    unsigned op = GV_OP(w);
    uint32_t arg = GV_ARG(w);
    const char *note = NULL;
    int col = 4;
    fputs("    ", out);
    if (op >= GV_NUM_OPCODES) {
        col += fprintf(out, "NOP");
        note = "invalid: unknown opcode";
    } else {
        const GvOpInfo *info = &gv_opinfo[op];
        col += fprintf(out, "%s", info->name);
        switch (info->kind) {
        case GV_OPK_NONE:
            if (arg != 0) note = "invalid: an operand on an instruction that takes none";
            break;
        case GV_OPK_CONST:
            col++;
            fputc(' ', out);
            if (arg < c->nconsts)
                col += put_const(c->consts[arg], out, &note);
            else {
                col += fprintf(out, "%" PRIu32, arg);
                note = "invalid: no such constant";
            }
            break;
        case GV_OPK_LOCAL:
        case GV_OPK_NAME: {
            bool local = info->kind == GV_OPK_LOCAL;
            uint32_t count = local ? c->nlocals : c->nnames;
            GvObject *const *table = local ? c->localnames : c->names;
            col++;
            fputc(' ', out);
            if (arg < count && table && table[arg])
                col += put_name(table[arg], out);
            else {
                col += fprintf(out, "%" PRIu32, arg);
                note = local ? "invalid: no such local" : "invalid: no such name";
            }
            break;
        }
        case GV_OPK_LABEL:
            col += fprintf(out, arg <= c->ninstrs ? " L%" PRIu32 : " %" PRIu32, arg);
            if (arg >= c->ninstrs) note = "invalid: jump out of the function";
            break;
        case GV_OPK_COUNT:
            col += fprintf(out, " %" PRIu32, arg);
            break;
        }
    }
    int pad = col < COMMENT_COL ? COMMENT_COL - col : 1;
    fprintf(out, "%*s; offset %" PRIu32 ", line %" PRIu32, pad, "", i, gv_code_line(c, i));
    if (note) fprintf(out, " (%s)", note);
    fputc('\n', out);
}

void gv_dis_code(const GvCode *c, FILE *out) {
    fputs(".func ", out);
    put_name(c->name, out);
    for (uint32_t i = 0; i < c->nparams && i < c->nlocals; i++) {
        fputc(' ', out);
        put_name(c->localnames[i], out);
    }
    fputc('\n', out);
    if (c->nlocals > c->nparams) {
        fputs(".local", out);
        for (uint32_t i = c->nparams; i < c->nlocals; i++) {
            fputc(' ', out);
            put_name(c->localnames[i], out);
        }
        fputc('\n', out);
    }
    if (c->flags & GV_CODE_ASYNC) fputs(".async\n", out);
    for (uint32_t i = 0; i < c->nexc; i++) {
        const GvExcEntry *e = &c->exc[i];
        fputs(".try", out);
        put_target(e->start, c, out);
        put_target(e->end, c, out);
        put_target(e->handler, c, out);
        fputc('\n', out);
    }
    bool *is_label = find_labels(c);
    for (uint32_t i = 0; i <= c->ninstrs; i++) {
        /* Without memory for the label table, label every instruction: the
         * text is noisier but still right. */
        if (!is_label || is_label[i]) fprintf(out, "L%" PRIu32 ":\n", i);
        if (i < c->ninstrs) put_instr(c, i, out);
    }
    free(is_label);
    fputs(".end\n", out);
}

void gv_dis_program(const GvProgram *p, FILE *out) {
    fputs("; disassembly of ", out);
    if (p->filename)
        put_name(p->filename, out);
    else
        fputs("<unknown>", out);
    fputc('\n', out);
    for (uint32_t i = 0; i < p->ncode; i++) {
        if (!p->code[i]) continue;
        fputc('\n', out);
        gv_dis_code(p->code[i], out);
    }
}

/* ================================================================ docs */

/* A stack effect as written in the table, without the macro's parentheses:
 * "(n) + 1" -> "n + 1". */
static void put_effect(const char *text, FILE *out) {
    for (const char *s = text; *s; s++) {
        if (s[0] == '(' && s[1] == 'n' && s[2] == ')') {
            fputc('n', out);
            s += 2;
        } else {
            fputc(*s, out);
        }
    }
}

/* Table cells: '|' would end the cell. */
static void put_cell(const char *text, FILE *out) {
    for (const char *s = text; *s; s++) {
        if (*s == '|') fputc('\\', out);
        fputc(*s, out);
    }
}

static void put_flags(uint32_t flags, FILE *out) {
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {{GV_OPF_JUMP, "jump"}, {GV_OPF_NOFALL, "nofall"}, {GV_OPF_RAISES, "raises"}};
    bool any = false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(flags & names[i].bit)) continue;
        fprintf(out, "%s%s", any ? ", " : "", names[i].name);
        any = true;
    }
}

/* The rest of a table row, from the name on: name, operand, stack, flags, doc. */
static void put_row(const GvOpInfo *info, FILE *out) {
    fprintf(out, "| `%s` | %s | ", info->name, info->kind == GV_OPK_NONE ? "" : gv_operand_kind_name(info->kind));
    put_effect(info->pops_text, out);
    fputs(" → ", out);
    put_effect(info->pushes_text, out);
    fputs(" | ", out);
    put_flags(info->flags, out);
    fputs(" | ", out);
    put_cell(info->doc, out);
    fputs(" |\n", out);
}

void gv_dis_opcode_doc(FILE *out) {
    fputs("<!-- Generated by `gilvm dis --opcodes` from the opcode table in vm/opcodes.h.\n"
          "     Do not edit by hand: change the table, then run\n"
          "     `gilvm dis --opcodes > docs/BYTECODE.md`. The unit test test_docs fails\n"
          "     while this file and the table disagree. -->\n"
          "\n"
          "# gilvm bytecode reference\n"
          "\n",
          out);
    fprintf(out,
            "Bytecode format version %u (`.gvc` files start with the magic `GVC\\0` and this\n"
            "version; the layout is described at the top of vm/bytecode.c).\n"
            "\n",
            GV_BYTECODE_VERSION);
    fputs("## Encoding\n"
          "\n"
          "Every instruction is one 32-bit word: the opcode in the low 8 bits, the operand in\n"
          "the high 24 bits (0 when the instruction takes none). The operand is, by kind:\n"
          "\n",
          out);
    static const struct {
        GvOperandKind kind;
        const char *doc;
    } kinds[] = {
        {GV_OPK_NONE, "no operand"},
        {GV_OPK_CONST, "an index into the function's constants (int, float, str, none, true, "
                       "false); written in assembly as the constant itself"},
        {GV_OPK_LOCAL, "an index into the function's locals (parameters first); written as the "
                       "local's name"},
        {GV_OPK_NAME, "an index into the function's global names; written as the name"},
        {GV_OPK_LABEL, "the index of the instruction to jump to; written as a label"},
        {GV_OPK_COUNT, "a count `n`, used by the stack effect"},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        fprintf(out, "- `%s`: %s\n", gv_operand_kind_name(kinds[i].kind), kinds[i].doc);
    fputs("\n"
          "Flags: `jump` the operand is a jump target; `nofall` control never reaches the next\n"
          "instruction; `raises` the instruction may raise an exception.\n"
          "\n"
          "## Instructions\n"
          "\n"
          "The stack effect is the number of values popped → the number pushed.\n"
          "\n"
          "| # | name | operand | stack | flags | description |\n"
          "| ---: | --- | --- | --- | --- | --- |\n",
          out);
    for (int op = 0; op < GV_NUM_OPCODES; op++) {
        fprintf(out, "| %d ", op);
        put_row(&gv_opinfo[op], out);
    }
}

static void put_table(bool internal, FILE *out) {
    fputs("| mnemonic | operand | stack | flags | what it does |\n"
          "| --- | --- | --- | --- | --- |\n",
          out);
    for (int op = 0; op < GV_NUM_OPCODES; op++)
        if (((gv_opinfo[op].flags & GV_OPF_INTERNAL) != 0) == internal) put_row(&gv_opinfo[op], out);
}

void gv_dis_language_tables(FILE *out) {
    fputs("<!-- BEGIN GENERATED by `gilvm dis --opcodes=language` from the opcode table in\n"
          "     vm/opcodes.h. Do not edit by hand: change the table, then run docs/generate.sh.\n"
          "     The unit test test_docs fails while this part and the table disagree. -->\n"
          "\n",
          out);
    put_table(false, out);
    fputs("\n"
          "Internal instructions. The VM writes them into its private copy of a function's code\n"
          "(superinstructions, vm/quicken.c; `TRACE`, while the function is traced); a program or\n"
          "`.gvc` file that names one is rejected. Each runs what its description says, with the\n"
          "same results, errors and traceback lines.\n"
          "\n",
          out);
    put_table(true, out);
    fputs("\n<!-- END GENERATED -->\n", out);
}
