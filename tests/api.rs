//! The library API (`daphne::api`): ndarray inputs and outputs, copies, errors, frames,
//! compiled programs, and the `embed` example.

use daphne::api::ndarray::{ArcArray2, Array2, array};
use daphne::api::{Array, Daphne, Data, Frame, Options, Scalar};

#[path = "../examples/embed.rs"]
mod embed;

fn f64s(d: &Data) -> Array2<f64> {
    d.as_f64_array().expect("an f64 matrix").to_owned()
}

/// Random-looking but fixed data (a small LCG), so failures replay.
fn data(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut s = seed;
    Array2::from_shape_fn((rows, cols), |_| {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    })
}

#[test]
fn operators_agree_with_ndarray() {
    let d = Daphne::new();
    let (a, b) = (data(37, 5, 1), data(37, 5, 2));
    let c = data(5, 4, 3);
    let (da, db, dc) = (Data::from(a.clone()), Data::from(b.clone()), Data::from(c.clone()));
    let out = d
        .run(
            "s = A + B; m = A * B; q = A - B; v = A / B; p = A @ C; t1 = t(A); k = A * 2 + 1; g = sum(A);",
            &[("A", &da), ("B", &db), ("C", &dc)],
            &["s", "m", "q", "v", "p", "t1", "k", "g"],
        )
        .expect("runs");
    assert_eq!(f64s(&out[0]), &a + &b);
    assert_eq!(f64s(&out[1]), &a * &b);
    assert_eq!(f64s(&out[2]), &a - &b);
    assert_eq!(f64s(&out[3]), &a / &b);
    let p = f64s(&out[4]);
    let want = a.dot(&c);
    assert!(p.iter().zip(want.iter()).all(|(x, y)| (x - y).abs() < 1e-12), "{p} vs {want}");
    assert_eq!(f64s(&out[5]), a.t());
    assert_eq!(f64s(&out[6]), &a * 2.0 + 1.0);
    assert!((out[7].as_f64().expect("a scalar") - a.sum()).abs() < 1e-12);
}

#[test]
fn an_input_is_used_in_place_and_comes_back_as_itself() {
    let d = Daphne::new();
    let x: ArcArray2<f64> = data(100, 10, 4).into_shared();
    let input = Data::from(x.clone());
    let out = d.run("Y = X; s = sum(X);", &[("X", &input)], &["Y", "s"]).expect("runs");
    let y = out[0].as_f64_array().expect("a matrix");
    assert_eq!(y.as_ptr(), x.as_ptr(), "the result is the input's buffer, not a copy");
    assert!((out[1].as_f64().expect("a scalar") - x.sum()).abs() < 1e-9);
}

#[test]
fn a_transposed_or_viewed_input_is_copied_once_and_right() {
    let d = Daphne::new();
    let a = data(6, 3, 5);
    let t = Data::from(a.t().to_shared());
    let v = Data::from(a.view());
    let out = d.run("T = T0 + 0; V = V0 + 0;", &[("T0", &t), ("V0", &v)], &["T", "V"]).expect("runs");
    assert_eq!(f64s(&out[0]), a.t());
    assert_eq!(f64s(&out[1]), a);
}

#[test]
fn other_value_types_and_scalars() {
    let d = Daphne::new();
    let i = Data::from(array![[1i64, 2], [3, 4]]);
    let f = Data::from(array![[1.5f32, 2.5]]);
    let n = Data::from(10i64);
    let out = d.run("j = I * n; g = F + 1; c = n > 3;", &[("I", &i), ("F", &f), ("n", &n)], &["j", "g", "c"]).unwrap();
    match &out[0] {
        Data::Matrix(Array::Si64(a)) => assert_eq!(a, &array![[10i64, 20], [30, 40]]),
        other => panic!("{other:?}"),
    }
    match &out[1] {
        Data::Matrix(Array::F32(a)) => assert_eq!(a, &array![[2.5f32, 3.5]]),
        other => panic!("{other:?}"),
    }
    assert!(matches!(out[2], Data::Scalar(Scalar::Si64(1))), "DaphneDSL comparisons give numbers: {:?}", out[2]);
}

