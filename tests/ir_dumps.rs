//! IR dumps: `daphnec --emit ir --dump-after=PASS` and `daphne --explain=STAGE,...`.

mod common;

use common::check;

const DAPHNEC: &str = env!("CARGO_BIN_EXE_daphnec");

#[test]
fn dump_after_prints_the_named_passes_then_the_final_ir() {
    let out = check(DAPHNEC, &["run/basics/comments.daph", "--emit", "ir", "--dump-after=lower"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("// IR after lower\nentry @main"), "{}", out.stdout);
    assert_eq!(out.stdout.matches("// IR after").count(), 1);
    assert_eq!(out.stdout.matches("entry @main").count(), 2, "the dump, then the final IR");
}

#[test]
fn an_unknown_pass_is_an_error_listing_the_passes() {
    let out = check(DAPHNEC, &["run/basics/comments.daph", "--emit", "ir", "--dump-after=fuse"]);
    assert_eq!(out.status, 2);
    assert!(
        out.stderr.contains("no pass is named `fuse`; the passes are: all, lower, fold-constants, eliminate-dead-code"),
        "{}",
        out.stderr
    );
}

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");

#[test]
fn explain_prints_daphnes_stages_on_stderr_and_still_runs() {
    let plain = check(DAPHNE, &["run/basics/comments.daph"]);
    let out = check(DAPHNE, &["--explain", "parsing,parsing_simplified", "run/basics/comments.daph"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stdout, plain.stdout);
    let simplified = out.stderr.find("IR after parsing and some simplifications:\nentry @main").expect("simplified IR");
    assert!(out.stderr[..simplified].starts_with("IR after parsing:\nentry @main"), "{}", out.stderr);
}

/// DAPHNE's `sql` stage: the IR once SQL is relational ops, which here is right after
/// lowering (SQL lowers with the script).
#[test]
fn explain_sql_shows_the_relational_ops() {
    let script = "run/sql/ir_left_join.daph";
    let plain = check(DAPHNE, &[script]);
    let out = check(DAPHNE, &["--explain=sql", script]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stdout, plain.stdout);
    assert!(out.stderr.starts_with("IR after SQL parsing:\nentry @main"), "{}", out.stderr);
    assert!(!out.stderr.contains("no such stage"), "{}", out.stderr);
    for op in ["setColLabelsPrefix(", "leftJoin(", "filterRow(", "createFrame("] {
        assert!(out.stderr.contains(op), "no {op} in:\n{}", out.stderr);
    }
    // The IR of lowering: nothing fused yet.
    assert!(!out.stderr.contains("pipeline["), "{}", out.stderr);
    // In DAPHNE's order among the stages asked for: parsing, then sql.
    let both = check(DAPHNE, &["--explain=sql,parsing", script]);
    let sql = both.stderr.find("IR after SQL parsing:").expect("the sql stage");
    assert!(both.stderr[..sql].starts_with("IR after parsing:\n"), "{}", both.stderr);
}

#[test]
fn explain_warns_of_daphnes_stages_it_lacks_and_rejects_unknown_ones() {
    // DAPHNE's `llvm` stage: accepted (DAPHNE's scripts pass it), nothing shown, a warning.
    let plain = check(DAPHNE, &["run/basics/comments.daph"]);
    let out = check(DAPHNE, &["--explain=llvm", "run/basics/comments.daph"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stdout, plain.stdout);
    assert!(out.stderr.contains("--explain=llvm: daphne-rs has no such stage"), "{}", out.stderr);
    // A stage DAPHNE does not have either is a bad command line: exit 1, as DAPHNE's.
    let out = check(DAPHNE, &["--explain=bogus", "run/basics/comments.daph"]);
    assert_eq!(out.status, 1);
    assert!(out.stderr.contains("invalid value 'bogus' for '--explain"), "{}", out.stderr);
}

#[test]
fn explain_vectorized_shows_the_pipelines_and_no_fuse_has_none() {
    let script = "run/pipelines/chain.daph";
    let out = check(DAPHNE, &["--explain=vectorized", script]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stderr.starts_with("IR after vectorization:\nentry @main"), "{}", out.stderr);
    assert!(out.stderr.contains("pipeline[rows -> add]"), "{}", out.stderr);
    let unfused = check(DAPHNE, &["--explain=vectorized,parsing_simplified", "--no-fuse", script]);
    assert_eq!(unfused.stdout, out.stdout);
    assert!(!unfused.stderr.contains("pipeline"), "{}", unfused.stderr);
    assert!(!unfused.stderr.contains("IR after vectorization"), "{}", unfused.stderr);
}

#[test]
fn dump_after_names_phases_and_fusion_passes() {
    let out = check(DAPHNEC, &["run/pipelines/chain.daph", "--emit", "ir", "--dump-after=fuse-pipelines"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("// IR after fuse-pipelines\n"), "{}", out.stdout);
    let out = check(DAPHNEC, &["run/pipelines/chain.daph", "--emit", "ir", "--dump-after=vectorize"]);
    assert!(out.stdout.starts_with("// IR after vectorize\n"), "{}", out.stdout);
}

#[test]
fn the_chain_is_one_pipeline_with_one_input_and_x_plus_x_times_x_reads_x_once() {
    let out = check(DAPHNEC, &["run/pipelines/chain.daph", "--emit", "pipelines"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let pipelines: Vec<&str> = out.stdout.split("pipeline ").filter(|p| !p.is_empty()).collect();
    assert_eq!(pipelines.len(), 2, "{}", out.stdout);
    // sum(((X * 2 + 1) ^ 2) / (X + 3)): one input, one add-combined output, every op inside.
    let chain = pipelines[0];
    assert_eq!(chain.matches("  input ").count(), 1, "{chain}");
    assert!(chain.contains("input 0: matrix<1000x6xf64> split rows"), "{chain}");
    assert_eq!(chain.matches("  output ").count(), 1, "{chain}");
    assert!(chain.contains("output 0: f64 combine add"), "{chain}");
    for op in ["ewMul", "ewPow", "ewDiv", "sumAll"] {
        assert!(chain.contains(op), "{op} missing: {chain}");
    }
    // Y = X + X * X: X is read once.
    assert_eq!(pipelines[1].matches("  input ").count(), 1, "{}", pipelines[1]);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn emit_clif_shows_each_kernel_or_why_a_pipeline_is_interpreted() {
    let out = check(DAPHNEC, &["run/pipelines/chain.daph", "--emit", "clif"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("; pipeline 1 in @main (run/pipelines/chain.daph:3:7)\nfunction "),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.matches("\nfunction ").count(), 2, "{}", out.stdout);
    // A transpose (a `cols` output) is outside what the JIT covers today.
    let out = check(DAPHNEC, &["run/pipelines/blocks.daph", "--emit", "clif"]);
    assert!(out.stdout.contains("; not compiled (outside what the JIT covers): interpreted"), "{}", out.stdout);
}

#[test]
fn timing_prints_daphnes_json_with_every_pipeline() {
    let plain = check(DAPHNE, &["run/pipelines/chain.daph"]);
    let out = check(DAPHNE, &["--timing", "run/pipelines/chain.daph"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stdout, plain.stdout);
    let json: serde_json::Value = serde_json::from_str(out.stderr.trim()).expect("one JSON object on stderr");
    for key in ["startup_seconds", "parsing_seconds", "compilation_seconds", "execution_seconds", "total_seconds"] {
        assert!(json[key].as_f64().is_some_and(|s| s >= 0.0), "{key}: {json}");
    }
    // Ours: the process's peak RSS and its own CPU time (in ticks of 10 ms: may be 0).
    assert!(json["peak_rss_bytes"].as_u64().is_some_and(|b| b > 1 << 20), "{json}");
    assert!(json["cpu_seconds"].as_f64().is_some_and(|s| (0.0..1000.0).contains(&s)), "{json}");
    let pipelines = json["pipelines"].as_array().expect("pipelines");
    assert_eq!(pipelines.len(), 2, "{json}");
    assert!(pipelines.iter().all(|p| p["compiled"] == true && p["runs"] == 1), "{json}");
    assert_eq!(pipelines[0]["at"], "run/pipelines/chain.daph:3:7");
}

/// SQL lowers to the op table's relational ops (`setColLabelsPrefix` scans, `filterRow`,
/// `createFrame` projections, `innerJoin`, `leftJoin`, `cartesian`, `groupAggregate`, `order`,
/// `sliceRow`):
/// the IR of each construct right after lowering and after the passes, where the masks and
/// expressions over columns fuse into pipelines.
#[test]
fn sql_lowers_to_relational_ops_that_the_passes_optimize() {
    for name in ["ir_where_order_limit", "ir_group", "ir_join", "ir_left_join", "ir_expressions"] {
        let script = format!("run/sql/{name}.daph");
        let out = check(DAPHNEC, &[&script, "--emit", "ir", "--dump-after=lower"]);
        assert_eq!(out.status, 0, "{}", out.stderr);
        insta::assert_snapshot!(format!("sql_{name}"), out.stdout);
    }
}

/// A loop's compiled pipelines write into the matrices the loop's last iteration left when
/// nothing else holds them (`--timing` counts the bytes per pipeline), and the results are the
/// interpreter's: a for loop, a while loop whose matrix is carried from one iteration to the
/// next, and an outer loop whose matrix waits while an inner loop runs.
#[test]
fn loops_write_their_pipelines_into_the_memory_the_last_iteration_left() {
    let script = std::env::temp_dir().join(format!("daphne-reuse-{}.daph", std::process::id()));
    std::fs::write(
        &script,
        "B = rand(400, 1000, 0.0, 1.0, 1.0, 42);\n\
         C = rand(400, 1000, 0.0, 1.0, 1.0, 43);\n\
         for (i in 1:4) {\n\
         \x20   A = B + 3.0 * C;\n\
         \x20   print(A[i, 7]);\n\
         }\n\
         X = B;\n\
         k = 0;\n\
         while (k < 5) {\n\
         \x20   X = X * 0.5 + C;\n\
         \x20   k = k + 1;\n\
         }\n\
         print(X[3, 3]);\n\
         for (i in 1:3) {\n\
         \x20   for (j in 1:2) {\n\
         \x20       F = C - j;\n\
         \x20       print(F[j, j]);\n\
         \x20   }\n\
         \x20   E = B * 2.0 - C;\n\
         \x20   print(E[i, i]);\n\
         }\n",
    )
    .unwrap();
    let path = script.to_str().unwrap();
    let interpreted = check(DAPHNE, &["--no-vec", path]);
    let out = check(DAPHNE, &["--timing", path]);
    std::fs::remove_file(&script).ok();
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stdout, interpreted.stdout);
    let json: serde_json::Value = serde_json::from_str(out.stderr.trim()).expect("one JSON object on stderr");
    let reused = |at: &str| {
        let p =
            json["pipelines"].as_array().unwrap().iter().find(|p| p["at"].as_str().is_some_and(|a| a.ends_with(at)));
        p.unwrap_or_else(|| panic!("no pipeline at {at}: {json}"))["reused_bytes"].as_u64().unwrap()
    };
    let matrix = 400 * 1000 * 8;
    // Iterations 2 to 4 write into the last iteration's `A`.
    assert_eq!(reused(":4:9"), 3 * matrix, "{json}");
    // The first `X` is `B`, and each new `X` is computed while the last one is still carried:
    // iterations 3 to 5 write into the `X` of two iterations before.
    assert_eq!(reused(":10:9"), 3 * matrix, "{json}");
    // The inner loop, which runs between two `E`s, neither takes nor drops the outer loop's:
    // iterations 2 and 3 reuse it; each inner loop's second `F` reuses its first.
    assert_eq!(reused(":19:9"), 2 * matrix, "{json}");
    assert_eq!(reused(":16:13"), 3 * matrix, "{json}");
}

/// The entry function's pipelines are compiled on a thread of their own while the script's
/// first ops run, so the first run of a pipeline does not wait for the compiler (`--timing`
/// says which kernels were ready when the run reached them). The script spins 2 s first (the
/// compiler has them even on a loaded machine running the other tests).
#[test]
fn kernels_are_compiled_while_the_first_ops_run() {
    let script = std::env::temp_dir().join(format!("daphne-ahead-{}.daph", std::process::id()));
    std::fs::write(
        &script,
        "t0 = now();\n\
         k = 0;\n\
         while (now() - t0 < 2000000000) {\n\
         \x20   k = k + 1;\n\
         }\n\
         X = rand(100, 10, 0.0, 1.0, 1.0, 7);\n\
         print(sum(X * 2 + 1));\n\
         if (k < 0) {\n\
         \x20   print(sum(X / 3 - 1));\n\
         }\n",
    )
    .unwrap();
    let path = script.to_str().unwrap();
    let out = check(DAPHNE, &["--timing", path]);
    std::fs::remove_file(&script).ok();
    assert_eq!(out.status, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(out.stderr.trim()).expect("one JSON object on stderr");
    let pipelines = json["pipelines"].as_array().expect("pipelines");
    // The pipeline in the branch never ran, so only the first is listed.
    assert_eq!(pipelines.len(), 1, "{json}");
    assert_eq!(pipelines[0]["compiled"], true, "{json}");
    assert_eq!(pipelines[0]["compiled_ahead"], true, "{json}");
}
