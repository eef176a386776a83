//! The MPI backend end to end (feature `mpi`; `.ci/run` installs Open MPI): every script of
//! `tests/run/` under `mpirun -np 3 daphne --distributed --dist_backend=MPI` (rank 0 runs the
//! script, ranks 1 and 2 serve; 64-byte chunks) prints the same bytes and exits the same way as
//! the local run (mpirun adds its own report to stderr when a rank fails, so stderr must
//! contain the local run's). And misuse: one rank only.
#![cfg(feature = "mpi")]

mod common;

use common::{Outcome, check, check_env};

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");

fn mpirun(ranks: usize, args: &[&str]) -> Outcome {
    let mut all = vec!["--allow-run-as-root", "--oversubscribe", "-np"];
    let n = ranks.to_string();
    all.push(&n);
    all.push(DAPHNE);
    all.extend(args);
    // Containers often forbid the cross-memory attach Open MPI uses between local ranks;
    // without it, shared memory still works.
    check_env("mpirun", &all, &[("OMPI_MCA_btl_vader_single_copy_mechanism", "none")])
}

#[test]
fn the_corpus_prints_the_same_bytes_on_mpi_ranks() {
    let failures = common::across_the_corpus(|rel, args| {
        let local = check(DAPHNE, args);
        let mut all = vec!["--distributed", "--dist_backend=MPI", "--min-distr-cells=0", "--max-distr-chunk-size=64"];
        all.extend(args);
        let other = mpirun(3, &all);
        if other.status == local.status && other.stdout == local.stdout && other.stderr.contains(&local.stderr) {
            return vec![];
        }
        vec![format!(
            "{rel}: status {} (local {}), stdout:\n{}--- local:\n{}stderr:\n{}--- local:\n{}",
            other.status, local.status, other.stdout, local.stdout, other.stderr, local.stderr
        )]
    });
    assert!(failures.is_empty(), "{} failures:\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn one_rank_is_a_clear_error() {
    let out = mpirun(1, &["--distributed", "--dist_backend=MPI", "run/distributed/resident.daph"]);
    assert_eq!(out.status, 3, "{}", out.stderr);
    assert!(out.stderr.contains("needs at least 2 ranks"), "{}", out.stderr);
    // Without mpirun, the process is a world of one rank.
    let out = check(DAPHNE, &["--distributed", "--dist_backend=MPI", "run/distributed/resident.daph"]);
    assert_eq!(out.status, 3, "{}", out.stderr);
    assert!(out.stderr.contains("needs at least 2 ranks"), "{}", out.stderr);
}
