#!/usr/bin/env bash
# Runs the DaphneDSL test scripts of a DAPHNE source checkout that come with an expected
# output (`test/api/cli/**/NAME.daphne` next to `NAME.txt`) through our `daphne`, and reports
# how many print exactly the expected bytes. DAPHNE's sources are not part of this repository;
# this is a measuring tool, run by hand.
#
# Usage: tools/daphne-conformance.sh /path/to/daphne [filter-regex]
#   -v (after the path) prints a diff for each mismatch.
set -uo pipefail
daphne_src=${1:?usage: $0 DAPHNE_SOURCE_DIR [REGEX] [-v]}
filter=${2:-.}
verbose=${3:-}
cd "$(dirname "$0")/.."
cargo build -q --release --bin daphne || exit 1
daphne=$PWD/target/release/daphne

pass=0 fail=0
failed=()
while IFS= read -r -d '' expected; do
    script=${expected%.txt}.daphne
    [ -f "$script" ] || continue
    [[ "$script" =~ $filter ]] || continue
    # The options DAPHNE's own test drivers pass (MatrixLiteralTest, TypeOfTest,
    # VectorizedPipelineTest: sparse representations; ImportTest: its user configuration).
    flags=()
    case "$script" in
        */expressions/matrix_literal_* | */operations/typeOf* | */vectorized/run*) flags=(--select-matrix-repr) ;;
        */import/*) flags=(--config=test/api/cli/import/UserConfig.json) ;;
    esac
    # DAPHNE's tests run from the repository root (scripts read files by relative path).
    actual=$(cd "$daphne_src" && timeout 20 "$daphne" "${flags[@]}" "${script#"$daphne_src"/}" 2>/dev/null)
    if [ "$actual" == "$(cat "$expected")" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        failed+=("${script#"$daphne_src"/}")
        if [ "$verbose" == "-v" ]; then
            echo "=== ${script#"$daphne_src"/}"
            diff <(echo "$actual") "$expected" | head -n 10
        fi
    fi
done < <(find "$daphne_src/test/api/cli" -name '*.txt' -print0 | sort -z)
echo "expected output matched: $pass of $((pass + fail))"
[ "$verbose" == "-v" ] || printf '%s\n' "${failed[@]}" | sed 's/^/mismatch: /' | head -n 400
