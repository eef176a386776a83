//! Cranelift JIT compilation of fused pipelines into per-block kernels.
//!
//! Entry point: [`KernelCompiler::compile`] turns a `pipeline` op into a [`Kernel`] (or says
//! it cannot, and the engine interprets the pipeline); [`run_block`] runs a kernel on one
//! block through a safe interface. The kernel ABI is documented in `abi.rs`.

pub mod abi;
mod compile;
mod error;
mod math;

pub use compile::{Kernel, KernelCompiler};
pub use error::CodegenError;
use error::bug;

/// One input of a kernel call on a block.
pub enum BlockInput<'a> {
    /// The block's cells of a row-split input of doubles (or a broadcast row vector's cells).
    F64(&'a [f64]),
    /// The block's cells of a row-split input of floats.
    F32(&'a [f32]),
    /// The block's cells of a row-split input of `si64`.
    I64(&'a [i64]),
    /// A broadcast scalar, as the bytes of its value type (little end first, zero-padded).
    Scalar([u8; 8]),
}

/// One output of a kernel call on a block.
pub enum BlockOutput<'a> {
    /// Where the block's cells of a `rows` output of doubles go.
    F64(&'a mut [f64]),
    /// The same for floats.
    F32(&'a mut [f32]),
    /// The same for `si64`.
    I64(&'a mut [i64]),
    /// Where the block's reduced double goes.
    ValueF64(&'a mut f64),
    /// Where the block's reduced float goes.
    ValueF32(&'a mut f32),
    /// Where the block's reduced `si64` goes.
    ValueI64(&'a mut i64),
}

/// Runs `kernel` on a block of `cells` cells in rows of `cols` (the width of its full-width
/// row-split inputs); `Ok(false)` when a cell failed a domain check
/// (the outputs are then unspecified). Checks that the inputs and outputs match the kernel's
/// (kinds and lengths), so a mismatch is an error, never a wild write.
pub fn run_block(
    kernel: &Kernel,
    cells: usize,
    cols: usize,
    inputs: &[BlockInput<'_>],
    outputs: &mut [BlockOutput<'_>],
) -> Result<bool, CodegenError> {
    if inputs.len() != kernel.inputs.len() || outputs.len() != kernel.outputs.len() {
        return Err(bug("a kernel called with the wrong number of inputs or outputs"));
    }
    use daphne_ir::{Combine, Split, ValueType as V};
    let elem = kernel.elem;
    // A narrow input or output of a row kernel has one cell per row.
    if kernel.cols.is_some_and(|c| c as usize != cols) {
        return Err(bug("a kernel called on rows of another width"));
    }
    let width = cols.max(1);
    let len = |narrow: bool| if narrow { cells / width } else { cells };
    if !cells.is_multiple_of(width) && kernel.narrow_inputs.iter().chain(&kernel.narrow_outputs).any(|&n| n) {
        return Err(bug("a row kernel called on part of a row"));
    }
    let mut in_ptrs: Vec<*const u8> = Vec::with_capacity(inputs.len());
    for (i, (((input, (split, _)), &narrow), &row_vector)) in
        inputs.iter().zip(&kernel.inputs).zip(&kernel.narrow_inputs).zip(&kernel.row_vector_inputs).enumerate()
    {
        // A broadcast row vector has one cell per column, whatever the block.
        let cells = if row_vector { cols } else { len(narrow) };
        let split = if row_vector { &Split::Rows } else { split };
        match (input, split) {
            (BlockInput::F64(c), Split::Rows) if elem == V::F64 && c.len() == cells => in_ptrs.push(c.as_ptr().cast()),
            (BlockInput::F32(c), Split::Rows) if elem == V::F32 && c.len() == cells => in_ptrs.push(c.as_ptr().cast()),
            (BlockInput::I64(c), Split::Rows) if elem == V::Si64 && c.len() == cells => in_ptrs.push(c.as_ptr().cast()),
            (BlockInput::Scalar(s), Split::Broadcast) => in_ptrs.push(s.as_ptr()),
            _ => return Err(bug(format!("kernel input {i} does not fit"))),
        }
    }
    let mut out_ptrs: Vec<*mut u8> = Vec::with_capacity(outputs.len());
    for (i, (((output, combine), &narrow), &across)) in
        outputs.iter_mut().zip(&kernel.outputs).zip(&kernel.narrow_outputs).zip(&kernel.across_outputs).enumerate()
    {
        let reduced = matches!(combine, Combine::Add | Combine::Min | Combine::Max);
        // Cells of a `rows` output, or one per column of a column aggregation.
        let (cells, fits) = if across { (cols, reduced) } else { (len(narrow), *combine == Combine::Rows) };
        match output {
            BlockOutput::F64(c) if elem == V::F64 && fits && c.len() == cells => out_ptrs.push(c.as_mut_ptr().cast()),
            BlockOutput::F32(c) if elem == V::F32 && fits && c.len() == cells => out_ptrs.push(c.as_mut_ptr().cast()),
            BlockOutput::I64(c) if elem == V::Si64 && fits && c.len() == cells => out_ptrs.push(c.as_mut_ptr().cast()),
            BlockOutput::ValueF64(v) if elem == V::F64 && reduced && !across => out_ptrs.push((*v as *mut f64).cast()),
            BlockOutput::ValueF32(v) if elem == V::F32 && reduced && !across => out_ptrs.push((*v as *mut f32).cast()),
            BlockOutput::ValueI64(v) if elem == V::Si64 && reduced && !across => out_ptrs.push((*v as *mut i64).cast()),
            _ => return Err(bug(format!("kernel output {i} does not fit"))),
        }
    }
    let args =
        abi::BlockArgs { cells: cells as u64, inputs: in_ptrs.as_ptr(), outputs: out_ptrs.as_ptr(), cols: cols as u64 };
    // SAFETY: every pointer was checked above to cover `cells` cells (or one value) of the
    // kernel's types; `&mut` outputs are disjoint from each other and from the inputs; the
    // code lives as long as the process (cranelift-jit never frees code memory on drop).
    #[allow(unsafe_code)]
    let passed = unsafe { kernel.code.call(&args) };
    Ok(passed)
}
