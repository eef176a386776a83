#!/usr/bin/env bash
# Parses every DaphneDSL script of a DAPHNE source checkout with our daphnec and reports the
# scripts we reject. DAPHNE's own tests name the scripts DAPHNE rejects `*failure*`,
# `invalid_*` or `syntax/general_*`; rejecting one of those is expected, rejecting any other
# script is a bug and fails this check.
#
# Usage: tools/parse-daphne-corpus.sh /path/to/daphne   (a checkout of daphne-eu/daphne)
set -euo pipefail
daphne_src=${1:?usage: $0 DAPHNE_SOURCE_DIR}
cd "$(dirname "$0")/.."
cargo build -q --bin daphnec
daphnec=$PWD/target/debug/daphnec

total=0 rejected_expected=0
unexpected=()
while IFS= read -r -d '' script; do
    total=$((total + 1))
    if ! "$daphnec" "$script" --emit ast >/dev/null 2>&1; then
        case "$script" in
            *failure* | */invalid_* | */syntax/general_*) rejected_expected=$((rejected_expected + 1)) ;;
            *) unexpected+=("$script") ;;
        esac
    fi
done < <(find "$daphne_src" \( -name '*.daph' -o -name '*.daphne' \) -print0 | sort -z)

echo "scripts: $total, parsed: $((total - rejected_expected - ${#unexpected[@]})), rejected as DAPHNE rejects them: $rejected_expected, rejected unexpectedly: ${#unexpected[@]}"
for s in "${unexpected[@]}"; do
    echo "unexpectedly rejected: $s"
    "$daphnec" "$s" --emit ast 2>&1 >/dev/null | head -n 8
done
[ ${#unexpected[@]} -eq 0 ]
