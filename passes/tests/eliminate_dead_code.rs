//! `eliminate-dead-code` on focused IR: the module before and after, as one snapshot.

mod common;

use common::before_after;
use daphne_passes::eliminate_dead_code::EliminateDeadCode;

#[test]
fn a_module_without_dead_code_is_left_alone() {
    let (text, changed) = before_after(
        &EliminateDeadCode,
        "entry @main

func @main() {
  %0 = const 2:si64
  %1 = const true:bool
  %2 = const false:bool
  print(%0, %1, %2)
  return()
}
",
    );
    assert!(!changed);
    let (before, after) = text.split_once("--- after\n").unwrap();
    assert_eq!(before.trim_start_matches("--- before\n"), after);
}

#[test]
fn removes_unused_casts_between_numbers_and_keeps_those_that_can_fail() {
    let (text, changed) = before_after(
        &EliminateDeadCode,
        "entry @main

func @main() {
  %0 = const 2:si64
  %1 = const 0.0:f64
  %2 = const 1.0:f64
  %3 = rand(%0, %0, %1, %2, %2, %0) : matrix<2x2xf64>
  %4 = cast(%3) : matrix<2x2xf32>
  %5 = cast(%0) : f64
  %6 = cast(%3) : f64
  %7 = const \"12\":str
  %8 = cast(%7) : si64
  return()
}
",
    );
    assert!(changed);
    let after = text.split_once("--- after\n").unwrap().1;
    // Left: `as.scalar` of a matrix (fails unless 1x1) and the cast of a string.
    assert!(!after.contains("xf32"), "{after}");
    assert_eq!(after.matches("cast(").count(), 2, "{after}");
    assert!(after.contains("= cast(%3) : f64") && after.contains("\"12\":str"), "{after}");
}

#[test]
fn removes_pipelines_without_used_results_only_when_their_bodies_cannot_fail() {
    // The first pipeline only transposes and yields nothing used: it goes. The second one's
    // square root of a matrix may fail (DAPHNE's domain check), so it stays.
    let (text, changed) = before_after(
        &EliminateDeadCode,
        "entry @main

func @main() {
  %0 = const 4:si64
  %1 = const 0.0:f64
  %2 = const 1.0:f64
  %3 = rand(%0, %0, %1, %2, %2, %0) : matrix<4x4xf64>
  pipeline[rows -> ](%3) {
  ^(%4: matrix<?x4xf64>):
    %5 = transpose(%4) : matrix<4x?xf64>
    yield()
  }
  %6 = pipeline[rows -> rows](%3) : matrix<4x4xf64> {
  ^(%7: matrix<?x4xf64>):
    %8 = ewSqrt(%7) : matrix<?x4xf64>
    yield(%8)
  }
  return()
}
",
    );
    assert!(changed);
    let after = text.split_once("--- after\n").unwrap().1;
    assert_eq!(after.matches("pipeline[").count(), 1, "{after}");
    assert!(after.contains("ewSqrt(") && !after.contains("transpose("), "{after}");
}
