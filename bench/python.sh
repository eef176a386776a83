#!/usr/bin/env bash
# The codegen workloads (a)-(e) of bench/compute.sh through the Python API beside NumPy in
# the same process (bench/python.py), and the cost of one compute() of a small program.
#
# Builds the package in release into a venv of its own (target/bench-py-venv): the first
# time, a cold release build of the extension takes 15-25 minutes on 2 cores; later runs
# rebuild only what changed. PROFILE=dev uses the dev profile instead (quicker to build, the
# same JIT-compiled pipelines, slower kernels outside them).
#
# Usage: bench/python.sh [n m [reps]]   (default 10000 1000 3)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$PWD/target/bench-py-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'maturin>=1.16,<1.17' numpy pandas
fi
CARGO_TARGET_DIR=$PWD/target MATURIN_PEP517_ARGS="--profile ${PROFILE:-release}" \
    "$venv/bin/pip" install -q --force-reinstall --no-deps ./python
"$venv/bin/python" bench/python.py "$@"
