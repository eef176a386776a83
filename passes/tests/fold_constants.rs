//! `fold-constants` on focused IR, computing with the runtime's kernels as `daphne` does.

mod common;

use std::rc::Rc;

use common::before_after;
use daphne_passes::fold_constants::FoldConstants;

#[test]
fn scalar_ops_on_constants_and_known_shapes_fold_and_failures_stay() {
    // `2 * 3.5` and the cast fold with C++'s semantics; `nrow` of a 4x3 matrix is known;
    // `7 / 0` on integers would fail, so it stays for the runtime to report in its place;
    // `sum` of a matrix is not a scalar computation on constants.
    let fold = FoldConstants { eval: Rc::new(daphne_runtime::fold::Evaluator) };
    let (text, changed) = before_after(
        &fold,
        "entry @main

func @main() {
  %0 = const 2:si64
  %1 = const 3.5:f64
  %2 = ewMul(%0, %1) : f64
  %3 = cast(%2) : si32
  %4 = const 0.0:f64
  %5 = const 1.0:f64
  %6 = const 4:si64
  %7 = const 3:si64
  %8 = rand(%6, %7, %4, %5, %5, %0) : matrix<4x3xf64>
  %9 = nrow(%8) : index
  %10 = const 7:si64
  %11 = const 0:si64
  %12 = ewDiv(%10, %11) : si64
  %13 = sumAll(%8) : f64
  %14 = const true:bool
  %15 = const false:bool
  print(%3, %14, %15)
  print(%9, %14, %15)
  print(%12, %14, %15)
  print(%13, %14, %15)
  return()
}
",
    );
    assert!(changed);
    insta::assert_snapshot!(text);
}

#[test]
fn small_literal_matrices_fold_and_their_results_become_literals() {
    // `sum([1, 2, 3])` is a scalar constant, `[1, 2, 3] * 2` a literal of constants; the
    // integer division by zero inside `[1, 0] / [2, 0]` stays for the runtime.
    let fold = FoldConstants { eval: Rc::new(daphne_runtime::fold::Evaluator) };
    let (text, changed) = before_after(
        &fold,
        r#"entry @main

func @main() {
  %0 = const 1:si64
  %1 = const 2:si64
  %2 = const 3:si64
  %3 = const 3:index
  %4 = const 1:index
  %5 = matrixLiteral(%0, %1, %2, %3, %4) : matrix<3x1xsi64>
  %6 = sumAll(%5) : si64
  %7 = const true:bool
  %8 = const false:bool
  print(%6, %7, %8)
  %9 = const 2:si64
  %10 = ewMul(%5, %9) : matrix<3x1xsi64>
  %11 = const true:bool
  %12 = const false:bool
  print(%10, %11, %12)
  %13 = const 1:si64
  %14 = const 0:si64
  %15 = const 2:index
  %16 = const 1:index
  %17 = matrixLiteral(%13, %14, %15, %16) : matrix<2x1xsi64>
  %18 = const 2:si64
  %19 = const 0:si64
  %20 = const 2:index
  %21 = const 1:index
  %22 = matrixLiteral(%18, %19, %20, %21) : matrix<2x1xsi64>
  %23 = ewDiv(%17, %22) : matrix<2x1xsi64>
  %24 = const true:bool
  %25 = const false:bool
  print(%23, %24, %25)
  return()
}
"#,
    );
    assert!(changed);
    insta::assert_snapshot!(text);
}
