#!/usr/bin/env bash
# Scale of the distributed runtime on this machine: N real worker processes of one thread
# each (`--local-workers=N`, loopback gRPC), N = 1, 2, 4, ..., 64. Per N:
#
# - dispatch: wall time per pipeline of a small resident pipeline on every worker
#   (bench/dist/dispatch.daph, 65536 x 1: every worker gets rows up to 64 workers), mean over
#   300 iterations; the coordinator's own CPU per pipeline (the difference of `--timing`'s
#   `cpu_seconds` between 300 and 100 iterations, over 200) and its peak RSS;
# - iterate: wall time per iteration of `X = X * 0.999 + 0.001` over a resident 64000 x 100
#   (bench/dist/iterate.daph, 20 iterations);
# - reduce: wall time per pipeline of a small resident fold on every worker whose partial
#   sums come back (bench/dist/reduce.daph, 100 iterations);
# - whether all printed the local run's result;
#
# each twice: star (the coordinator calls every worker itself) and tree (`--tree-above=1`:
# the coordinator calls 4 workers, which relay to 4 each, and so on; relays fold their
# subtree's partial sums),
#
# then the same dispatch against 64, 256 and 1024 simulated workers: one `daphne-worker
# --simulate=N` process hosting N workers, each its own endpoint, store and compute thread
# (rows: 1024 per worker, so each gets 4 blocks), where the coordinator talks to N endpoints
# as it would to N machines.
#
# With more workers than cores the workers share this machine's cores, so wall times past 2
# workers include their time slices; the coordinator's CPU per pipeline is what grows with N
# on a real cluster.
#
# Usage: bench/scale.sh [MAX_WORKERS [MAX_SIMULATED]]   (default 64 and 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
max=${1:-64} max_sim=${2:-1024}
cargo build -q --release --bin daphne --bin daphne-worker
daphne=$PWD/target/release/daphne

# field JSON KEY: a number from `--timing`'s JSON.
field() { grep -o "\"$2\": *[0-9.e+-]*" <<<"$1" | head -n 1 | sed 's/.*: *//'; }

local_dispatch=$("$daphne" bench/dist/dispatch.daph rows=65536 k=300 | head -n 1)
local_reduce=$("$daphne" bench/dist/reduce.daph rows=65536 k=100 | head -n 1)
local_iterate=$("$daphne" bench/dist/iterate.daph k=20 | head -n 1)
# The two ways of reaching the workers: the coordinator calls every worker itself (star), or
# calls 4 that relay to 4 each, and so on (tree: the default past 16 workers).
star=--tree-above=1000000 tree=--tree-above=1
printf "%10s %5s %12s %13s %10s %11s %12s %5s\n" workers mode "dispatch ms" "coord CPU ms" "reduce ms" "coord MB" "iteration ms" same
# row N MODE_FLAG MODE_NAME LOCAL_ROWS: one row of the table, with DISTRIBUTED_WORKERS set or
# --local-workers=N.
row() {
    local n=$1 flag=$2 mode=$3 rows=$4 workers=()
    [ -n "${DISTRIBUTED_WORKERS:-}" ] || workers=(--local-workers="$n")
    local dist=("$daphne" --distributed "${workers[@]}" --min-distr-cells=0 --timing "$flag")
    local out300 out100 t300 t100 red it="" same=yes
    out300=$("${dist[@]}" bench/dist/dispatch.daph rows="$rows" k=300 2>/tmp/scale.$$)
    t300=$(tail -n 1 /tmp/scale.$$)
    out100=$("${dist[@]}" bench/dist/dispatch.daph rows="$rows" k=100 2>/tmp/scale.$$)
    t100=$(tail -n 1 /tmp/scale.$$)
    red=$("${dist[@]}" bench/dist/reduce.daph rows="$rows" k=100 2>/dev/null)
    [ "$(head -n 1 <<<"$out300")" == "$(local_of dispatch "$rows" 300)" ] || same=NO
    [ "$(head -n 1 <<<"$red")" == "$(local_of reduce "$rows" 100)" ] || same=NO
    if [ -z "${DISTRIBUTED_WORKERS:-}" ]; then
        it=$("${dist[@]}" bench/dist/iterate.daph k=20 2>/dev/null)
        [ "$(head -n 1 <<<"$it")" == "$local_iterate" ] || same=NO
        it=$(tail -n 1 <<<"$it")
    fi
    awk -v n="$n" -v mode="$mode" -v d="$(tail -n 1 <<<"$out300")" -v c3="$(field "$t300" cpu_seconds)" \
        -v c1="$(field "$t100" cpu_seconds)" -v m="$(field "$t300" peak_rss_bytes)" -v r="$(tail -n 1 <<<"$red")" \
        -v i="$it" -v s="$same" \
        'BEGIN { printf "%10s %5s %12.3f %13.3f %10.3f %11.1f %12s %5s\n", n, mode, d, (c3 - c1) / 200 * 1000, r, m / 1e6, i, s }'
}
# local_of SCRIPT ROWS K: the local run's first line (cached per shape).
local_of() {
    local key="$1_$2_$3"
    if [ -z "${cache[$key]:-}" ]; then
        cache[$key]=$("$daphne" "bench/dist/$1.daph" rows="$2" k="$3" | head -n 1)
    fi
    printf '%s\n' "${cache[$key]}"
}
declare -A cache
cache[dispatch_65536_300]=$local_dispatch cache[reduce_65536_100]=$local_reduce
n=1
while [ "$n" -le "$max" ]; do
    row "$n" "$star" star 65536
    [ "$n" -lt 4 ] || row "$n" "$tree" tree 65536
    n=$((n * 2))
done

tmp=$(mktemp -d)
for n in 64 256 1024; do
    [ "$n" -le "$max_sim" ] || break
    : >"$tmp/out"
    "$PWD/target/release/daphne-worker" 127.0.0.1:0 --simulate="$n" --num-threads=1 >"$tmp/out" &
    pid=$!
    until [ "$(grep -c Started "$tmp/out")" -ge "$n" ]; do sleep 0.1; done
    export DISTRIBUTED_WORKERS
    DISTRIBUTED_WORKERS=$(sed 's/.* //' "$tmp/out" | paste -sd,)
    row "$n sim" "$star" star $((n * 1024))
    row "$n sim" "$tree" tree $((n * 1024))
    echo "           (the $n simulated workers' process: $(awk '/VmRSS/ { print $2 / 1000 }' "/proc/$pid/status") MB)"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    unset DISTRIBUTED_WORKERS
done
rm -r "$tmp" /tmp/scale.$$
