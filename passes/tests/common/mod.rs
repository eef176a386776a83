//! The one helper of the pass snapshot tests.

use daphne_ir::{parse, print};
use daphne_passes::Pass;

/// Runs `pass` on IR text (which must parse and verify, and still verify afterwards) and
/// returns the module before and after as one text for a snapshot, and whether the pass said
/// it changed anything.
pub fn before_after(pass: &dyn Pass, text: &str) -> (String, bool) {
    let mut module = parse::module(text).expect("the input IR parses");
    daphne_ir::verify::module(&module).expect("the input IR verifies");
    let before = print::module(&module);
    let changed = pass.run(&mut module);
    daphne_ir::verify::module(&module).expect("the output IR verifies");
    (format!("--- before\n{before}--- after\n{}", print::module(&module)), changed)
}
