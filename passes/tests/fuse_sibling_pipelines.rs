//! `fuse-sibling-pipelines` on focused IR (the input is what `fuse-pipelines` makes).

mod common;

use common::before_after;
use daphne_passes::Pass;
use daphne_passes::fuse_pipelines::FusePipelines;
use daphne_passes::fuse_sibling_pipelines::FuseSiblingPipelines;

#[test]
fn pipelines_over_the_same_rows_merge_unless_a_result_is_used_between() {
    // sum(X) and aggMax(X) merge across an unrelated print; aggMin(X) is printed before
    // sum(X, 0) comes, so those two stay apart.
    let mut module = daphne_ir::parse::module(
        r#"entry @main

func @main() {
  %0 = const 100:si64
  %1 = const 4:si64
  %2 = const 0.0:f64
  %3 = const 1.0:f64
  %4 = const 1:si64
  %5 = const 7:si64
  %6 = rand(%0, %1, %2, %3, %4, %5) : matrix<100x4xf64>
  %7 = sumAll(%6) : f64
  %8 = const "between":str
  %9 = const true:bool
  %10 = const false:bool
  print(%8, %9, %10)
  %11 = maxAll(%6) : f64
  %12 = minAll(%6) : f64
  print(%12, %9, %10)
  %13 = sumRow(%6) : matrix<100x1xf64>
  %14 = ewAdd(%7, %11) : f64
  print(%14, %9, %10)
  print(%13, %9, %10)
  return()
}
"#,
    )
    .unwrap();
    assert!(FusePipelines.run(&mut module));
    let (text, changed) = before_after(&FuseSiblingPipelines, &daphne_ir::print::module(&module));
    assert!(changed);
    insta::assert_snapshot!(text);
}
