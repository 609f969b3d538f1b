#!/bin/sh
# Regenerates the parts of docs/ that come from the opcode table (vm/opcodes.h):
# all of BYTECODE.md, and the instruction tables of LANGUAGE.md (between its
# BEGIN GENERATED and END GENERATED lines). The unit test test_docs fails while
# they differ from what the built gilvm prints.
# Usage: docs/generate.sh [GILVM]     (default: build/gilvm)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
gilvm=${1:-$root/build/gilvm}
docs=$root/docs
grep -q '^<!-- BEGIN GENERATED' "$docs/LANGUAGE.md" || {
    echo "docs/generate.sh: no BEGIN GENERATED line in docs/LANGUAGE.md" >&2
    exit 1
}
"$gilvm" dis --opcodes > "$docs/BYTECODE.md.tmp"
"$gilvm" dis --opcodes=language > "$docs/tables.tmp"
awk 'FNR == NR { tables = tables $0 "\n"; next }
     /^<!-- BEGIN GENERATED/ { printf "%s", tables; skipping = 1; next }
     skipping && /^<!-- END GENERATED -->$/ { skipping = 0; next }
     !skipping { print }' "$docs/tables.tmp" "$docs/LANGUAGE.md" > "$docs/LANGUAGE.md.tmp"
rm "$docs/tables.tmp"
mv "$docs/BYTECODE.md.tmp" "$docs/BYTECODE.md"
mv "$docs/LANGUAGE.md.tmp" "$docs/LANGUAGE.md"
