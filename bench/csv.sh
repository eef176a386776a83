#!/usr/bin/env bash
# CSV reading: a ROWSxCOLS matrix of doubles written with six decimals (200000x50: 90 MB of
# text, an 80 MB matrix) read by our release `daphne` (with its .meta file, and without it:
# the schema inferred), NumPy's loadtxt, pandas' read_csv and pyarrow's CSV reader, in the same
# run. Reports the best wall time of 3 runs (whole process, start-up included) and the peak
# resident memory, also as a multiple of the matrix's size.
#
# Usage: bench/csv.sh [ROWS [COLS]]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-200000} cols=${2:-50} runs=3
source bench/setup.sh
"$venv/bin/pip" install -q pandas pyarrow
dir=target/bench-csv
mkdir -p "$dir"
data=$dir/m${rows}x${cols}.csv
if [ ! -f "$data" ]; then
    "$py" -c "import numpy as np; np.savetxt('$data', np.random.default_rng(7).random(($rows, $cols)), fmt='%.6f', delimiter=',')"
    printf '{"numRows": %d, "numCols": %d, "valueType": "f64"}' "$rows" "$cols" > "$data.meta"
fi
cp "$data" "$dir/nometa.csv"
result_mb=$(awk -v r="$rows" -v c="$cols" 'BEGIN { print r * c * 8 / 1048576 }')
printf "file %s: %.0f MB of text, the matrix %.0f MB\n" "$data" "$(du -m "$data" | cut -f1)" "$result_mb"
printf "%-26s %9s %9s %8s\n" reader "time" "peak RSS" "/matrix"
measure() { # name cmd...
    local name=$1 best= mem=
    shift
    for _ in $(seq "$runs"); do
        read -r t m < <("$py" bench/csv/measure.py "$@")
        if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t mem=$m; fi
    done
    awk -v n="$name" -v t="$best" -v m="$mem" -v r="$result_mb" \
        'BEGIN { printf "%-26s %7.3f s %6.0f MB %7.2fx\n", n, t, m, m / r }'
}
measure "daphne-rs (.meta)" "$daphne" bench/csv/read.daph path="\"$data\""
measure "daphne-rs (inferred)" "$daphne" bench/csv/read.daph path="\"$dir/nometa.csv\""
measure "daphne-rs 1 thread" "$daphne" --num-threads=1 bench/csv/read.daph path="\"$data\""
measure "pyarrow read_csv" "$py" bench/csv/read.py pyarrow "$data"
measure "pandas read_csv" "$py" bench/csv/read.py pandas "$data"
measure "numpy loadtxt" "$py" bench/csv/read.py numpy "$data"
