#!/usr/bin/env bash
# Benchmarks of the distributed runtime, each beside Dask (LocalCluster, 2 worker processes of
# one thread) in the same run, on 2 local workers (`--local-workers=2`, one thread each):
#
# - roundtrip: mean time of one pipeline whose input and output stay on the workers;
# - transfer: GB/s storing a 100 MB matrix's rows on the workers over loopback (the bytes and
#   wall time of the stores, encoding included, from `--timing`; Dask: `scatter` of the halves);
# - (a)-(e) of bench/compute (best of 3 repetitions in the process, so the data is already on
#   the workers after the first), beside the local run and Dask on the same shapes: with the
#   default policy (a large input goes to the workers at its second use, where the network
#   pays; "on workers" counts the pipeline runs that went) and forced (`--min-distr-cells=0`:
#   every pipeline on the workers);
# - worker memory over long loops (RSS of both workers after runs of 10, 1000, 5000 and 5000
#   iterations of `X = X * 0.5 + 1` on resident data, each iteration's X freed on the workers).
#
# Usage: bench/dist.sh [quick]   (quick: 10000x1000 only, one run; default adds 20000x2000)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3 sizes="10000x1000 20000x2000"
if [ "${1:-}" == "quick" ]; then runs=1 sizes="10000x1000"; fi

source bench/setup.sh
if ! "$py" -c "import dask.distributed" 2>/dev/null; then
    "$venv/bin/pip" install -q "dask[distributed]"
fi
dist=("$daphne" --distributed --local-workers=2)

# best CMD...: the smallest last line of $runs runs; most: the largest.
best() {
    for _ in $(seq "$runs"); do "$@" 2>/dev/null | tail -n 1; done | sort -g | head -n 1
}
most() {
    for _ in $(seq "$runs"); do "$@" 2>/dev/null | tail -n 1; done | sort -g | tail -n 1
}

ours=$(best "${dist[@]}" --min-distr-cells=0 bench/dist/roundtrip.daph k=2000)
theirs=$(best "$py" bench/dist/dask_bench.py roundtrip 300)
awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%-22s %10.3f ms   dask %9.3f ms %8.1fx\n", "round trip (resident)", a, b, b / a }'
# GB/s of a run: stored bytes over the stores' wall time, from `--timing`.
transfer() {
    "${dist[@]}" --min-distr-cells=0 --timing bench/dist/transfer.daph n=12500 m=1000 2>&1 >/dev/null |
        grep -o '"distributed": {[^}]*}' | tr ',' '\n' |
        awk -F: '/stored_bytes/ { b = $2 } /store_seconds/ { t = $2 } END { print b / t / 1e9 }'
}
ours=$(most transfer)
theirs=$(most "$py" bench/dist/dask_bench.py transfer 12500 1000)
awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%-22s %10.2f GB/s dask %9.2f GB/s %6.1fx\n", "transfer 100 MB", a, b, a / b }'

# A 100 MB broadcast to 3 workers and one pipeline over it: gRPC (3 local workers) and, when
# Open MPI is installed, MPI (mpirun -np 4: rank 0 and 3 worker ranks; a build with --features
# mpi). Prints the broadcast's seconds and the pipeline's (broadcast included).
bcast() {
    "$@" --min-distr-cells=0 --timing bench/dist/broadcast.daph 2>&1 >/dev/null | tr ',' '\n' |
        awk -F: '/"broadcast_seconds"/ { b = $2 } /broadcast.daph:7:/ { p = 1 } p && /"run_seconds"/ { r = $2; p = 0 }
                 END { printf "%.3f %.3f\n", b, r }'
}
read -r gb gp < <(for _ in $(seq "$runs"); do bcast "$daphne" --distributed --local-workers=3; done | sort -g | head -n 1)
if command -v mpirun >/dev/null && cargo build -q --release --features mpi --bin daphne --bin daphne-worker 2>/dev/null; then
    read -r mb mp < <(for _ in $(seq "$runs"); do
        bcast mpirun --allow-run-as-root --oversubscribe -np 4 "$daphne" --distributed --dist_backend=MPI
    done | sort -g | head -n 1)
    awk -v gb="$gb" -v gp="$gp" -v mb="$mb" -v mp="$mp" 'BEGIN {
        printf "%-22s MPI %6.3f s (pipeline %6.3f s)   gRPC %6.3f s (pipeline %6.3f s) %6.1fx\n",
            "broadcast 100 MB to 3", mb, mp, gb, gp, gb / mb }'
else
    echo "broadcast 100 MB to 3   gRPC $gb s (pipeline $gp s); MPI not measured (no Open MPI or no mpi build)"
fi

# Worker memory: two workers started here, RSS read from /proc after 10 and 1000 iterations.
pids=() addrs=()
tmp=$(mktemp -d)
for i in 1 2; do
    "$PWD/target/release/daphne-worker" 127.0.0.1:0 --num-threads=1 >"$tmp/$i" &
    pids+=("$!")
    until [ -s "$tmp/$i" ]; do sleep 0.05; done
    line=$(head -n 1 "$tmp/$i")
    addrs+=("${line##* }")
done
rm -r "$tmp"
rss() { for p in "${pids[@]}"; do awk '/VmRSS/ { print $2 }' "/proc/$p/status"; done | awk '{ s += $1 } END { print s }'; }
export DISTRIBUTED_WORKERS
DISTRIBUTED_WORKERS=$(IFS=,; echo "${addrs[*]}")
loop() { "$daphne" --distributed --min-distr-cells=0 tests/run/distributed/loop.daph "n=$1" >/dev/null; }
loop 10
r0=$(rss)
loop 1000
r1=$(rss)
loop 5000
r2=$(rss)
loop 5000
r3=$(rss)
kill "${pids[@]}"
unset DISTRIBUTED_WORKERS
echo "worker RSS, both workers (kB): after 10 iterations $r0; after 1000 more $r1; 5000 more $r2; 5000 more $r3"

printf "%-14s %-11s %12s %9s %12s %12s %12s %9s\n" workload shape distributed "on workers" forced local dask "vs dask"
for size in $sizes; do
    n=${size%x*} m=${size#*x}
    for w in a_chain b_colstats c_gram d_linreg e_kmeans; do
        d=$(best "${dist[@]}" "bench/compute/$w.daph" "n=$n" "m=$m")
        onw=$("${dist[@]}" --timing "bench/compute/$w.daph" "n=$n" "m=$m" 2>&1 >/dev/null |
            { grep -o '"distributed_runs":[0-9]*' || true; } | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
        f=$(best "${dist[@]}" --min-distr-cells=0 "bench/compute/$w.daph" "n=$n" "m=$m")
        l=$(best "$daphne" "bench/compute/$w.daph" "n=$n" "m=$m")
        k=$(best "$py" bench/dist/dask_bench.py "${w:0:1}" "$n" "$m")
        awk -v w="$w" -v s="$size" -v d="$d" -v r="${onw:-0}" -v f="$f" -v l="$l" -v k="$k" \
            'BEGIN { printf "%-14s %-11s %9.1f ms %9s %9.1f ms %9.1f ms %9.1f ms %8.2fx\n", w, s, d, r, f, l, k, k / d }'
    done
done
