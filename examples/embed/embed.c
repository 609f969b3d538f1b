/* embed.c: gilvm inside a C program, through include/gilvm.h only.
 *
 * It loads a small program, calls its functions with arguments made in C
 * (ints, floats, strs, lists, dicts), reads their results, catches the
 * exceptions they raise, and shares state with them through globals: what a
 * CPython embedder does with PyObject_Call and PyDict_SetItemString. Then it
 * makes a second interpreter (Py_NewInterpreterFromConfig's shape), runs the
 * program there too, and ends it.
 *
 * Build it against the installed library:
 *     cc embed.c $(pkg-config --cflags --libs gilvm) -o embed
 * The test suite builds it against libgilvm.so and checks its output
 * (examples/embed/expected.txt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gilvm.h"

/* The program: functions only, no main (the C side decides what runs). */
static const char source[] =
    "; area(w, h): the product, an int or a float as the arguments are\n"
    ".func area w h\n"
    "    LOAD_FAST w\n"
    "    LOAD_FAST h\n"
    "    BINARY_MUL\n"
    "    RETURN_VALUE\n"
    ".end\n"
    "\n"
    "; greet(name): a str\n"
    ".func greet name\n"
    "    LOAD_CONST \"hello, \"\n"
    "    LOAD_FAST name\n"
    "    BINARY_ADD\n"
    "    RETURN_VALUE\n"
    ".end\n"
    "\n"
    "; summary(items): {\"count\": len(items), \"total\": the sum}\n"
    ".func summary items\n"
    "    .local i total\n"
    "    LOAD_CONST 0\n"
    "    STORE_FAST total\n"
    "    LOAD_CONST 0\n"
    "    STORE_FAST i\n"
    "next:\n"
    "    LOAD_FAST i\n"
    "    LOAD_GLOBAL len\n"
    "    LOAD_FAST items\n"
    "    CALL 1\n"
    "    COMPARE_LT\n"
    "    POP_JUMP_IF_FALSE done\n"
    "    LOAD_FAST total\n"
    "    LOAD_FAST items\n"
    "    LOAD_FAST i\n"
    "    LOAD_INDEX\n"
    "    BINARY_ADD\n"
    "    STORE_FAST total\n"
    "    LOAD_FAST i\n"
    "    LOAD_CONST 1\n"
    "    BINARY_ADD\n"
    "    STORE_FAST i\n"
    "    JUMP next\n"
    "done:\n"
    "    LOAD_CONST \"count\"\n"
    "    LOAD_GLOBAL len\n"
    "    LOAD_FAST items\n"
    "    CALL 1\n"
    "    LOAD_CONST \"total\"\n"
    "    LOAD_FAST total\n"
    "    BUILD_DICT 2\n"
    "    RETURN_VALUE\n"
    ".end\n"
    "\n"
    "; price(table, item): table[item], KeyError if it has none\n"
    ".func price table item\n"
    "    LOAD_FAST table\n"
    "    LOAD_FAST item\n"
    "    LOAD_INDEX\n"
    "    RETURN_VALUE\n"
    ".end\n"
    "\n"
    "; withdraw(amount): takes amount from the global `balance`, which C set;\n"
    "; ValueError if there is not enough\n"
    ".func withdraw amount\n"
    "    LOAD_FAST amount\n"
    "    LOAD_GLOBAL balance\n"
    "    COMPARE_GT\n"
    "    POP_JUMP_IF_FALSE ok\n"
    "    LOAD_GLOBAL ValueError\n"
    "    LOAD_CONST \"insufficient funds\"\n"
    "    CALL 1\n"
    "    RAISE\n"
    "ok:\n"
    "    LOAD_GLOBAL balance\n"
    "    LOAD_FAST amount\n"
    "    BINARY_SUB\n"
    "    STORE_GLOBAL balance\n"
    "    LOAD_GLOBAL balance\n"
    "    RETURN_VALUE\n"
    ".end\n";

/* Ends the example on an error the VM reported (none is expected). */
static void die(const char *what) {
    fprintf(stderr, "embed: %s failed\n", what);
    if (GvErr_Occurred()) GvErr_PrintEx();
    exit(1);
}

/* Prints repr(o) after a label, and releases o (a new reference). */
static void show(const char *label, GvObject *o) {
    if (!o) die(label);
    GvObject *r = GvObject_Repr(o);
    if (!r) die("repr");
    printf("%s -> %s (%s)\n", label, GvUnicode_AsUTF8(r), GvObject_TypeName(o));
    Gv_DecRef(r);
    Gv_DecRef(o);
}

/* The exception a failed call left: prints its type and message, and
 * clears it. */
static void show_exception(const char *label) {
    GvObject *exc = GvErr_GetRaisedException(); /* new reference; none set any more */
    if (!exc) die("expected an exception");
    char *msg = GvObject_StrDup(exc);
    printf("%s raised %s: %s (a ValueError: %s)\n", label, GvObject_TypeName(exc), msg ? msg : "?",
           GvErr_GivenExceptionMatches(exc, GvExc_ValueError) ? "yes" : "no");
    free(msg);
    Gv_DecRef(exc);
}