#[test]
fn errors_are_daphnedsl_messages_with_statuses() {
    let d = Daphne::new();
    let x = Data::from(data(3, 3, 6));
    let e = d.run("y = X +;", &[("X", &x)], &["y"]).unwrap_err();
    assert_eq!(e.status as u8, 1, "{}", e.message);
    assert!(e.message.contains("<script>:1:"), "{}", e.message);
    let e = d.run("y = X @ seq(1, 5, 1);", &[("X", &x)], &["y"]).unwrap_err();
    assert!(e.message.contains("@"), "{}", e.message);
    assert!(!e.message.contains("matmul") && !e.message.contains("Matmul"), "DaphneDSL names: {}", e.message);
    let e = d.run("y = Z + 1;", &[("X", &x)], &["y"]).unwrap_err();
    assert!(e.message.contains("Z"), "{}", e.message);
    let e = d.run("y = X + 1;", &[("X", &x)], &["nope"]).unwrap_err();
    assert!(e.message.contains("`nope`"), "{}", e.message);
    let i = Data::from(5i64);
    let e = d.run("y = X[i, 0];", &[("X", &x), ("i", &i)], &["y"]).unwrap_err();
    assert_eq!(e.status as u8, 3, "{}", e.message);
}

#[test]
fn a_compiled_program_runs_again_and_checks_its_inputs() {
    let d = Daphne::new();
    let x = Data::from(data(50, 4, 7));
    let ty = daphne_runtime::kernels::type_of(&x.to_value().unwrap());
    let p = d.compile("Y = (X - 1) * 3; s = sum(Y);", &[("X", ty)]).expect("compiles");
    assert_eq!(p.outputs(), ["X", "Y", "s"], "every variable at the end");
    assert!(p.explain().contains("pipeline"), "fused: {}", p.explain());
    let first = p.run(&d, &[&x]).expect("runs");
    let again = p.run(&d, &[&x]).expect("runs again");
    assert_eq!(f64s(&first[0]), f64s(&again[0]));
    let other = Data::from(data(2, 2, 8));
    let e = p.run(&d, &[&other]).unwrap_err();
    assert!(e.message.contains("input `X`"), "{}", e.message);
    let e = p.run(&d, &[]).unwrap_err();
    assert!(e.message.contains("takes 1 inputs"), "{}", e.message);
}

#[test]
fn frames_in_and_out() {
    let d = Daphne::new();
    let f = Frame {
        labels: vec!["a".into(), "b".into()],
        columns: vec![
            Array::F64(array![[1.0], [2.0], [3.0]].into_shared()),
            Array::Si64(array![[10i64], [20], [30]].into_shared()),
        ],
    };
    let input = Data::from(f);
    let out = d.run("G = F[, \"b\"]; s = sum(as.matrix(F[, \"a\"]));", &[("F", &input)], &["G", "s"]).unwrap();
    match &out[0] {
        Data::Frame(g) => {
            assert_eq!(g.labels, ["b"]);
            assert_eq!(g.columns, [Array::Si64(array![[10i64], [20], [30]].into_shared())]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(out[1].as_f64(), Some(6.0));
    let bad =
        Data::from(Frame { labels: vec!["a".into()], columns: vec![Array::F64(array![[1.0, 2.0]].into_shared())] });
    let e = d.run("G = F;", &[("F", &bad)], &["G"]).unwrap_err();
    assert!(e.message.contains("n x 1"), "{}", e.message);
}

#[test]
fn an_unreachable_worker_is_an_error_not_a_panic() {
    let e = Daphne::with_options(Options { workers: vec!["127.0.0.1:1".into()], ..Options::default() }).unwrap_err();
    assert!(e.message.starts_with("error:"), "{}", e.message);
}

#[test]
fn the_embed_example_fits_its_weights() {
    let (w, r) = embed::fit().expect("the example runs");
    let want = [2.0, -1.0, 0.5];
    assert!(w.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-9), "{w:?}");
    assert!(r < 1e-12, "{r}");
}

#[test]
fn a_run_on_a_worker_gives_the_local_result() {
    use std::io::BufRead;
    let mut worker = std::process::Command::new(env!("CARGO_BIN_EXE_daphne"))
        .args(["worker", "127.0.0.1:0", "--exit-with-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the worker starts");
    let mut line = String::new();
    std::io::BufReader::new(worker.stdout.take().expect("its stdout")).read_line(&mut line).expect("a line");
    let addr = line.rsplit(' ').next().expect("an address").trim().to_owned();
    let remote = Daphne::with_options(Options { workers: vec![addr], ..Options::default() }).expect("connects");
    // 2^19 cells: above the coordinator's minimum, so the pipelines go to the worker.
    let x = Data::from(data(1 << 16, 8, 9));
    let script = "G = t(X) @ X; s = sum(X * 2 + 1);";
    let there = remote.run(script, &[("X", &x)], &["G", "s"]).expect("runs on the worker");
    let here = Daphne::new().run(script, &[("X", &x)], &["G", "s"]).expect("runs here");
    assert_eq!(f64s(&there[0]), f64s(&here[0]), "the same bits");
    assert_eq!(there[1].as_f64(), here[1].as_f64());
    drop(remote);
    drop(worker.stdin.take());
    let _ = worker.wait();
}
