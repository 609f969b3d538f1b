#include "opcodes.h"

#include <string.h>

const GvOpInfo gv_opinfo[GV_NUM_OPCODES] = {
#define GV_OP_INFO(name, kind, pops, pushes, flags, doc) {#name, kind, flags, #pops, #pushes, doc},
    GV_OPCODES(GV_OP_INFO)
#undef GV_OP_INFO
};

int gv_op_pops(unsigned op, uint32_t n) {
    (void)n;
    switch (op) {
#define GV_OP_POPS(name, kind, pops, pushes, flags, doc) case GV_OP_##name: return (int)(pops);
        GV_OPCODES(GV_OP_POPS)
#undef GV_OP_POPS
    }
    return 0;
}

int gv_op_pushes(unsigned op, uint32_t n) {
    (void)n;
    switch (op) {
#define GV_OP_PUSHES(name, kind, pops, pushes, flags, doc) case GV_OP_##name: return (int)(pushes);
        GV_OPCODES(GV_OP_PUSHES)
#undef GV_OP_PUSHES
    }
    return 0;
}

int gv_op_lookup(const char *name, size_t len) {
    char upper[32];
    if (len == 0 || len >= sizeof upper) return -1;
    bool has_upper = false, has_lower = false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c >= 'a' && c <= 'z') {
            has_lower = true;
            c = (char)(c - 'a' + 'A');
        } else if (c >= 'A' && c <= 'Z') {
            has_upper = true;
        }
        upper[i] = c;
    }
    if (has_upper && has_lower) return -1; /* Load_Const is not a mnemonic */
    upper[len] = '\0';
    for (int op = 0; op < GV_NUM_OPCODES; op++)
        if (!(gv_opinfo[op].flags & GV_OPF_INTERNAL) && strcmp(gv_opinfo[op].name, upper) == 0)
            return op;
    return -1;
}

const char *gv_operand_kind_name(GvOperandKind k) {
    switch (k) {
    case GV_OPK_NONE: return "none";
    case GV_OPK_CONST: return "constant";
    case GV_OPK_LOCAL: return "local";
    case GV_OPK_NAME: return "name";
    case GV_OPK_LABEL: return "label";
    case GV_OPK_COUNT: return "count";
    }
    return "?";
}
