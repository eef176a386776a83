//! Who uses a value, and replacing uses: the bookkeeping that rewriting passes share.

use std::collections::HashMap;

use daphne_ir::{Function, OpId, Region, Value};

/// Adds to `users`, for every value used in `region` (and the regions nested in it), the ops
/// that use it.
pub fn users(f: &Function, region: &Region, users: &mut HashMap<Value, Vec<OpId>>) {
    for &id in &region.ops {
        let op = &f.ops[id];
        for &v in &op.operands {
            users.entry(v).or_default().push(id);
        }
        for r in &op.regions {
            self::users(f, r, users);
        }
    }
}

/// Replaces every use of a key of `subst` by its value, in every op of `f`.
pub fn replace(f: &mut Function, subst: &HashMap<Value, Value>) {
    if subst.is_empty() {
        return;
    }
    for i in 0..f.ops.len() {
        let id = OpId::new(i);
        for v in &mut f.ops[id].operands {
            // Follow chains (a replacement that was itself replaced).
            let mut seen = 0;
            while let Some(&to) = subst.get(v) {
                *v = to;
                seen += 1;
                if seen > subst.len() {
                    break;
                }
            }
        }
    }
}
