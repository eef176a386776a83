//! `fuse-pipelines` on focused IR: the module before and after, as one snapshot per rule.

mod common;

use common::before_after;
use daphne_passes::fuse_pipelines::FusePipelines;

#[test]
fn a_chain_with_a_sink_becomes_one_pipeline_and_y_keeps_growing_past_a_print() {
    // The issue's chain: one pipeline, X split by rows (once per use, until deduplicated),
    // one add-combined output. `Y = X + X * X` is a second group; it is infallible, so the
    // print between its ops does not stop it, and `sum(Y, 1)` joins it.
    let (text, changed) = before_after(
        &FusePipelines,
        r#"entry @main

func @main() {
  %0 = const 100:si64
  %1 = const 4:si64
  %2 = const 0.0:f64
  %3 = const 1.0:f64
  %4 = const 1:si64
  %5 = const 7:si64
  %6 = rand(%0, %1, %2, %3, %4, %5) : matrix<100x4xf64>
  %7 = const 2:si64
  %8 = ewMul(%6, %7) : matrix<100x4xf64>
  %9 = ewAdd(%8, %4) : matrix<100x4xf64>
  %10 = ewPow(%9, %7) : matrix<100x4xf64>
  %11 = const 3:si64
  %12 = ewAdd(%6, %11) : matrix<100x4xf64>
  %13 = ewDiv(%10, %12) : matrix<100x4xf64>
  %14 = sumAll(%13) : f64
  %15 = ewMul(%6, %6) : matrix<100x4xf64>
  %16 = ewAdd(%6, %15) : matrix<100x4xf64>
  %17 = const true:bool
  %18 = const false:bool
  print(%14, %17, %18)
  %19 = sumCol(%16) : matrix<1x4xf64>
  print(%19, %17, %18)
  return()
}
"#,
    );
    assert!(changed);
    insta::assert_snapshot!(text);
}

#[test]
fn a_fallible_group_stops_at_an_effect_and_loops_get_their_own_pipelines() {
    // `12 / A` on integers can fail, so it may not move past `print("between")`; `A * 3` can
    // not fail and is still open when `sum(B)` comes after the loop. The loop body's ops form
    // a pipeline inside the loop, with the loop variable broadcast.
    let (text, changed) = before_after(
        &FusePipelines,
        r#"entry @main

func @main() {
  %0 = const 1:si64
  %1 = const 400:si64
  %2 = seq(%0, %1, %0) : matrix<?x1xsi64>
  %3 = const 100:si64
  %4 = const 4:si64
  %5 = reshape(%2, %3, %4) : matrix<100x4xsi64>
  %6 = const 3:si64
  %7 = ewMul(%5, %6) : matrix<100x4xsi64>
  %8 = const 12:si64
  %9 = ewDiv(%8, %5) : matrix<100x4xsi64>
  %10 = const "between":str
  %11 = const true:bool
  %12 = const false:bool
  print(%10, %11, %12)
  %13 = ewAdd(%9, %7) : matrix<100x4xsi64>
  %14 = sumAll(%13) : si64
  print(%14, %11, %12)
  %15 = const 2:si64
  %16 = ewGe(%15, %0) : si64
  %17 = const -1:si64
  %18 = ewMul(%15, %16) : si64
  %19 = ewAdd(%17, %18) : si64
  for(%0, %15, %19) {
  ^(%20: si64):
    %21 = ewAdd(%5, %20) : matrix<100x4xsi64>
    %22 = ewMul(%21, %21) : matrix<100x4xsi64>
    %23 = sumAll(%22) : si64
    print(%23, %11, %12)
    yield()
  }
  %24 = sumAll(%7) : si64
  print(%24, %11, %12)
  return()
}
"#,
    );
    assert!(changed);
    insta::assert_snapshot!(text);
}

#[test]
fn values_of_unproven_shape_stay_out() {
    // `%0 * %0` has one row domain; `%0 + %1` might broadcast either way, so it stays alone.
    let (text, changed) = before_after(
        &FusePipelines,
        "entry @main

func @main() {
  return()
}

func @f(%0: matrix<?x3xf64>, %1: matrix<?x3xf64>) -> (matrix<?x3xf64>, matrix<?x3xf64>) {
  %2 = ewMul(%0, %0) : matrix<?x3xf64>
  %3 = ewAdd(%0, %1) : matrix<?x3xf64>
  return(%2, %3)
}
",
    );
    assert!(changed);
    insta::assert_snapshot!(text);
}

#[test]
fn products_fuse_only_with_an_operand_the_group_computes() {
    // `gemv(X, X)` of the input alone stays a plain op (the product kernel computes it on tiles
    // of the output); `gemv(X, X + 1)` fuses with the `ewAdd` that feeds it.
    let (text, changed) = before_after(
        &FusePipelines,
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
    insta::assert_snapshot!(text);
}
