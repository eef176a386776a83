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
# - whether both printed the local run's result;
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
local_iterate=$("$daphne" bench/dist/iterate.daph k=20 | head -n 1)
printf "%8s %14s %16s %12s %16s %5s\n" workers "dispatch ms" "coord CPU ms" "coord MB" "iteration ms" same
n=1
while [ "$n" -le "$max" ]; do
    dist=("$daphne" --distributed --local-workers="$n" --min-distr-cells=0 --timing)
    out300=$("${dist[@]}" bench/dist/dispatch.daph rows=65536 k=300 2>/tmp/scale.$$)
    t300=$(tail -n 1 /tmp/scale.$$)
    out100=$("${dist[@]}" bench/dist/dispatch.daph rows=65536 k=100 2>/tmp/scale.$$)
    t100=$(tail -n 1 /tmp/scale.$$)
    it=$("${dist[@]}" bench/dist/iterate.daph k=20 2>/dev/null)
    same=yes
    [ "$(head -n 1 <<<"$out300")" == "$local_dispatch" ] || same=NO
    [ "$(head -n 1 <<<"$out100")" == "$(head -n 1 <<<"$out300")" ] || true
    [ "$(head -n 1 <<<"$it")" == "$local_iterate" ] || same=NO
    awk -v n="$n" -v d="$(tail -n 1 <<<"$out300")" -v c3="$(field "$t300" cpu_seconds)" \
        -v c1="$(field "$t100" cpu_seconds)" -v m="$(field "$t300" peak_rss_bytes)" \
        -v i="$(tail -n 1 <<<"$it")" -v s="$same" \
        'BEGIN { printf "%8d %14.3f %16.3f %12.1f %16.2f %5s\n", n, d, (c3 - c1) / 200 * 1000, m / 1e6, i, s }'
    n=$((n * 2))
done
rm -f /tmp/scale.$$

printf "%10s %14s %16s %12s %16s %5s\n" simulated "dispatch ms" "coord CPU ms" "coord MB" "workers' MB" same
tmp=$(mktemp -d)
for n in 64 256 1024; do
    [ "$n" -le "$max_sim" ] || break
    "$PWD/target/release/daphne-worker" 127.0.0.1:0 --simulate="$n" --num-threads=1 >"$tmp/out" &
    pid=$!
    until [ "$(grep -c Started "$tmp/out")" -ge "$n" ]; do sleep 0.1; done
    export DISTRIBUTED_WORKERS
    DISTRIBUTED_WORKERS=$(sed 's/.* //' "$tmp/out" | paste -sd,)
    rows=$((n * 1024))
    local_sim=$("$daphne" bench/dist/dispatch.daph rows=$rows k=100 | head -n 1)
    dist=("$daphne" --distributed --min-distr-cells=0 --timing bench/dist/dispatch.daph rows=$rows)
    out300=$("${dist[@]}" k=300 2>"$tmp/t300")
    out100=$("${dist[@]}" k=100 2>"$tmp/t100")
    rss=$(awk '/VmRSS/ { print $2 / 1000 }' "/proc/$pid/status")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    unset DISTRIBUTED_WORKERS
    same=yes
    [ "$(head -n 1 <<<"$out100")" == "$local_sim" ] || same=NO
    t300=$(tail -n 1 "$tmp/t300") t100=$(tail -n 1 "$tmp/t100")
    awk -v n="$n" -v d="$(tail -n 1 <<<"$out300")" -v c3="$(field "$t300" cpu_seconds)" \
        -v c1="$(field "$t100" cpu_seconds)" -v m="$(field "$t300" peak_rss_bytes)" -v w="$rss" -v s="$same" \
        'BEGIN { printf "%10d %14.3f %16.3f %12.1f %16.1f %5s\n", n, d, (c3 - c1) / 200 * 1000, m / 1e6, w, s }'
done
rm -r "$tmp"
