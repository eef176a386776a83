#!/usr/bin/env bash
# Benchmarks: each DaphneDSL script in bench/ runs through our release `daphne` and, in the
# same run, its baseline: the same computation in NumPy (bench/NAME.py, in a venv this script
# creates under target/bench-venv), for the elementwise chain our own unfused run
# (`--no-fuse`), and for the sparse case our own dense path. Reports the
# best wall time of 3 runs of each, whole process (start-up, data generation, compute).
#
# Usage: bench/run.sh [quick]   (quick: smaller sizes, one run)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3 n=10000 m=1000 gn=4000 gm=500 sn=5000
if [ "${1:-}" == "quick" ]; then runs=1 n=1000 m=100 gn=400 gm=50 sn=1000; fi

source bench/setup.sh

# best_of CMD...: the best wall time in seconds of $runs runs.
best_of() {
    local best=
    for _ in $(seq "$runs"); do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" > /dev/null
        t1=$(date +%s.%N)
        best=$(echo "$t0 $t1 ${best:-}" | awk '{d = $2 - $1; if ($3 == "" || d < $3) print d; else print $3}')
    done
    echo "$best"
}

row() { # name ours baseline baseline-name
    awk -v n="$1" -v a="$2" -v b="$3" -v bn="$4" \
        'BEGIN { printf "%-28s %9.3f s %9.3f s  %-22s %6.2fx\n", n, a, b, bn, b / a }'
}

printf "%-28s %11s %11s  %-22s %7s\n" benchmark daphne-rs baseline "(baseline)" speedup
row "ew_agg ${n}x${m}" "$(best_of "$daphne" bench/ew_agg.daph n=$n m=$m)" \
    "$(best_of "$py" bench/ew_agg.py $n $m)" numpy
row "ew_agg ${n}x${m}" "$(best_of "$daphne" bench/ew_agg.daph n=$n m=$m)" \
    "$(best_of "$daphne" --no-fuse bench/ew_agg.daph n=$n m=$m)" "daphne-rs --no-fuse"
row "gram ${gn}x${gm}" "$(best_of "$daphne" bench/gram.daph n=$gn m=$gm)" \
    "$(best_of "$py" bench/gram.py $gn $gm)" numpy
row "sparse_spmv ${sn}^2 csr" "$(best_of "$daphne" --select-matrix-repr bench/sparse_spmv.daph n=$sn)" \
    "$(best_of "$daphne" bench/sparse_spmv.daph n=$sn)" "daphne-rs dense"
row "sparse_spmv ${sn}^2 csr" "$(best_of "$daphne" --select-matrix-repr bench/sparse_spmv.daph n=$sn)" \
    "$(best_of "$py" bench/sparse_spmv.py $sn)" "numpy dense"
