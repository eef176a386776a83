//! `dedup-pipeline-inputs` on focused IR.

mod common;

use common::before_after;
use daphne_passes::dedup_pipeline_inputs::DedupPipelineInputs;

#[test]
fn an_input_taken_several_times_is_taken_once() {
    // `Y = X + X * X` reads X once; the broadcast scalar is kept apart from the split copies.
    let (text, changed) = before_after(
        &DedupPipelineInputs,
        "entry @main

func @main() {
  %0 = const 10:si64
  %1 = const 3:si64
  %2 = const 0.0:f64
  %3 = const 1.0:f64
  %4 = const 1:si64
  %5 = rand(%0, %1, %2, %3, %4, %4) : matrix<10x3xf64>
  %6 = sumAll(%5) : f64
  %7 = pipeline[rows, rows, broadcast, rows -> rows](%5, %5, %6, %5) : matrix<10x3xf64> {
  ^(%8: matrix<?x3xf64>, %9: matrix<?x3xf64>, %10: f64, %11: matrix<?x3xf64>):
    %12 = ewMul(%8, %9) : matrix<?x3xf64>
    %13 = ewAdd(%11, %12) : matrix<?x3xf64>
    %14 = ewDiv(%13, %10) : matrix<?x3xf64>
    yield(%14)
  }
  %15 = const true:bool
  %16 = const false:bool
  print(%7, %15, %16)
  return()
}
",
    );
    assert!(changed);
    insta::assert_snapshot!(text);
}
