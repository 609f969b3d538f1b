#!/usr/bin/env bash
# gilvm's one entry point for a fresh machine: installs what is missing
# (Debian packages, via apt-get), configures, builds, and then
#   ./bootstrap.sh run [FILE]   runs a program (default: examples/hello.gva)
#   ./bootstrap.sh test         builds and runs the whole test suite: a plain
#                               build with -Werror, the same suite under
#                               ASan+UBSan, under TSan, and in a
#                               switch-dispatch build (the schedule search,
#                               a minute of runs, only in the plain build),
#                               then the guided gdb tours in the stepping
#                               build (build-debug, docs/tour/)
#   ./bootstrap.sh build        just builds (build/gilvm)
set -euo pipefail
cd "$(dirname "$0")"

need_pkgs=()
need() { dpkg -s "$1" >/dev/null 2>&1 || need_pkgs+=("$1"); }
install_deps() {
    need meson; need ninja-build; need gcc; need libc6-dev; need pkg-config
    need python3
    if [ "${1:-}" = test ]; then need libcmocka-dev; need gdb; fi
    if [ ${#need_pkgs[@]} -gt 0 ]; then
        echo "bootstrap: installing ${need_pkgs[*]}" >&2
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
    fi
}

# setup DIR [meson options...]: configure DIR once, reconfigure if options changed.
setup() {
    local dir=$1; shift
    if [ -f "$dir/build.ninja" ]; then
        meson configure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}

cmd=${1:-run}
case "$cmd" in
build)
    install_deps
    setup build -Dtests=false
    ninja -C build
    ;;
run)
    install_deps
    setup build -Dtests=false
    ninja -C build >/dev/null
    shift || true
    exec ./build/gilvm run "${1:-examples/hello.gva}"
    ;;
test)
    install_deps test
    echo "== plain build (-Werror)"
    setup build-test -Dwerror=true -Dtests=true
    ninja -C build-test
    meson test -C build-test --print-errorlogs --num-processes 2

    echo "== ASan + UBSan"
    setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
    ninja -C build-asan
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 3 --no-suite schedule

    echo "== ThreadSanitizer"
    setup build-tsan -Dwerror=true -Db_sanitize=thread -Db_lundef=false
    ninja -C build-tsan
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
        meson test -C build-tsan --print-errorlogs --num-processes 2 --timeout-multiplier 4 --no-suite bench --no-suite schedule

    echo "== switch dispatch (no computed goto)"
    setup build-switch -Dwerror=true -Dcomputed_goto=false
    ninja -C build-switch
    meson test -C build-switch --print-errorlogs --num-processes 2 --no-suite schedule

    # The tours step through the VM in gdb: they need the stepping build
    # (no optimisation, full debug info; the README's command) and ptrace
    # (where ptrace is refused the suite is skipped, saying why). About 10 s.
    echo "== guided gdb tours (stepping build)"
    setup build-debug -Dbuildtype=debug -Dtests=true -Dc_args=-g3
    ninja -C build-debug
    meson test -C build-debug --print-errorlogs --num-processes 2 --suite tour

    # ---- fuzzing stage (owner: fuzz/, see fuzz/README.md) -- begin ----
    # Builds the libFuzzer targets with clang + ASan/UBSan and runs each for a
    # bounded time (FUZZ_SECONDS, default 30, with CI=true or not): about two
    # minutes with the build. Any crash, hang, leak or sanitizer report fails
    # the script; the input is kept in build-fuzz/fuzz-artifacts/.
    need_pkgs=()
    need clang; need libclang-rt-14-dev
    install_deps test
    fuzz_seconds=${FUZZ_SECONDS:-30}
    echo "== fuzz (libFuzzer, ${fuzz_seconds}s per target)"
    CC=clang setup build-fuzz -Dfuzz=true -Dtests=false \
        -Db_sanitize=address,undefined -Db_lundef=false
    ninja -C build-fuzz
    # The inputs every build must survive (fuzz/regressions/, fuzz/seeds/), then fuzz.
    meson test -C build-fuzz --suite fuzz --print-errorlogs
    fuzz_failed=()
    for target in fuzz_asm fuzz_load fuzz_exec; do
        fuzz/run.sh "$target" "$fuzz_seconds" || fuzz_failed+=("$target")
    done
    if [ ${#fuzz_failed[@]} -gt 0 ]; then
        echo "bootstrap: fuzzing failed: ${fuzz_failed[*]} (inputs in build-fuzz/fuzz-artifacts/)" >&2
        exit 1
    fi
    # ---- fuzzing stage -- end ----

    # One closing line over all configurations, in the plain form CI reads.
    python3 - build-test build-asan build-tsan build-switch build-debug <<'PY'
import json, sys
passed = failed = skipped = 0
for d in sys.argv[1:]:
    for line in open(d + "/meson-logs/testlog.json"):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"): passed += 1
        elif r == "SKIP": skipped += 1
        else: failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
    ;;
*)
    echo "usage: ./bootstrap.sh [run [FILE] | test | build]" >&2
    exit 2
    ;;
esac
