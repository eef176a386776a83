//! Embedding daphne-rs in a Rust program: a least-squares fit of `ndarray` data by a
//! DaphneDSL script, the data used in place and the results handed back as arrays.
//!
//! `cargo run --example embed`

use daphne::api::{Daphne, Data, ndarray::Array2};

/// The fitted weights of `y = X @ w` for data made from known weights, and the residual.
pub fn fit() -> Result<(Vec<f64>, f64), daphne::Failure> {
    let (n, m) = (200, 3);
    let truth = [2.0, -1.0, 0.5];
    // Deterministic data: X in [0, 1), y = X @ truth exactly.
    let x = Array2::from_shape_fn((n, m), |(i, j)| ((i * 7 + j * 13) % 17) as f64 / 17.0 + (i as f64) * 1e-3);
    let y = Array2::from_shape_fn((n, 1), |(i, _)| (0..m).map(|j| x[[i, j]] * truth[j]).sum::<f64>());
    let daphne = Daphne::new();
    let (x, y) = (Data::from(x), Data::from(y));
    let out = daphne.run(
        "A = t(X) @ X;\nb = t(X) @ y;\nw = solve(A, b);\nr = sum((X @ w - y) ^ 2);\n",
        &[("X", &x), ("y", &y)],
        &["w", "r"],
    )?;
    let w = out[0].as_f64_array().map(|w| w.iter().copied().collect()).unwrap_or_default();
    let r = out[1].as_f64().unwrap_or(f64::NAN);
    Ok((w, r))
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    match fit() {
        Ok((w, r)) => {
            println!("w = {w:.6?}");
            println!("residual below 1e-12: {}", r < 1e-12);
            std::process::ExitCode::SUCCESS
        }
        Err(f) => {
            eprint!("{}", f.message);
            f.status.into()
        }
    }
}
