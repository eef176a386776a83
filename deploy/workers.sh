#!/usr/bin/env bash
# Start, stop and list daphne-worker processes on this machine, for
# `DISTRIBUTED_WORKERS=... daphne --distributed script.daph` (the static-list model).
#
#   deploy/workers.sh start N [HOST] [BASE_PORT]   start N workers on HOST:BASE_PORT.. (default
#                                                  127.0.0.1, free ports); prints the export line
#   deploy/workers.sh status                       the running workers, one per line
#   deploy/workers.sh stop                         stop them (SIGTERM: they finish and exit)
#
# The worker binary is $DAPHNE_WORKER, else daphne-worker on PATH, else target/release's.
# State (pid and address per worker) lives in $DAPHNE_DEPLOY_DIR (default /tmp/daphne-workers-$USER).
set -euo pipefail
dir=${DAPHNE_DEPLOY_DIR:-/tmp/daphne-workers-${USER:-$(id -un)}}
bin=${DAPHNE_WORKER:-$(command -v daphne-worker || echo "$(dirname "$0")/../target/release/daphne-worker")}

running() { [ -d "$dir" ] && for f in "$dir"/*.pid; do [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && echo "${f%.pid}"; done; true; }

case "${1:-}" in
start)
    n=${2:?usage: workers.sh start N [HOST] [BASE_PORT]} host=${3:-127.0.0.1} base=${4:-}
    [ -x "$bin" ] || { echo "error: no worker binary at $bin (cargo build --release --bins)" >&2; exit 1; }
    mkdir -p "$dir"
    if [ -n "$(running)" ]; then echo "error: workers are running already (workers.sh stop)" >&2; exit 1; fi
    rm -f "$dir"/*
    addrs=()
    for i in $(seq 1 "$n"); do
        port=0
        [ -n "$base" ] && port=$((base + i - 1))
        nohup "$bin" "$host:$port" >"$dir/$i.log" 2>&1 &
        echo $! >"$dir/$i.pid"
        for _ in $(seq 100); do grep -q "Started Distributed Worker on" "$dir/$i.log" && break; sleep 0.05; done
        addr=$(sed -n 's/^Started Distributed Worker on //p' "$dir/$i.log")
        [ -n "$addr" ] || { echo "error: worker $i did not start:" >&2; cat "$dir/$i.log" >&2; exit 1; }
        echo "$addr" >"$dir/$i.addr"
        addrs+=("$addr")
    done
    echo "export DISTRIBUTED_WORKERS=$(IFS=,; echo "${addrs[*]}")"
    ;;
status)
    for w in $(running); do echo "$(cat "$w.addr") pid $(cat "$w.pid")"; done
    ;;
stop)
    for w in $(running); do kill "$(cat "$w.pid")"; done
    for w in $(running); do
        for _ in $(seq 100); do kill -0 "$(cat "$w.pid")" 2>/dev/null || break; sleep 0.05; done
    done
    rm -rf "$dir"
    ;;
*)
    sed -n '2,11p' "$0" >&2
    exit 2
    ;;
esac
