//! `rewrite-transposed-products` on focused IR.

mod common;

use common::before_after;
use daphne_passes::rewrite_transposed_products::RewriteTransposedProducts;

#[test]
fn a_product_with_a_transpose_on_the_left_becomes_gemv() {
    // `t(X) @ X` and `t(X) @ y` read X in place; `X @ t(X)` and a sparse `t(S) @ y` stay.
    let (text, changed) = before_after(
        &RewriteTransposedProducts,
        "entry @main

func @main() {
  %0 = const 10:si64
  %1 = const 3:si64
  %2 = const 0.0:f64
  %3 = const 1.0:f64
  %4 = const 1:si64
  %5 = rand(%0, %1, %2, %3, %3, %4) : matrix<10x3xf64>
  %6 = rand(%0, %4, %2, %3, %3, %4) : matrix<10x1xf64>
  %7 = transpose(%5) : matrix<3x10xf64>
  %8 = matMul(%7, %5) : matrix<3x3xf64>
  %9 = matMul(%7, %6) : matrix<3x1xf64>
  %10 = matMul(%5, %7) : matrix<10x10xf64>
  %11 = const 0.1:f64
  %12 = rand(%0, %1, %2, %3, %11, %4) : matrix<10x3xf64:sparse>
  %13 = transpose(%12) : matrix<3x10xf64:sparse>
  %14 = matMul(%13, %6) : matrix<3x1xf64>
  %15 = const true:bool
  %16 = const false:bool
  print(%8, %15, %16)
  print(%9, %15, %16)
  print(%10, %15, %16)
  print(%14, %15, %16)
  return()
}
",
    );
    assert!(changed);
    insta::assert_snapshot!(text);
}
