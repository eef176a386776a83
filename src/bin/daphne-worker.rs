//! `daphne-worker IP:PORT`: a distributed worker, the same as `daphne worker IP:PORT`
//! (`daphne::worker`).

fn main() -> std::process::ExitCode {
    daphne::worker::main(std::env::args_os())
}
