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
#   iterations of `X = X * 0.5 + 1` on resident data, each iteration's X freed on the workers);
# - data born on the workers (`born`): (b)-(e) with X and y read by the 2 workers from the same
#   Parquet files Dask reads (`dask.dataframe.read_parquet` on its 2 workers), beside the local
#   run: the op and pipeline runs on workers, the coordinator's peak RSS against the input's
#   size, and whether the output is the local run's; and the examples' algorithms at scale
#   (bench/dist/pagerank.daph, connected_components.daph, kmeans.daph: data generated on the
#   workers) beside the local run: the share of the cell work on the workers, the
#   coordinator's peak RSS, the same output;
# - the worker path against the local one: per-iteration time of `X = X * 0.999 + 0.001`
#   (64000 x 100) resident on 1 worker with 1 and 2 threads, and locally with as many;
# - reading a 1 GB CSV file and a Parquet file of the same matrix on 2 workers (each its rows)
#   and locally: GB/s of the file's bytes, from `--timing`'s time of the read op.
#
# Usage: bench/dist.sh [quick|born]   (quick: 10000x1000 only, one run; default adds
# 20000x2000; born: only the last four sections, at 10000x1000, 40000x1000 and 400000x100)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3 sizes="10000x1000 20000x2000" born_sizes="10000x1000 40000x1000 400000x100" only_born=0
if [ "${1:-}" == "quick" ]; then runs=1 sizes="10000x1000" born_sizes="10000x1000"; fi
if [ "${1:-}" == "born" ]; then only_born=1; fi

source bench/setup.sh
if ! "$py" -c "import dask.distributed, dask.dataframe, pyarrow" 2>/dev/null; then
    "$venv/bin/pip" install -q "dask[distributed,dataframe]" pyarrow
fi
dist=("$daphne" --distributed --local-workers=2)

# best CMD...: the smallest last line of $runs runs; most: the largest.
best() {
    for _ in $(seq "$runs"); do "$@" 2>/dev/null | tail -n 1; done | sort -g | head -n 1
}
most() {
    for _ in $(seq "$runs"); do "$@" 2>/dev/null | tail -n 1; done | sort -g | tail -n 1
}

if [ "$only_born" == 0 ]; then
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
fi

# Data born on the workers. The files are written once, by a local run (the same bits as the
# generated X and y of bench/compute); the workloads are bench/compute's with their `rand`
# lines replaced by reads.
data=target/bench-dist
mkdir -p "$data"
peak_mb() { grep -o '"peak_rss_bytes": *[0-9]*' | awk -F: '{ printf "%.0f", $2 / 1e6 }'; }
on_workers() {
    grep -o '"distributed_runs":[0-9]*\|"on_workers":[0-9]*' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }'
}
printf "%-11s %-11s %11s %9s %9s %11s %11s %11s %9s %5s\n" \
    workload shape distributed "on wkrs" "coord MB" "input MB" local dask "vs dask" same