int main(void) {
    if (!Gv_Initialize()) die("Gv_Initialize");
    GvDiag diag;
    GvProgram *program = GvProgram_Assemble(source, strlen(source), "embedded.gva", &diag);
    if (!program) {
        fprintf(stderr, "%s\n", diag.text);
        return 1;
    }
    GvFunctionInfo info;
    if (GvProgram_FindFunction(program, "summary", &info))
        printf("summary takes %d argument(s), defined on line %u\n", info.nparams, info.firstline);
    /* The program's functions become globals; the program itself can go. */
    if (GvProgram_Exec(program) < 0) die("GvProgram_Exec");
    GvProgram_Free(program);

    /* Calls with arguments made in C. */
    GvObject *area = Gv_GetGlobal("area");
    if (!area) die("Gv_GetGlobal");
    GvObject *six = GvLong_FromLongLong(6), *seven = GvLong_FromLongLong(7);
    GvObject *product = GvObject_CallFunctionObjArgs(area, six, seven, NULL);
    printf("area(6, 7) as a C long long: %lld\n", GvLong_AsLongLong(product));
    show("area(6, 7)", product);
    GvObject *half = GvFloat_FromDouble(0.5);
    GvObject *f = GvObject_CallFunctionObjArgs(area, six, half, NULL);
    printf("area(6, 0.5) as a C double: %g\n", GvFloat_AsDouble(f));
    show("area(6, 0.5)", f);
    Gv_DecRef(six);
    Gv_DecRef(seven);
    Gv_DecRef(half);

    GvObject *greet = Gv_GetGlobal("greet");
    GvObject *name = GvUnicode_FromString("embedder");
    show("greet('embedder')", GvObject_CallOneArg(greet, name));
    Gv_DecRef(name);

    /* A list in, a dict out. */
    GvObject *items = GvList_New(0);
    for (long long i = 1; i <= 4; i++) {
        GvObject *n = GvLong_FromLongLong(i * 10);
        if (!n || GvList_Append(items, n) < 0) die("GvList_Append");
        Gv_DecRef(n);
    }
    GvObject *args = GvList_New(1);
    Gv_IncRef(items);
    GvList_SetItem(args, 0, items); /* steals the reference just taken */
    GvObject *summary = Gv_GetGlobal("summary");
    GvObject *d = GvObject_CallObject(summary, args);
    if (!d) die("summary");
    GvObject *total = NULL;
    if (GvDict_GetItemStringRef(d, "total", &total) != 1) die("GvDict_GetItemStringRef");
    printf("summary(...)['total'] = %lld of %lld items\n", GvLong_AsLongLong(total), (long long)GvList_Size(items));
    Gv_DecRef(total);
    show("summary([10, 20, 30, 40])", d);
    Gv_DecRef(args);
    Gv_DecRef(items);

    /* An exception raised by the program, caught in C. */
    GvObject *table = GvDict_New();
    GvObject *apple = GvFloat_FromDouble(1.25);
    GvDict_SetItemString(table, "apple", apple);
    Gv_DecRef(apple);
    GvObject *price = Gv_GetGlobal("price");
    GvObject *key = GvUnicode_FromString("apple");
    show("price(table, 'apple')", GvObject_CallFunctionObjArgs(price, table, key, NULL));
    Gv_DecRef(key);
    key = GvUnicode_FromString("pear");
    if (GvObject_CallFunctionObjArgs(price, table, key, NULL)) die("price(table, 'pear') should raise");
    show_exception("price(table, 'pear')");
    Gv_DecRef(key);
    Gv_DecRef(table);

    /* Globals shared both ways: C sets balance, the program changes it. */
    GvObject *hundred = GvLong_FromLongLong(100);
    if (Gv_SetGlobal("balance", hundred) < 0) die("Gv_SetGlobal");
    Gv_DecRef(hundred);
    GvObject *withdraw = Gv_GetGlobal("withdraw");
    GvObject *amount = GvLong_FromLongLong(30);
    show("withdraw(30)", GvObject_CallOneArg(withdraw, amount));
    Gv_DecRef(amount);
    amount = GvLong_FromLongLong(500);
    if (GvObject_CallOneArg(withdraw, amount)) die("withdraw(500) should raise");
    show_exception("withdraw(500)");
    Gv_DecRef(amount);
    show("global balance", Gv_GetGlobal("balance"));

    /* Misuse is reported, not crashed on: a wrong argument count. */
    if (GvObject_CallNoArgs(withdraw)) die("withdraw() should raise");
    GvObject *exc = GvErr_GetRaisedException();
    char *msg = GvObject_StrDup(exc);
    printf("withdraw() raised %s: %s\n", GvObject_TypeName(exc), msg ? msg : "?");
    free(msg);
    Gv_DecRef(exc);

    Gv_DecRef(area);
    Gv_DecRef(greet);
    Gv_DecRef(summary);
    Gv_DecRef(price);
    Gv_DecRef(withdraw);

    /* A second interpreter, with its own GIL and its own globals: the
     * program is loaded into it again, and main's objects are not used there
     * (objects never pass between interpreters). */
    GvThreadState *main_ts = GvThreadState_Get();
    GvThreadState *sub = GvInterpreter_New(); /* detaches main_ts; sub is current */
    if (!sub) die("GvInterpreter_New");
    printf("second interpreter: id %lld\n", GvInterpreterState_GetID(GvInterpreterState_Get()));
    if (Gv_GetGlobal("balance")) die("balance should not be a global there");
    show_exception("there, global balance");
    program = GvProgram_Assemble(source, strlen(source), "embedded.gva", &diag);
    if (!program || GvProgram_Exec(program) < 0) die("GvProgram_Exec there");
    GvProgram_Free(program);
    GvObject *area2 = Gv_GetGlobal("area");
    GvObject *two = GvLong_FromLongLong(2), *three = GvLong_FromLongLong(3);
    show("there, area(2, 3)", GvObject_CallFunctionObjArgs(area2, two, three, NULL));
    Gv_DecRef(two);
    Gv_DecRef(three);
    Gv_DecRef(area2);
    GvInterpreter_End(sub); /* nothing is current afterwards */
    GvEval_RestoreThread(main_ts);
    printf("back in interpreter %lld\n", GvInterpreterState_GetID(GvInterpreterState_Get()));
    Gv_Finalize();
    return 0;
}
