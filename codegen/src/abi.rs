//! The kernel ABI: how the engine calls a compiled pipeline on one block.
//!
//! A kernel is `extern "C" fn(*const BlockArgs) -> i32`. It computes the pipeline body for
//! every cell of one block (`daphne_ir::pipeline::blocks`) and returns 0, or 1 when a cell
//! failed one of DAPHNE's domain checks (`sqrt` of a negative number, ...): the engine then
//! lets the interpreter run the pipeline to report the error. It writes:
//!
//! - for a `rows` output: the block's cells, row-major, from `outputs[i]` on;
//! - for an `add`/`min`/`max` output: the block's reduced value at `outputs[i]`.
//!
//! Inputs: `inputs[i]` points at the block's first cell of a row-split input (row-major,
//! contiguous), or at the value of a broadcast scalar. Every row-split input and every
//! row-laid value of the body has the same number of columns, so a block is `cells`
//! contiguous cells and the kernel walks them as one flat range (this is what makes the
//! canonical lane order of `daphne_ir::pipeline` cheap: cell `k` of the block feeds
//! accumulator `k % LANES`). Cells are of the kernel's cell type (`f64`, `f32` or `si64`); a
//! reduced value too.
//!
//! A row kernel (`Kernel::row_kernel`, for pipelines with row aggregations) walks the block
//! row by row instead: `cells` is rows x `cols` (`Kernel::cols`, or `BlockArgs::cols` when
//! only the run knows it), and its narrow inputs and outputs
//! (`Kernel::narrow_inputs`/`narrow_outputs`) are column vectors of one cell per row; a
//! column aggregation (`Kernel::across_outputs`) writes its block's row of `cols` cells.
//!
//! The only `unsafe` of the crate is here: turning the code pointer the JIT returns into a
//! typed function, and calling it with pointers the caller vouches for.
#![allow(unsafe_code)]

/// The arguments of one kernel call.
#[repr(C)]
#[derive(Debug)]
pub struct BlockArgs {
    /// The number of cells in this block (rows × columns).
    pub cells: u64,
    /// One pointer per input.
    pub inputs: *const *const u8,
    /// One pointer per output.
    pub outputs: *const *mut u8,
    /// The columns of the block's full-width rows (what a row kernel walks when the types do
    /// not know the width; others ignore it).
    pub cols: u64,
}

/// A compiled kernel's code.
#[derive(Debug, Clone, Copy)]
pub struct KernelFn(extern "C" fn(*const BlockArgs) -> i32);

impl KernelFn {
    /// # Safety
    /// `code` must be the address of a finalized function with the kernel signature.
    /// (cranelift-jit leaks code memory when a module is dropped, so the code stays valid for
    /// the life of the process.)
    pub(crate) unsafe fn from_code(code: *const u8) -> KernelFn {
        // SAFETY: the caller guarantees `code` is a finalized function of this signature.
        KernelFn(unsafe { std::mem::transmute::<*const u8, extern "C" fn(*const BlockArgs) -> i32>(code) })
    }

    /// Runs the kernel on one block; whether every cell passed the domain checks.
    ///
    /// # Safety
    /// Every pointer in `args` must be valid for the kernel's inputs and outputs: row-split
    /// inputs and `rows` outputs for `args.cells` cells of their value type, scalars and
    /// reduced outputs for one value; outputs must not overlap inputs or each other.
    pub unsafe fn call(self, args: &BlockArgs) -> bool {
        (self.0)(args) == 0
    }
}

// A kernel is plain code: it holds no state and may run on any thread.
unsafe impl Send for KernelFn {}
unsafe impl Sync for KernelFn {}
