#!/usr/bin/env bash
# A cluster of hosts simulated on this machine with network namespaces, for the distributed
# runtime and Dask over links of a given rate (issue 23's multi-host simulation). Needs root.
#
# Topology (every address private, every packet inside namespaces this script makes):
#
#                 dcl-br: bridge br0 (no address)
#        v-c /     v-w1 |   v-w2 |   ...   \ v-wN          (bridge ends of veth pairs)
#     eth0  /      eth0 |   eth0 |          \ eth0
#      dcl-c        dcl-w1   dcl-w2   ...    dcl-wN
#   10.77.0.1      10.77.1.1 10.77.1.2       10.77.1.N       (/16, loopback up in each)
#   coordinator    daphne-worker 10.77.1.i:7001 --num-threads=1 (one per namespace)
#   (dask scheduler)  (dask worker --nthreads 1, while the Dask rows run)
#
# Every link is throttled at both ends (`tc qdisc replace dev ... root tbf rate R`: the host's
# eth0 and the bridge's v-*), so each host, the coordinator included, sends and receives at
# most R; this kernel has no netem, so no latency is added. The rounds run at each rate of
# $RATES (default "10gbit 1gbit"), the qdiscs replaced between rounds. The calls carry an
# auth token (a fresh file; workers on non-loopback addresses should not serve without one).
# The namespaces share the file system, so the workers read the same Parquet files.
#
# Rows, per rate (the local run's figures are measured once, in the root namespace: they do
# not depend on the links):
#
# - codegen: (a)-(e) of bench/compute over X (and y) read by the workers from Parquet files
#   (bench/dist.sh's `born` rows, with (a) too; the files written once by a local run, the
#   same bits as bench/compute's `rand`), at each shape of $SIZES: the script's own best of
#   3 repetitions (ms, computation after the read), the op and pipeline runs on workers, the
#   local run, Dask on the same namespaces (`dask_bench.py files`, its workers reading the
#   same files), the coordinator's CPU (`--timing`'s cpu_seconds, the whole run, the read
#   included) and peak RSS, "net MB" (what the coordinator stored on and fetched from the
#   workers: `--timing`'s stored_bytes + fetched_bytes), and whether the output is the local
#   run's bytes (same);
# - examples: bench/dist/pagerank.daph, connected_components.daph, kmeans.daph (data made
#   on the workers): `--timing`'s execution seconds, the local run's, the share of the cell
#   work on the workers, net MB, coordinator CPU and peak RSS, same;
# - broadcast: bench/dist/broadcast.daph (a 100 MB row vector to every worker, then one
#   pipeline over it, `--min-distr-cells=0`): `--timing`'s broadcast_bytes over
#   broadcast_seconds as GB/s (all workers' bytes together), the broadcast's seconds, the
#   pipeline's (broadcast included), and "link floor": the seconds the coordinator's link
#   needs for those bytes at R (a star broadcast cannot beat it); coordinator CPU and peak
#   RSS, same. Run "star" with $STAR_FLAGS and "tree" with $TREE_FLAGS added to the
#   coordinator's flags; the tree row is skipped when `daphne --help` has no --tree-above.
#
# "cpu s" and "rss MB" are the coordinator's (`--timing`'s cpu_seconds and peak_rss_bytes).
#
# Usage: bench/cluster.sh [WORKERS]      (1-64, default 8)
# Environment: RATES="10gbit 1gbit", SIZES="10000x1000 40000x1000", ROWS="codegen examples
# broadcast" (a subset to run), DASK=1 (0: no Dask), TIMEOUT=600 (seconds per run), FORCE=1
# (run the broadcast even when /proc/meminfo says the workers' ~160 MB each will not fit),
# STAR_FLAGS / TREE_FLAGS (default --tree-above=100000 / --tree-above=1 where supported),
# COORD_FLAGS (added to every coordinator run, e.g. --tree-above=1 for the codegen rows).
# Example: ROWS=broadcast RATES=1gbit bench/cluster.sh 64
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "bench/cluster.sh: needs root (it makes network namespaces, veth pairs and tc qdiscs); run it as root or with sudo" >&2
    exit 1
