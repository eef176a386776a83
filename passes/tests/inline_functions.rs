//! `inline-functions` on focused IR.

mod common;

use common::before_after;
use daphne_passes::inline_functions::InlineFunctions;

#[test]
fn small_fusable_functions_are_inlined_and_recursive_ones_are_not() {
    // `norm` does fusable work on its matrix: its body replaces the call, so `M * M` can join
    // the pipeline of `X + 1`. `fact` calls itself and stays a call.
    let (text, changed) = before_after(
        &InlineFunctions,
        r#"entry @main

func @main() {
  %0 = const 20:si64
  %1 = const 3:si64
  %2 = const 0.0:f64
  %3 = const 1.0:f64
  %4 = const 1:si64
  %5 = const 7:si64
  %6 = rand(%0, %1, %2, %3, %4, %5) : matrix<20x3xf64>
  %7 = ewAdd(%6, %4) : matrix<20x3xf64>
  %8 = cast(%7) : matrix<?x?xf64>
  %9 = call @norm(%8) : f64
  %10 = const true:bool
  %11 = const false:bool
  print(%9, %10, %11)
  %12 = const 5:si64
  %13 = call @fact(%12) : si64
  print(%13, %10, %11)
  return()
}

func @norm(%0: matrix<?x?xf64>) -> (f64) {
  %1 = ewMul(%0, %0) : matrix<?x?xf64>
  %2 = sumAll(%1) : f64
  %3 = ewSqrt(%2) : f64
  return(%3)
}

func @fact(%0: si64) -> (si64) {
  %1 = const 1:si64
  %2 = ewLe(%0, %1) : si64
  %3 = cast(%2) : bool
  %4 = if(%3) : si64 {
    yield(%1)
  } {
    %5 = ewSub(%0, %1) : si64
    %6 = call @fact(%5) : si64
    %7 = ewMul(%0, %6) : si64
    yield(%7)
  }
  return(%4)
}

"#,
    );
    assert!(changed);
    insta::assert_snapshot!(text);
}
