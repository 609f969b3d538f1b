#!/usr/bin/env bash
# fuzz/run.sh TARGET SECONDS: runs one libFuzzer target (fuzz_asm, fuzz_load
# or fuzz_exec) for SECONDS, starting from a seed corpus made from the
# project's own programs, and ends with one line:
#     fuzz_asm: 1234567 execs, cov 2345, 0 crashes (...)
# Exits non-zero if the target crashed, hung, leaked or ran out of memory;
# the input that did it is saved under $FUZZ_ARTIFACTS (see fuzz/README.md).
#
# Environment (all optional):
#   FUZZ_BUILD      the fuzz build directory (default build-fuzz; configured
#                   and built here if needed)
#   FUZZ_CORPUS     a directory to keep the corpus in between runs (default:
#                   a temporary one, deleted at the end)
#   FUZZ_ARTIFACTS  where crashing inputs go (default $FUZZ_BUILD/fuzz-artifacts)
#   FUZZ_ARGS       more libFuzzer flags, e.g. "-max_len=16384"
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: fuzz/run.sh fuzz_asm|fuzz_load|fuzz_exec SECONDS" >&2; exit 2; }
[ $# -eq 2 ] || usage
target=$1 secs=$2
case "$target" in fuzz_asm | fuzz_load | fuzz_exec) ;; *) usage ;; esac
case "$secs" in '' | *[!0-9]*) usage ;; esac

build=${FUZZ_BUILD:-build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" -Dfuzz=true -Dtests=false \
        -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C "$build" "fuzz/$target" gilvm >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts=${FUZZ_ARTIFACTS:-$build/fuzz-artifacts}
corpus=${FUZZ_CORPUS:-$work/corpus}
mkdir -p "$artifacts" "$corpus" "$work/seeds"

# Seeds: every program the project has, good and malformed. fuzz_load wants
# .gvc images: those of the programs that assemble.
nseeds=0
while IFS= read -r src; do
    name=$(echo "${src%.gva}" | tr '/' '_')
    if [ "$target" = fuzz_load ]; then
        "$build/gilvm" asm "$src" -o "$work/seeds/$name.gvc" >/dev/null 2>&1 || continue
    else
        cp "$src" "$work/seeds/$name.gva"
    fi
    nseeds=$((nseeds + 1))
done < <(find examples tests/programs tests/malformed bench/programs -name '*.gva' 2>/dev/null | sort)
# The inputs that once broke something come back every time, and the text
# targets get the hand-written programs that push the limits.
extra=(fuzz/regressions/"$target"/*)
[ "$target" != fuzz_load ] && extra+=(fuzz/seeds/*.gva)
for src in "${extra[@]}"; do
    [ -f "$src" ] || continue
    cp "$src" "$work/seeds/fuzz_$(basename "$src")"
    nseeds=$((nseeds + 1))
done
# The text targets also get the sample programs with a `; fail-alloc: K`
# line (see fuzz_common.h): the K-th allocation fails, the VM must cope.
if [ "$target" != fuzz_load ]; then
    for src in examples/*.gva tests/programs/exc/*.gva; do
        [ -f "$src" ] || continue
        name=$(echo "${src%.gva}" | tr '/' '_')
        for k in 1 2 3 5 8 13 21 34 55 89 144 233; do
            { cat "$src"; echo "; fail-alloc: $k"; } >"$work/seeds/$name.oom$k.gva"
            nseeds=$((nseeds + 1))
        done
    done
fi
echo "$target: $nseeds seed files, fuzzing for $secs s" >&2

flags=(-max_total_time="$secs" -timeout=25 -rss_limit_mb=2560 -max_len=8192
       -print_final_stats=1 -artifact_prefix="$artifacts/$target-")
case "$target" in
fuzz_asm) flags+=(-dict=fuzz/gva.dict -malloc_limit_mb=256) ;;
fuzz_load) flags+=(-malloc_limit_mb=256) ;;
# Programs print tracebacks on stderr: discard the target's own output
# (libFuzzer keeps its reports on a duplicate of stderr).
fuzz_exec) flags+=(-dict=fuzz/gva.dict -close_fd_mask=3) ;;
esac
# shellcheck disable=SC2206
flags+=(${FUZZ_ARGS:-})

# The full log goes to a file; the terminal gets the progress lines, and the
# end of the log if something went wrong.
log=$work/log
rc=0
"$build/fuzz/$target" "${flags[@]}" "$corpus" "$work/seeds" >"$log" 2>&1 &
pid=$!
tail -n +1 -f "$log" --pid=$pid 2>/dev/null | grep --line-buffered -E 'INITED|pulse|DONE' >&2 || true
wait $pid || rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
cov=$(grep -oE ' cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
units=$(grep -oE ' corp: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
crashes=0
if [ "$rc" -ne 0 ]; then
    crashes=1
    echo "---- $target failed (exit $rc); end of the log:" >&2
    tail -n 60 "$log" >&2
    grep -E 'Test unit written to' "$log" >&2 || true
fi
echo "$target: ${execs:-0} execs, cov ${cov:-0}, $crashes crashes" \
    "(${speed:-0} exec/s over $secs s, corpus ${units:-0} inputs)"
exit "$rc"
