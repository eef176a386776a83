#!/usr/bin/env bash
# Compute-only benchmarks of the codegen issue: each workload in bench/compute/ times its own
# computation (data generation excluded) in DaphneDSL (`now()`) and in NumPy (`perf_counter`)
# on the same shapes, in one run: the best of 3 repetitions inside each process (warm data),
# best of 3 processes, in milliseconds, and how many
# times faster we are, and the machine's limit for each (see `limit` below) and how far from it
# we are. The triad (A = B + 3 C) shows the machine's memory bandwidth.
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

# The machine's limits (bench/compute/limits.c, with the system C compiler when there is
# one): (a) hand-fused in C on every core; (b) one read of X and (e) two, at the triad's
# bandwidth; (c) and (d) the symmetric half of t(X) @ X and t(X) @ y, n m (m + 3) / 2 fused
# multiply-adds, at the FMA units' measured peak; the triad measured in C (STREAM's kernel).
limits=""
if command -v cc >/dev/null; then
    limits=$PWD/target/limits
    cc -O3 -march=native -mprefer-vector-width=512 -fopenmp -o "$limits" bench/compute/limits.c -lm 2>/dev/null ||
        cc -O3 -fopenmp -o "$limits" bench/compute/limits.c -lm || limits=""
fi
peak=""
if [ -n "$limits" ]; then
    peak=$("$limits" peak)
    echo "# FMA peak on this machine: $peak GFLOP/s (every core)"
fi
# limit W N M: the workload's limit in ms, or nothing.
limit() {
    [ -n "$limits" ] || return 0
    local w=$1 n=$2 m=$3 bw
    case $w in
        a_chain) "$limits" a "$n" "$m" | tail -n 1 ;;
        triad) "$limits" triad "$n" "$m" | head -n 1 ;;
        b_colstats | e_kmeans)
            bw=$("$limits" triad "$n" "$m" | tail -n 1)
            awk -v n="$n" -v m="$m" -v bw="$bw" -v reads="$([ "$w" == b_colstats ] && echo 1 || echo 2)" \
                'BEGIN { printf "%.3f\n", reads * 8 * n * m / (bw * 1e9) * 1e3 }'
            ;;
        c_gram | d_linreg)
            awk -v n="$n" -v m="$m" -v p="$peak" 'BEGIN { printf "%.3f\n", 2 * n * m * (m + 3) / 2 / (p * 1e9) * 1e3 }' ;;
    esac
}

printf "%-14s %-11s %12s %12s %8s %12s %9s\n" workload shape daphne-rs numpy speedup limit "vs limit"
for size in $sizes; do
    n=${size%x*} m=${size#*x}
    for w in a_chain b_colstats c_gram d_linreg e_kmeans f_small_loop triad; do
        ours=$(best "$daphne" "bench/compute/$w.daph" "n=$n" "m=$m")
        theirs=$(best "$py" "bench/compute/$w.py" "$n" "$m")
        lim=$(limit "$w" "$n" "$m")
        awk -v w="$w" -v s="$size" -v a="$ours" -v b="$theirs" -v l="${lim:-}" \
            'BEGIN { printf "%-14s %-11s %9.1f ms %9.1f ms %7.2fx", w, s, a, b, b / a
                     if (l != "") printf " %9.1f ms %8.2fx\n", l, a / l; else printf " %12s %9s\n", "-", "-" }'
    done
done
