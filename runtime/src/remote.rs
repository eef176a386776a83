//! Values that live elsewhere: a pipeline's row output kept on the workers that computed it.
//! The executor passes such a value on (to variables, calls, loops and other pipelines)
//! without touching it, and fetches it (`Remote::fetch`) when an op needs its cells: a print,
//! a kernel outside pipelines, a pipeline that runs locally. What "elsewhere" is belongs to the
//! distributed runtime (`daphne-distributed`), behind `Resident`.

use std::sync::Arc;

use daphne_ir::ValueType;

use crate::value::Value;

/// The data of a remote value. Dropping the last reference lets the owner free it where it
/// lives.
pub trait Resident: Send + Sync + std::fmt::Debug {
    /// The value, brought here (a dense matrix or a CSR matrix). Fetching twice may reuse
    /// the first copy.
    fn fetch(&self) -> Result<Value, String>;
    /// For the owner to recognize its own values.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A matrix whose cells are elsewhere.
#[derive(Debug, Clone)]
pub struct Remote {
    pub rows: usize,
    pub cols: usize,
    pub value_type: ValueType,
    pub data: Arc<dyn Resident>,
}

impl PartialEq for Remote {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }
}

impl Remote {
    /// The value here.
    pub fn fetch(&self) -> Result<Value, String> {
        self.data.fetch()
    }
}