fi
workers=${1:-8}
if ! [[ "$workers" =~ ^[0-9]+$ ]] || [ "$workers" -lt 1 ] || [ "$workers" -gt 64 ]; then
    echo "bench/cluster.sh: WORKERS must be 1-64, not '$workers'" >&2
    exit 2
fi
for tool in ip tc timeout; do
    command -v "$tool" >/dev/null || { echo "bench/cluster.sh: needs '$tool'" >&2; exit 1; }
done
RATES=${RATES:-"10gbit 1gbit"}
SIZES=${SIZES:-"10000x1000 40000x1000"}
ROWS=${ROWS:-"codegen examples broadcast"}
DASK=${DASK:-1}
TIMEOUT=${TIMEOUT:-600}
port=7001 dask_port=8786 coord_ip=10.77.0.1
wants() { [[ " $ROWS " == *" $1 "* ]]; }

# shellcheck source=bench/setup.sh
source bench/setup.sh # builds daphne and daphne-worker, sets $daphne, $venv and $py
worker_bin=$PWD/target/release/daphne-worker
if wants codegen && [ "$DASK" == 1 ] && ! "$py" -c "import dask.distributed, dask.dataframe, pyarrow" 2>/dev/null; then
    "$venv/bin/pip" install -q "dask[distributed,dataframe]" pyarrow
fi
if "$daphne" --help 2>&1 | grep -q -- --tree-above; then
    STAR_FLAGS=${STAR_FLAGS:-"--tree-above=100000"} TREE_FLAGS=${TREE_FLAGS:-"--tree-above=1"} tree=1
else
    STAR_FLAGS=${STAR_FLAGS:-} TREE_FLAGS=${TREE_FLAGS:-} tree=0
fi

tmp=$(mktemp -d /tmp/dcl.XXXXXX)
hosts=(dcl-c) ips=("$coord_ip")
for i in $(seq "$workers"); do
    hosts+=("dcl-w$i")
    ips+=("10.77.1.$i")
done

# bg OUT ERR CMD...: runs CMD in the background (stdout to OUT, stderr to ERR) and waits for
# it (its exit code), so that a signal to this script runs its trap at once, not after CMD;
# cleanup ends CMD when it is left.
child=
bg() {
    local out=$1 err=$2
    shift 2
    "$@" >"$out" 2>"$err" &
    child=$!
    wait "$child"
}

