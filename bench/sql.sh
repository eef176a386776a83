#!/usr/bin/env bash
# The SQL benchmarks of the SQL issue: GROUP BY + sum and an equi-join on frames of N rows
# (default 1 000 000) in DaphneDSL's `sql` beside pandas and DuckDB on the same data, in one
# run; each time is the query alone (data made before), the best of 3 inside the process.
#
# Usage: bench/sql.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
source bench/setup.sh
"$py" -c "import pandas, duckdb" 2>/dev/null || "$venv/bin/pip" install -q pandas duckdb

printf "%-10s %10s %12s %12s %12s\n" workload rows daphne-rs pandas duckdb
for w in group_sum join; do
    ours=$("$daphne" "bench/sql/$w.daph" "n=$n" | tail -n 1)
    pandas=$("$py" bench/sql/relational.py "$w" pandas "$n")
    duck=$("$py" bench/sql/relational.py "$w" duckdb "$n")
    awk -v w="$w" -v n="$n" -v a="$ours" -v b="$pandas" -v c="$duck" \
        'BEGIN { printf "%-10s %10d %9.1f ms %9.1f ms %9.1f ms\n", w, n, a, b, c }'
done