for size in $born_sizes; do
    n=${size%x*} m=${size#*x}
    X="$data/X_${n}x$m.parquet" y="$data/y_$n.parquet"
    if [ ! -e "$X" ] || [ ! -e "$y" ]; then
        printf 'write(rand(%s, %s, 0.0, 1.0, 1.0, 42), "%s");\nwrite(rand(%s, 1, 0.0, 1.0, 1.0, 43), "%s");\n' \
            "$n" "$m" "$X" "$n" "$y" >"$data/write.daph"
        "$daphne" "$data/write.daph"
    fi
    for w in b_colstats c_gram d_linreg e_kmeans; do
        script="$data/$w.daph"
        sed -e 's|^X = rand(.*|X = readMatrix($X);|' -e 's|^y = rand(.*|y = readMatrix($y);|' \
            "bench/compute/$w.daph" >"$script"
        args=("$script" "X=\"$X\"" "y=\"$y\"" "n=$n" "m=$m")
        d=$(best "${dist[@]}" "${args[@]}")
        timing=$("${dist[@]}" --timing "${args[@]}" 2>&1 >"$data/out.dist" | tail -n 1)
        onw=$(echo "$timing" | on_workers)
        coord=$(echo "$timing" | peak_mb)
        l=$(best "$daphne" "${args[@]}")
        "$daphne" "${args[@]}" >"$data/out.local"
        same=$(cmp -s <(head -n -1 "$data/out.dist") <(head -n -1 "$data/out.local") && echo yes || echo NO)
        k=$(best "$py" bench/dist/dask_bench.py files "${w:0:1}" "$X" "$y")
        awk -v w="$w" -v s="$size" -v d="$d" -v r="$onw" -v c="$coord" -v i="$((n * m * 8 / 1000000))" \
            -v l="$l" -v k="$k" -v same="$same" \
            'BEGIN { printf "%-11s %-11s %8.1f ms %9s %9s %11s %8.1f ms %8.1f ms %8.2fx %5s\n", w, s, d, r, c, i, l, k, k / d, same }'
    done
done

# The examples' algorithms at scale (bench/dist/: PageRank, connected components, k-means over
# generated data), with the default policy: execution time from `--timing` (best of $runs),
# the share of the cell work done on the workers, the coordinator's peak RSS, and whether the
# output is the local run's.
exec_ms() {
    for _ in $(seq "$runs"); do
        "$@" --timing 2>&1 >/dev/null | tail -n 1 | grep -o '"execution_seconds": *[0-9.e-]*' | awk -F: '{ print $2 * 1000 }'
    done | sort -g | head -n 1
}
printf "%-34s %11s %11s %12s %9s %5s\n" workload distributed local "wkr share" "coord MB" same
for args in "pagerank n=5000 p=0.01" "connected_components n=5000 p=0.0005" "kmeans n=500000 m=10 k=5 iter=10"; do
    read -r w sizes <<<"$args"
    run=("bench/dist/$w.daph" $sizes)
    d=$(exec_ms "${dist[@]}" "${run[@]}")
    l=$(exec_ms "$daphne" "${run[@]}")
    timing=$("${dist[@]}" --timing "${run[@]}" 2>&1 >"$data/out.dist" | tail -n 1)
    share=$(echo "$timing" | grep -o '"worker_cell_share":[0-9.e-]*' | cut -d: -f2)
    coord=$(echo "$timing" | peak_mb)
    "$daphne" "${run[@]}" >"$data/out.local"
    same=$(cmp -s "$data/out.dist" "$data/out.local" && echo yes || echo NO)
    awk -v w="$w ${sizes%% *}" -v d="$d" -v l="$l" -v s="$share" -v c="$coord" -v same="$same" \
        'BEGIN { printf "%-34s %8.1f ms %8.1f ms %12.4f %9s %5s\n", w, d, l, s, c, same }'
done

# The worker path against the local one, same threads: one worker started here.
for threads in 1 2; do
    tmp=$(mktemp)
    "$PWD/target/release/daphne-worker" 127.0.0.1:0 --num-threads="$threads" >"$tmp" &
    pid=$!
    until [ -s "$tmp" ]; do sleep 0.05; done
    addr=$(head -n 1 "$tmp")
    addr=${addr##* }
    rm "$tmp"
    w=$(DISTRIBUTED_WORKERS=$addr best "$daphne" --distributed --min-distr-cells=0 bench/dist/iterate.daph k=50)
    kill "$pid"
    l=$(best "$daphne" --num-threads="$threads" bench/dist/iterate.daph k=50)
    awk -v t="$threads" -v w="$w" -v l="$l" 'BEGIN {
        printf "iteration on 1 worker, %d thread(s): %7.2f ms; local %7.2f ms; ratio %5.2f\n", t, w, l, w / l }'
done

# Reading a 1 GB CSV file and a Parquet file of the same matrix: GB/s of the file's bytes.
big=$data/big
if [ ! -e "$big.csv" ]; then
    printf 'X = rand(560000, 100, 0.0, 1.0, 1.0, 7);\nwrite(X, "%s.csv");\nwrite(X, "%s.parquet");\n' \
        "$big" "$big" >"$data/big.daph"
    "$daphne" "$data/big.daph"
fi
# read_seconds FILE CMD...: the seconds of the read op of `CMD --timing read.daph f=FILE`.
read_seconds() {
    local f=$1
    shift
    "$@" --timing bench/dist/read.daph "f=\"$f\"" 2>&1 >/dev/null | tail -n 1 |
        grep -o '"op":"readMatrix","run_seconds":[0-9.e-]*' | cut -d: -f3
}
for f in "$big.csv" "$big.parquet"; do
    bytes=$(du -b "$f" | cut -f1)
    d=$(for _ in $(seq "$runs"); do read_seconds "$f" "${dist[@]}" --min-distr-cells=0; done | sort -g | head -n 1)
    l=$(for _ in $(seq "$runs"); do read_seconds "$f" "$daphne"; done | sort -g | head -n 1)
    awk -v f="${f##*/}" -v b="$bytes" -v d="$d" -v l="$l" 'BEGIN {
        printf "read %-12s %6.2f GB: 2 workers %6.2f GB/s, local %6.2f GB/s\n", f, b / 1e9, b / d / 1e9, b / l / 1e9 }'
done
