# Sourced by the bench scripts (from the repository root): builds the release `daphne` and a
# venv with NumPy under target/, and sets $daphne and $py.
cargo build -q --release --bin daphne --bin daphne-worker
daphne=$PWD/target/release/daphne
venv=$PWD/target/bench-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q numpy
fi
py=$venv/bin/python
