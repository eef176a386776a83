//! `eliminate-common-subexpressions` on focused IR: the module before and after.

mod common;

use common::before_after;
use daphne_passes::eliminate_common_subexpressions::EliminateCommonSubexpressions;

/// `Y = X + X * X; Z = X * X` reads `X * X` once; the same product inside a branch reuses the
/// outer one; two `rand`s with equal arguments and two prints stay; casts to different types
/// stay apart; products in sibling branches are not merged with each other.
#[test]
fn merges_repeated_pure_computations_that_dominate() {
    let (text, changed) = before_after(
        &EliminateCommonSubexpressions,
        "entry @main

func @main() {
  %0 = const 2:si64
  %1 = const 0.0:f64
  %2 = const 1.0:f64
  %3 = rand(%0, %0, %1, %2, %2, %0) : matrix<2x2xf64>
  %4 = cast(%3) : matrix<?x?xf64>
  call @f(%4)
  return()
}

func @f(%0: matrix<?x?xf64>) {
  %1 = ewMul(%0, %0) : matrix<?x?xf64>
  %2 = ewAdd(%0, %1) : matrix<?x?xf64>
  %3 = ewMul(%0, %0) : matrix<?x?xf64>
  %4 = const true:bool
  %5 = const false:bool
  print(%2, %4, %5)
  print(%3, %4, %5)
  %6 = const true:bool
  %7 = const 1:si64
  %8 = cast(%7) : f64
  %9 = cast(%7) : f32
  %10 = const 0.0:f64
  %11 = rand(%7, %7, %10, %8, %8, %7) : matrix<1x1xf64>
  %12 = rand(%7, %7, %10, %8, %8, %7) : matrix<1x1xf64>
  print(%9, %6, %5)
  print(%11, %4, %5)
  print(%12, %4, %5)
  if(%6) {
    %13 = ewMul(%0, %0) : matrix<?x?xf64>
    %14 = sumAll(%2) : f64
    print(%13, %4, %5)
    print(%14, %4, %5)
    yield()
  } {
    %15 = sumAll(%2) : f64
    print(%15, %4, %5)
    yield()
  }
  return()
}
",
    );
    assert!(changed);
    insta::assert_snapshot!(text);
}