# Kills the running command and every process in our namespaces (by the ids `ip netns pids` names), then removes them:
# the veth pairs and the bridge go with them.
cleanup() {
    local ns pids
    [ -z "${child:-}" ] || kill "$child" 2>/dev/null || true
    for ns in $(ip netns list 2>/dev/null | awk '/^dcl-/ { print $1 }'); do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill $pids 2>/dev/null || true
    done
    sleep 0.5
    for ns in $(ip netns list 2>/dev/null | awk '/^dcl-/ { print $1 }'); do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "bench/cluster.sh: interrupted" >&2; exit 130' INT TERM
fail() {
    echo "bench/cluster.sh: $*" >&2
    exit 1
}

if ip netns list | grep -q '^dcl-'; then
    echo "bench/cluster.sh: removing namespaces left by an earlier run: $(ip netns list | awk '/^dcl-/ { printf "%s ", $1 }')" >&2
    cleanup
    tmp=$(mktemp -d /tmp/dcl.XXXXXX)
fi

# The namespaces, the bridge and one veth pair per host.
ip netns add dcl-br || fail "cannot make network namespaces (ip netns add failed)"
ip -n dcl-br link add br0 type bridge
ip -n dcl-br link set br0 up
ip -n dcl-br link set lo up
for h in "${!hosts[@]}"; do
    ns=${hosts[$h]} end=v-${hosts[$h]#dcl-}
    ip netns add "$ns"
    ip link add eth0 netns "$ns" type veth peer name "$end" netns dcl-br
    ip -n dcl-br link set "$end" master br0
    ip -n dcl-br link set "$end" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "${ips[$h]}/16" dev eth0
    ip -n "$ns" link set eth0 up
done

# set_rate R: a tbf qdisc of rate R at both ends of every link (added the first time, changed
# after). Burst: 2 ms at R (at least 256 KB, so a 64 KB segment always passes).
set_rate() {
    local rate=$1 bits burst h ns
    bits=$(awk -v r="$rate" 'BEGIN { n = r + 0; u = tolower(substr(r, length(n "") + 1));
        m = (u ~ /^g/) ? 1e9 : (u ~ /^m/) ? 1e6 : (u ~ /^k/) ? 1e3 : 1; print n * m }')
    burst=$(awk -v b="$bits" 'BEGIN { x = b / 8 * 0.002; if (x < 262144) x = 262144; printf "%d", x }')
    for h in "${!hosts[@]}"; do
        ns=${hosts[$h]}
        ip netns exec "$ns" tc qdisc replace dev eth0 root tbf rate "$rate" burst "$burst" latency 50ms
        ip netns exec dcl-br tc qdisc replace dev "v-${ns#dcl-}" root tbf rate "$rate" burst "$burst" latency 50ms
    done
    rate_bits=$bits
}

# Workers: one daphne-worker of one thread per worker namespace, behind a fresh auth token.
token=$tmp/token
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token"
echo >>"$token"
addrs=()
for i in $(seq "$workers"); do
    ip netns exec "dcl-w$i" "$worker_bin" "10.77.1.$i:$port" --num-threads=1 --auth-token-file="$token" \
        >"$tmp/w$i.log" 2>&1 &
    addrs+=("10.77.1.$i:$port")
done
deadline=$((SECONDS + 60))
for i in $(seq "$workers"); do
    until grep -q Started "$tmp/w$i.log"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "worker $i did not start within 60 s: $(cat "$tmp/w$i.log")"
        sleep 0.1
    done
done
export DISTRIBUTED_WORKERS
DISTRIBUTED_WORKERS=$(IFS=,; echo "${addrs[*]}")

# coord OUT ERR ARGS...: a run of the coordinator in dcl-c (stdout to OUT, stderr to ERR);
# local OUT ERR ARGS...: a local run in the root namespace. Both time-limited; the exit code.
coord() {
    local out=$1 err=$2
    shift 2
    # shellcheck disable=SC2086 # COORD_FLAGS: flags, split on spaces
    bg "$out" "$err" timeout "$TIMEOUT" ip netns exec dcl-c "$daphne" --distributed --auth-token-file="$token" ${COORD_FLAGS:-} "$@"
}
local_run() {
    local out=$1 err=$2
    shift 2
    bg "$out" "$err" timeout "$TIMEOUT" "$daphne" "$@"
}
# field FILE KEY: the first number of KEY in FILE (`--timing`'s JSON); empty when absent.
field() { { grep -o "\"$2\": *[0-9.e+-]*" "$1" || true; } | head -n 1 | sed 's/.*: *//'; }
mb() { awk -v b="${1:-}" 'BEGIN { if (b == "") print "-"; else printf "%.0f", b / 1e6 }'; }
secs() { awk -v s="${1:-}" 'BEGIN { if (s == "") print "-"; else printf "%.2f", s }'; }
# same A B: whether two outputs are the same bytes, but for their last lines (the figure).
same_but_last() { cmp -s <(head -n -1 "$1") <(head -n -1 "$2") && echo yes || echo NO; }
# net_mb TIMING: the coordinator's traffic of the run, MB stored on and fetched from workers.
net_mb() {
    awk -v s="$(field "$1" stored_bytes)" -v f="$(field "$1" fetched_bytes)" 'BEGIN { printf "%.0f", (s + f) / 1e6 }'
}
why() { echo "FAIL($1): $(grep -v '^{' "$2" | tail -n 1 | cut -c1-100)"; }

# Dask: a scheduler in dcl-c, a worker of one thread in every worker namespace.
dask_pids=()
dask_start() {
    ip netns exec dcl-c "$venv/bin/dask" scheduler --host "$coord_ip" --port "$dask_port" --no-dashboard \
        >"$tmp/dask-scheduler.log" 2>&1 &
    dask_pids=("$!")
    for i in $(seq "$workers"); do
        ip netns exec "dcl-w$i" "$venv/bin/dask" worker "tcp://$coord_ip:$dask_port" --host "10.77.1.$i" \
            --nthreads 1 --nworkers 1 --no-nanny --no-dashboard >"$tmp/dask-w$i.log" 2>&1 &
        dask_pids+=("$!")
    done
    bg /dev/null "$tmp/dask-wait.log" timeout 120 ip netns exec dcl-c "$py" -c "
import sys, logging; logging.disable(logging.WARNING)
from dask.distributed import Client
c = Client('tcp://$coord_ip:$dask_port', timeout=60); c.wait_for_workers($workers, timeout=90); c.close()"
}
# SIGTERM, then SIGKILL for what is left after 5 s (a worker whose scheduler went first may
# linger trying to reconnect).
dask_stop() {
    local p _ alive
    [ "${#dask_pids[@]}" != 0 ] || return 0
    kill "${dask_pids[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
        alive=0
        for p in "${dask_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" == 1 ] || break
        sleep 0.1
    done
    for p in "${dask_pids[@]}"; do
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    dask_pids=()
}

data=$PWD/target/bench-cluster
mkdir -p "$data"
declare -A local_ms # the local runs' figures, by workload and shape
echo "# $workers workers in network namespaces (dcl-w1..dcl-w$workers), coordinator in dcl-c; $(nproc) cores"

codegen() {
    local rate=$1 size n m X y f src dst w script args d k rc onw net cpu rss same dask_ok=0
    if [ "$DASK" == 1 ]; then
        if dask_start; then dask_ok=1; else echo "# Dask did not start: $(tail -n 1 "$tmp/dask-wait.log")"; dask_stop; fi
    fi
    printf "%-7s %-11s %-11s %10s %10s %10s %8s %8s %8s %7s %5s\n" \
        rate workload shape "dist ms" "local ms" "dask ms" "on wkrs" "net MB" "cpu s" "rss MB" same
    for size in $SIZES; do
        n=${size%x*} m=${size#*x}
        X="$data/X_${n}x$m.parquet" y="$data/y_$n.parquet"
        if [ ! -e "$X" ] || [ ! -e "$y" ]; then
            printf 'write(rand(%s, %s, 0.0, 1.0, 1.0, 42), "%s");\nwrite(rand(%s, 1, 0.0, 1.0, 1.0, 43), "%s");\n' \
                "$n" "$m" "$X.tmp.parquet" "$n" "$y.tmp.parquet" >"$data/write.daph"
            "$daphne" "$data/write.daph" || fail "writing $X failed"
            mv "$X.tmp.parquet" "$X"
            mv "$y.tmp.parquet" "$y"
        fi
        # The same cells in a row group per worker (pyarrow), so that both systems' workers
        # each read their own part (one group of the whole file, every worker would decode it
        # all, and Dask would read it as one partition on one worker).
        if "$py" -c "import pyarrow" 2>/dev/null; then
            for f in X y; do
                src=${!f} dst=${!f%.parquet}_g$workers.parquet
                if [ ! -e "$dst" ]; then
                    "$py" -c "import sys, pyarrow.parquet as pq
pq.write_table(pq.read_table(sys.argv[1]), sys.argv[2] + '.tmp', row_group_size=-(-int(sys.argv[3]) // int(sys.argv[4])))" \
                        "$src" "$dst" "$n" "$workers" || fail "rewriting $src failed"
                    mv "$dst.tmp" "$dst"
                fi
                printf -v "$f" %s "$dst"
            done
        fi
        for w in a_chain b_colstats c_gram d_linreg e_kmeans; do
            script="$data/$w.daph"
            # shellcheck disable=SC2016 # $X and $y are DaphneDSL's script arguments
            sed -e 's|^X = rand(.*|X = readMatrix($X);|' -e 's|^y = rand(.*|y = readMatrix($y);|' \
                "bench/compute/$w.daph" >"$script"
            args=("$script" "X=\"$X\"" "y=\"$y\"" "n=$n" "m=$m")
            if [ -z "${local_ms[$w$size]:-}" ]; then
                rc=0
                local_run "$data/local.$w.$size" "$tmp/err" "${args[@]}" || rc=$?
                local_ms[$w$size]=$([ "$rc" == 0 ] && tail -n 1 "$data/local.$w.$size" || echo "FAIL($rc)")
            fi
            rc=0
            coord "$tmp/out" "$tmp/err" --timing "${args[@]}" || rc=$?
            if [ "$rc" == 0 ]; then
                d=$(tail -n 1 "$tmp/out")
                onw=$({ grep -o '"distributed_runs":[0-9]*\|"on_workers":[0-9]*' "$tmp/err" || true; } |
                    cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
                cpu=$(secs "$(field "$tmp/err" cpu_seconds)") rss=$(mb "$(field "$tmp/err" peak_rss_bytes)")
                net=$(net_mb "$tmp/err")
                same=$(same_but_last "$tmp/out" "$data/local.$w.$size")
            else
                d=$(why "$rc" "$tmp/err") onw=- cpu=- rss=- same=- net=-
            fi
            k=-
            if [ "$dask_ok" == 1 ]; then
                rc=0
                DASK_SCHEDULER="tcp://$coord_ip:$dask_port" bg "$tmp/dask.out" "$tmp/dask.err" timeout "$TIMEOUT" \
                    ip netns exec dcl-c "$py" bench/dist/dask_bench.py files "${w:0:1}" "$X" "$y" || rc=$?
                k=$([ "$rc" == 0 ] && tail -n 1 "$tmp/dask.out" || echo "FAIL($rc)")
            fi
            awk -v r="$rate" -v w="$w" -v s="$size" -v d="$d" -v l="${local_ms[$w$size]}" -v k="$k" \
                -v o="$onw" -v net="$net" -v c="$cpu" -v mem="$rss" -v same="$same" '
                function ms(x) { return (x ~ /^-?[0-9]/) ? sprintf("%10.1f", x) : sprintf("%10s", x) }
                BEGIN { printf "%-7s %-11s %-11s %s %s %s %8s %8s %8s %7s %5s\n", r, w, s, ms(d), ms(l), ms(k), o, net, c, mem, same }'
        done
    done
    dask_stop
}

examples() {
    local rate=$1 spec w sizes run key rc d share net cpu rss same
    printf "%-7s %-34s %10s %10s %10s %8s %8s %7s %5s\n" rate example "dist ms" "local ms" "wkr share" "net MB" "cpu s" "rss MB" same
    for spec in "pagerank n=5000 p=0.01" "connected_components n=5000 p=0.0005" "kmeans n=500000 m=10 k=5 iter=10"; do
        read -r w sizes <<<"$spec"
        # shellcheck disable=SC2206
        run=("bench/dist/$w.daph" $sizes)
        key=ex$w
        if [ -z "${local_ms[$key]:-}" ]; then
            rc=0
            local_run "$data/local.$key" "$tmp/err" --timing "${run[@]}" || rc=$?
            local_ms[$key]=$([ "$rc" == 0 ] && awk -v s="$(field "$tmp/err" execution_seconds)" 'BEGIN { print s * 1000 }' || echo "FAIL($rc)")
        fi
        rc=0
        coord "$tmp/out" "$tmp/err" --timing "${run[@]}" || rc=$?
        if [ "$rc" == 0 ]; then
            d=$(awk -v s="$(field "$tmp/err" execution_seconds)" 'BEGIN { printf "%.1f", s * 1000 }')
            share=$(awk -v s="$(field "$tmp/err" worker_cell_share)" 'BEGIN { if (s == "") print "-"; else printf "%.4f", s }')
            cpu=$(secs "$(field "$tmp/err" cpu_seconds)") rss=$(mb "$(field "$tmp/err" peak_rss_bytes)")
            net=$(net_mb "$tmp/err")
            same=$(cmp -s "$tmp/out" "$data/local.$key" && echo yes || echo NO)
        else
            d=$(why "$rc" "$tmp/err") share=- cpu=- rss=- same=- net=-
        fi
        awk -v r="$rate" -v w="$w ${sizes%% *}" -v d="$d" -v l="${local_ms[$key]}" -v s="${share:--}" -v c="$cpu" \
            -v net="$net" -v mem="$rss" -v same="$same" '
            function ms(x) { return (x ~ /^-?[0-9]/) ? sprintf("%10.1f", x) : sprintf("%10s", x) }
            BEGIN { printf "%-7s %-34s %s %s %10s %8s %8s %7s %5s\n", r, w, ms(d), ms(l), s, net, c, mem, same }'
    done
}

broadcast() {
    local rate=$1 mode flags rc bytes bs ps cpu rss same avail need
    if [ ! -e "$data/local.broadcast" ]; then
        local_run "$data/local.broadcast" "$tmp/err" bench/dist/broadcast.daph || fail "the local broadcast run failed"
    fi
    # A worker takes the 100 MB in at about 1.3x (it decodes the cells as the chunks arrive:
    # 131-136 MB measured; 320 MB before that, when the OOM killer ended a 64-worker run on a
    # busy machine), and the two that hold X's rows 300 MB more.
    avail=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
    need=$((workers * 160 + 600 + 1500))
    if [ "$avail" -lt "$need" ] && [ "${FORCE:-0}" != 1 ]; then
        echo "$rate  broadcast: skipped, $workers workers need about $need MB and $avail MB are available (FORCE=1 runs it)"
        return 0
    fi
    printf "%-7s %-16s %9s %9s %9s %9s %9s %8s %7s %5s\n" \
        rate broadcast "MB sent" "GB/s" "bcast s" "floor s" "pipe s" "cpu s" "rss MB" same
    for mode in star tree; do
        if [ "$mode" == tree ] && [ "$tree" == 0 ]; then
            echo "$rate  tree: skipped (this daphne has no --tree-above)"
            continue
        fi
        if [ "$mode" == star ]; then flags=$STAR_FLAGS; else flags=$TREE_FLAGS; fi
        rc=0
        # shellcheck disable=SC2086
        coord "$tmp/out" "$tmp/err" --min-distr-cells=0 --timing $flags bench/dist/broadcast.daph || rc=$?
        if [ "$rc" != 0 ]; then
            printf "%-7s %-16s %s\n" "$rate" "$mode $workers" "$(why "$rc" "$tmp/err")"
            continue
        fi
        bytes=$(field "$tmp/err" broadcast_bytes) bs=$(field "$tmp/err" broadcast_seconds)
        ps=$(tr ',' '\n' <"$tmp/err" | awk -F: '/broadcast.daph:7:/ { p = 1 } p && /"run_seconds"/ { print $2; exit }')
        cpu=$(secs "$(field "$tmp/err" cpu_seconds)") rss=$(mb "$(field "$tmp/err" peak_rss_bytes)")
        same=$(cmp -s "$tmp/out" "$data/local.broadcast" && echo yes || echo NO)
        awk -v r="$rate" -v m="$mode $workers" -v b="${bytes:-0}" -v s="${bs:-0}" -v p="${ps:-0}" -v rb="$rate_bits" \
            -v c="$cpu" -v mem="$rss" -v same="$same" 'BEGIN {
            printf "%-7s %-16s %9.0f %9.3f %9.3f %9.3f %9.3f %8s %7s %5s\n",
                r, m, b / 1e6, (s > 0 ? b / s / 1e9 : 0), s, b * 8 / rb, p, c, mem, same }'
    done
}

for rate in $RATES; do
    set_rate "$rate"
    echo "## links at $rate (tbf at both ends of every veth)"
    if wants codegen; then codegen "$rate"; fi
    if wants examples; then examples "$rate"; fi
    if wants broadcast; then broadcast "$rate"; fi
done
