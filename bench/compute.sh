#!/usr/bin/env bash
# Compute-only benchmarks of the codegen issue: each workload in bench/compute/ times its own
# computation (data generation excluded) in DaphneDSL (`now()`) and in NumPy (`perf_counter`)
# on the same shapes, in one run: the best of 3 repetitions inside each process (warm data),
# best of 3 processes, in milliseconds, and how many
# times faster we are. The triad (A = B + 3 C) shows the machine's memory bandwidth.
#
# Usage: bench/compute.sh [quick]   (quick: 10000x1000 only, one run; default adds 20000x2000)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3 sizes="10000x1000 20000x2000"
if [ "${1:-}" == "quick" ]; then runs=1 sizes="10000x1000"; fi

source bench/setup.sh

# best CMD...: the smallest last line (milliseconds) of $runs runs.
best() {
    for _ in $(seq "$runs"); do "$@" | tail -n 1; done | sort -g | head -n 1
}

printf "%-14s %-11s %12s %12s %8s\n" workload shape daphne-rs numpy speedup
for size in $sizes; do
    n=${size%x*} m=${size#*x}
    for w in a_chain b_colstats c_gram d_linreg e_kmeans f_small_loop triad; do
        ours=$(best "$daphne" "bench/compute/$w.daph" "n=$n" "m=$m")
        theirs=$(best "$py" "bench/compute/$w.py" "$n" "$m")
        awk -v w="$w" -v s="$size" -v a="$ours" -v b="$theirs" \
            'BEGIN { printf "%-14s %-11s %9.1f ms %9.1f ms %7.2fx\n", w, s, a, b, b / a }'
    done
done
