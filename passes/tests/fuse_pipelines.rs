//! `fuse-pipelines` on focused IR, where a property is more than the text `tests/ir/` shows.

mod common;

use common::before_after;
use daphne_passes::fuse_pipelines::FusePipelines;

#[test]
fn products_fuse_only_with_an_operand_the_group_computes() {
    // `gemv(X, X)` of the input alone stays a plain op (the product kernel computes it on tiles
    // of the output); `gemv(X, X + 1)` fuses with the `ewAdd` that feeds it.
    let (text, changed) = before_after(
        &FusePipelines::default(),
        "entry @main

func @main() {
  return()
}

func @f(%0: matrix<1000x3xf64>) -> (matrix<3x3xf64>, matrix<3x3xf64>) {
  %1 = gemv(%0, %0) : matrix<3x3xf64>
  %2 = const 1.0:f64
  %3 = ewAdd(%0, %2) : matrix<1000x3xf64>
  %4 = gemv(%0, %3) : matrix<3x3xf64>
  return(%1, %4)
}
",
    );
    assert!(changed);
    let after = text.split_once("--- after\n").unwrap().1;
    assert!(after.contains("%1 = gemv(%0, %0)"), "{after}");
    assert_eq!(after.matches("pipeline[").count(), 1, "{after}");
}
