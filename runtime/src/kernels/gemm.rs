//! Floating-point products whose bits are fixed by their definition, not by their layout.
//!
//! Every product here is `C[i][j] = Σ_r A'(r, i) · B'(r, j)` over an inner dimension `r`
//! (`t(X) @ Y` reads `A' = X`, `B' = Y`; `A @ B` reads `A'(r, i) = A[i][r]`, `B' = B`), and
//! its value is **defined** as: the inner dimension is cut into the given blocks (the
//! canonical blocks of `daphne_ir::pipeline`); within a block, one fused multiply-add per `r`
//! in order, starting from zero (`c = fma(a, b, c)`, rounded once per step); the block results
//! are folded along the canonical tree (`TreeFold`'s tree: a node is its left child plus its
//! right child). Every cell is computed alone by that rule, so the result is the same whatever
//! the tiling, the threads, the layout of the operands (a materialized or a viewed transpose)
//! or the engine that runs a block (a pipeline adding up `t(X_b) @ Y_b` per block gets the
//! same bits), and the AVX-512 kernel and the portable one agree exactly (the tests check).
//!
//! The work is BLIS-shaped: the output is cut into tiles of `MR` x `NR` cells (8 rows, three
//! SIMD registers of columns), each computed in registers by a tile kernel over two sibling
//! blocks of rows of packed panels (the first block's chains rest in the output tile while the
//! second's run, then their node is formed; one block when it has no sibling). Threads own
//! ranges of tile rows (balanced by tile count; `t(X) @ X` computes only the tiles touching the
//! lower triangle and mirrors them). The tree fold lives beside the output: per tile, the
//! kernel adds the pending left siblings of its node's path through the tree and stores the
//! node it completes, so the partial results of the blocks never exist as whole matrices; the
//! groups of a chunk run one after another on each tile, whose pending nodes stay in cache.
//! Packed panels, nodes and outputs start on cache lines (`Lined`). A product with a column on
//! one side (`t(X) @ y`) is not tiled: it streams the matrix's rows into a vector of cells.
//!
//! The AVX-512 kernels are this crate's second and last use of `unsafe` (beside `pages`):
//! SIMD loads and stores through pointers into slices whose lengths are checked before.

use std::ops::Range;

use crate::schedule::Schedule;

/// Rows of a tile: values broadcast from the left operand's packed panel.
pub const MR: usize = 8;
/// SIMD registers of columns per tile row.
const NV: usize = 3;
/// The widest tile in cells (`NV` registers of 16 `f32`).
const MAX_NR: usize = NV * 16;
/// Bytes of packed operand per chunk of blocks, packed together and then computed (a chunk
/// holds at least two sibling blocks; measured on `t(X) @ X`, 10000x1000 and 20000x2000: 2 MB
/// gave 75 and 552 ms, 8 MB 79 and 562 ms).
const CHUNK_BYTES: usize = 2 << 20;
/// Bytes of right panels one pass over the tile rows reads (they stay in the core's L2 cache).
const COL_BYTES: usize = 1 << 20;

/// The cell types of the products.
pub trait Float: Copy + Default + PartialEq + Send + Sync + std::fmt::Debug + 'static {
    const ZERO: Self;
    /// Cells per AVX-512 register.
    const LANES: usize;
    /// `a * b + c` rounded once.
    fn fma(a: Self, b: Self, c: Self) -> Self;
    fn add(a: Self, b: Self) -> Self;
    /// The SIMD tile kernel, when this CPU has one.
    fn simd_kernel() -> Option<TileKernel<Self>>;
    /// The SIMD rows kernel, when this CPU has one.
    fn simd_rows() -> Option<RowsKernel<Self>>;
    /// The spare buffers of this type among `buffers`.
    fn spare(buffers: &Buffers) -> &Spare<Self>;
}

/// Buffers kept from one product for the next: a product in a loop would otherwise have fresh
/// pages cleared by the OS for its tree nodes every time (a tenth of `t(X) @ X`). Their
/// contents are stale, which is safe: every node is written before it is read, and every
/// output cell that is read was written.
pub struct Spare<T> {
    buffers: std::sync::Mutex<Vec<Vec<T>>>,
}

/// The spare buffers of both cell types: one set per executor (`kernels::Context`), shared by
/// its threads.
#[derive(Default)]
pub struct Buffers {
    f64: Spare<f64>,
    f32: Spare<f32>,
}

impl std::fmt::Debug for Buffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Buffers")
    }
}

impl<T> Default for Spare<T> {
    fn default() -> Spare<T> {
        Spare { buffers: std::sync::Mutex::new(Vec::new()) }
    }
}

impl<T: Float> Spare<T> {
    /// The most cells kept.
    const KEEP: usize = (256 << 20) / std::mem::size_of::<T>();

    /// A buffer of `n` cells of unspecified values.
    fn take(&self, n: usize) -> Vec<T> {
        let mut spare = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        match spare.iter().position(|b| b.len() == n) {
            Some(i) => spare.swap_remove(i),
            None => crate::pages::zeroed(n),
        }
    }

    fn give(&self, buffers: impl IntoIterator<Item = Vec<T>>) {
        let mut spare = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        for b in buffers {
            spare.push(b);
        }
        // The newest buffers stay, up to the bound.
        let mut kept = 0;
        let mut i = spare.len();
        while i > 0 {
            i -= 1;
            kept += spare[i].len();
            if kept > Self::KEEP {
                spare.drain(..=i);
                break;
            }
        }
    }
}

/// A buffer from `Spare` whose cells start on a cache line, so that no SIMD load or store of a
/// packed panel or a tile straddles two lines (the allocator aligns to 16 bytes only).
struct Lined<T> {
    buf: Vec<T>,
    off: usize,
    len: usize,
}

impl<T: Float> Lined<T> {
    const LINE: usize = 64;

    fn empty() -> Lined<T> {
        Lined { buf: Vec::new(), off: 0, len: 0 }
    }

    /// `n` cells of unspecified values.
    fn take(spare: &Spare<T>, n: usize) -> Lined<T> {
        let buf = spare.take(n + Self::LINE / std::mem::size_of::<T>());
        let off = buf.as_ptr().align_offset(Self::LINE).min(buf.len() - n);
        Lined { buf, off, len: n }
    }

    /// At least `n` cells (unspecified values): this buffer when it is large enough.
    fn reserve(&mut self, spare: &Spare<T>, n: usize) {
        if self.len < n {
            let old = std::mem::replace(self, Lined::take(spare, n));
            old.give(spare);
        }
    }

    fn give(self, spare: &Spare<T>) {
        if !self.buf.is_empty() {
            spare.give([self.buf]);
        }
    }
}

impl<T> std::ops::Deref for Lined<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.buf[self.off..self.off + self.len]
    }
}

impl<T> std::ops::DerefMut for Lined<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buf[self.off..self.off + self.len]
    }
}

/// One tile kernel: computes the tile of `t` in registers, adds `adds` (each the tile of a
/// pending node, rows `ld` apart) in order, and stores into `dst` (rows `ld` apart).
pub type TileKernel<T> = fn(t: &Tile<'_, T>, adds: &[&[T]], dst: &mut [T], ld: usize);

/// The operands of one tile over one block of `rows` rows: cell `i` of row `r` of the left
/// side at `a[r * a_stride + i * a_step]` (a packed panel: `MR`, 1; read in place: the row
/// stride and 1, or 1 and the column stride), `b[v]` the `LANES` cells of register `v` of row
/// `r` at `r * b_stride`.
pub struct Tile<'a, T> {
    pub rows: usize,
    pub a: &'a [T],
    pub a_stride: usize,
    pub a_step: usize,
    pub b: [&'a [T]; NV],
    pub b_stride: usize,
    /// Rows of the first of two sibling blocks (0: one block): the tile is then their parent
    /// node, the first block's chains plus the second's.
    pub split: usize,
}

impl<T: Float> Tile<'_, T> {
    /// Panics unless every cell the kernels read lies inside the slices (the SIMD kernels
    /// rely on it).
    fn check(&self, adds: &[&[T]], dst: &[T], ld: usize) {
        let (l, nr) = (T::LANES, NV * T::LANES);
        assert!(
            self.rows == 0 || self.a.len() > (self.rows - 1) * self.a_stride + (MR - 1) * self.a_step,
            "a tile's left panel is too short"
        );
        for b in &self.b {
            assert!(
                self.rows == 0 || b.len() >= (self.rows - 1) * self.b_stride + l,
                "a tile's right panel is too short"
            );
        }
        let span = (MR - 1) * ld + nr;
        assert!(
            ld >= nr && self.split <= self.rows && dst.len() >= span && adds.iter().all(|a| a.len() >= span),
            "a tile's output is too short"
        );
    }
}

macro_rules! float {
    ($t:ty, $lanes:expr, $kernel:ident, $rows:ident, $spare:ident) => {
        impl Float for $t {
            const ZERO: $t = 0.0;
            const LANES: usize = $lanes;
            fn fma(a: $t, b: $t, c: $t) -> $t {
                a.mul_add(b, c)
            }
            fn add(a: $t, b: $t) -> $t {
                a + b
            }
            fn simd_kernel() -> Option<TileKernel<$t>> {
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return Some(simd::$kernel);
                }
                None
            }
            fn simd_rows() -> Option<RowsKernel<$t>> {
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return Some(simd::$rows);
                }
                None
            }
            fn spare(buffers: &Buffers) -> &Spare<$t> {
                &buffers.$spare
            }
        }
    };
}

float!(f64, 8, tile_f64, rows_f64, f64);
float!(f32, 16, tile_f32, rows_f32, f32);

/// The kernels a product runs.
#[derive(Clone, Copy)]
pub struct Kernels<T> {
    pub tile: TileKernel<T>,
    pub rows: RowsKernel<T>,
}

impl<T: Float> Kernels<T> {
    /// The plain Rust kernels.
    pub fn portable() -> Kernels<T> {
        Kernels { tile: tile_portable::<T>, rows: rows_portable::<T> }
    }

    /// The SIMD kernels when this CPU has them.
    pub fn simd() -> Option<Kernels<T>> {
        Some(Kernels { tile: T::simd_kernel()?, rows: T::simd_rows()? })
    }

    /// The fastest kernels this CPU has.
    pub fn best() -> Kernels<T> {
        Self::simd().unwrap_or_else(Self::portable)
    }
}

/// One rows kernel: `acc[j] = fma(coef[q], rows[q * ld + j], acc[j])` for every `j` of `acc`,
/// `q` in order (each cell's chain runs on through the rows).
pub type RowsKernel<T> = fn(coef: &[T], rows: &[T], ld: usize, acc: &mut [T]);

/// Panics unless the rows kernel's reads lie inside `rows` (the SIMD kernels rely on it).
fn check_rows<T>(coef: &[T], rows: &[T], ld: usize, acc: &[T]) {
    assert!(
        coef.is_empty() || acc.is_empty() || rows.len() >= (coef.len() - 1) * ld + acc.len(),
        "a rows kernel's rows are too short"
    );
}

/// The rows kernel in plain Rust: the definition the SIMD kernels implement.
pub fn rows_portable<T: Float>(coef: &[T], rows: &[T], ld: usize, acc: &mut [T]) {
    check_rows(coef, rows, ld, acc);
    for (q, &c) in coef.iter().enumerate() {
        for (a, &x) in acc.iter_mut().zip(&rows[q * ld..]) {
            *a = T::fma(c, x, *a);
        }
    }
}

/// `C = A'ᵀ B'` when one side is one column (`t(X) @ y`, `t(y) @ X`) and the other, `x`, is
/// read by rows: every cell is the definition's (per block a chain down the rows, the blocks
/// folded along the tree), computed a row at a time into a vector of cells, which streams the
/// matrix once in order instead of tiles that would use one row in eight. Threads own ranges of
/// columns and walk all blocks, each with its own pending tree nodes.
fn vector_product<T: Float>(
    v: &[T],
    x: Side<'_, T>,
    parts: &[Range<usize>],
    threads: usize,
    kernel: RowsKernel<T>,
) -> Vec<T> {
    let m = x.outer;
    let mut c = vec![T::ZERO; m];
    let inner: usize = parts.iter().map(|p| p.len()).sum();
    if m == 0 || inner == 0 {
        return c;
    }
    let threads = if inner * m < 1 << 18 { 1 } else { threads.clamp(1, m.div_ceil(T::LANES)) };
    let per = m.div_ceil(threads).next_multiple_of(T::LANES);
    let top = parts.len().next_power_of_two().trailing_zeros() as usize;
    let jobs: Vec<(usize, &mut [T])> = c.chunks_mut(per).enumerate().map(|(t, s)| (t * per, s)).collect();
    Schedule::on(threads).run(
        jobs,
        |(j0, out)| {
            let w = out.len();
            let mut levels: Vec<Vec<T>> = (0..top).map(|_| vec![T::ZERO; w]).collect();
            let mut acc = vec![T::ZERO; w];
            for (b, part) in parts.iter().enumerate() {
                acc.fill(T::ZERO);
                // Four rows per call: the cells' chains go on in registers through them.
                for q in part.clone().step_by(4) {
                    let q1 = (q + 4).min(part.end);
                    kernel(&v[q..q1], &x.cells[q * x.ld + j0..], x.ld, &mut acc);
                }
                let (adds, dest) = path(b, parts.len());
                for &l in &adds {
                    for (a, &p) in acc.iter_mut().zip(&levels[l]) {
                        *a = T::add(p, *a);
                    }
                }
                match dest {
                    Some(d) => std::mem::swap(&mut levels[d], &mut acc),
                    None => out.copy_from_slice(&acc),
                }
            }
        },
        |_| false,
    );
    c
}

/// The tile kernel in plain Rust: the definition the SIMD kernels implement.
pub fn tile_portable<T: Float>(t: &Tile<'_, T>, adds: &[&[T]], dst: &mut [T], ld: usize) {
    t.check(adds, dst, ld);
    let (l, nr) = (T::LANES, NV * T::LANES);
    let mut acc = [T::ZERO; MR * MAX_NR];
    let mut left = [T::ZERO; MR * MAX_NR];
    for r in 0..t.rows {
        if r == t.split && r > 0 {
            left = acc;
            acc = [T::ZERO; MR * MAX_NR];
        }
        for i in 0..MR {
            let x = t.a[r * t.a_stride + i * t.a_step];
            for (v, b) in t.b.iter().enumerate() {
                let row = &b[r * t.b_stride..r * t.b_stride + l];
                for (q, &y) in row.iter().enumerate() {
                    let c = &mut acc[i * nr + v * l + q];
                    *c = T::fma(x, y, *c);
                }
            }
        }
    }
    for i in 0..MR {
        for j in 0..nr {
            let mut s = acc[i * nr + j];
            if t.split > 0 {
                s = T::add(left[i * nr + j], s);
            }
            for a in adds {
                s = T::add(a[i * ld + j], s);
            }
            dst[i * ld + j] = s;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod simd {
    use std::arch::x86_64::*;

    use super::{MR, NV, Tile};

    /// Rows ahead of the left panel prefetched.
    const AHEAD: usize = 16;

    macro_rules! tile_kernel {
        ($name:ident, $inner:ident, $t:ty, $lanes:expr, $zero:ident, $load:ident, $splat:ident, $fma:ident, $add:ident, $store:ident) => {
            /// The AVX-512 tile kernel (the caller checked that the CPU has AVX-512F).
            pub fn $name(t: &Tile<'_, $t>, adds: &[&[$t]], dst: &mut [$t], ld: usize) {
                t.check(adds, dst, ld);
                // SAFETY: `check` proved every offset below in bounds of its slice, and
                // `simd_kernel` hands this function out only when the CPU has AVX-512F.
                unsafe {
                    if t.a_stride == MR && t.a_step == 1 && t.b_stride == $lanes {
                        $inner::<true>(t, adds, dst, ld)
                    } else {
                        $inner::<false>(t, adds, dst, ld)
                    }
                }
            }

            /// `PACKED`: both sides are packed panels (the common case), their strides
            /// constants: one index and immediate offsets instead of a multiply-add per load.
            #[target_feature(enable = "avx512f")]
            unsafe fn $inner<const PACKED: bool>(t: &Tile<'_, $t>, adds: &[&[$t]], dst: &mut [$t], ld: usize) {
                // SAFETY (every pointer access): in bounds by `Tile::check`, see the caller.
                unsafe {
                    let out = dst.as_mut_ptr();
                    // The output's lines arrive while the tile computes.
                    for i in 0..MR {
                        for v in 0..NV {
                            for add in adds {
                                _mm_prefetch::<_MM_HINT_T0>(add.as_ptr().add(i * ld + v * $lanes).cast());
                            }
                            _mm_prefetch::<_MM_HINT_ET0>(out.add(i * ld + v * $lanes).cast());
                        }
                    }
                    let (a_stride, s, step) = if PACKED { (MR, $lanes, 1) } else { (t.a_stride, t.b_stride, t.a_step) };
                    let a = t.a.as_ptr();
                    let b = t.b.map(|b| b.as_ptr());
                    let far = !PACKED;
                    // One block's chains over `rows`, from zero.
                    let chain = |rows: std::ops::Range<usize>| {
                        let mut c = [[$zero(); NV]; MR];
                        for r in rows {
                            let x = b.map(|b| $load(b.add(r * s)));
                            // The right side read in place strides over pages, where the
                            // hardware does not prefetch: ask for it a few rows ahead.
                            if far {
                                for b in b {
                                    _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add((r + AHEAD) * s).cast());
                                }
                            }
                            let ar = a.add(r * a_stride);
                            _mm_prefetch::<_MM_HINT_T0>(ar.wrapping_add(AHEAD * a_stride).cast());
                            for (i, ci) in c.iter_mut().enumerate() {
                                let y = $splat(*ar.add(i * step));
                                for v in 0..NV {
                                    ci[v] = $fma(y, x[v], ci[v]);
                                }
                            }
                        }
                        c
                    };
                    // The left sibling's chains rest in the output tile (kept in registers
                    // they would push the right sibling's out of them; `black_box` keeps the
                    // compiler from doing that), then the right's, then their node: left plus
                    // right.
                    if t.split > 0 {
                        let left = chain(0..t.split);
                        for (i, li) in left.iter().enumerate() {
                            for (v, &lv) in li.iter().enumerate() {
                                $store(out.add(i * ld + v * $lanes), lv);
                            }
                        }
                        std::hint::black_box(out);
                    }
                    let mut c = chain(t.split..t.rows);
                    if t.split > 0 {
                        for (i, ci) in c.iter_mut().enumerate() {
                            for (v, cv) in ci.iter_mut().enumerate() {
                                *cv = $add($load(out.add(i * ld + v * $lanes)), *cv);
                            }
                        }
                    }
                    for (i, ci) in c.iter().enumerate() {
                        for (v, &cv) in ci.iter().enumerate() {
                            let at = i * ld + v * $lanes;
                            let mut x = cv;
                            for add in adds {
                                x = $add($load(add.as_ptr().add(at)), x);
                            }
                            $store(out.add(at), x);
                        }
                    }
                }
            }
        };
    }

    macro_rules! rows_kernel {
        ($name:ident, $inner:ident, $t:ty, $lanes:expr, $load:ident, $mload:ident, $splat:ident, $fma:ident, $store:ident, $mstore:ident) => {
            /// The AVX-512 rows kernel (the caller checked that the CPU has AVX-512F).
            pub fn $name(coef: &[$t], rows: &[$t], ld: usize, acc: &mut [$t]) {
                super::check_rows(coef, rows, ld, acc);
                // SAFETY: `check_rows` proved every offset below in bounds, and `simd_rows`
                // hands this function out only when the CPU has AVX-512F.
                unsafe { $inner(coef, rows, ld, acc) }
            }

            #[target_feature(enable = "avx512f")]
            unsafe fn $inner(coef: &[$t], rows: &[$t], ld: usize, acc: &mut [$t]) {
                // SAFETY (every pointer access): in bounds by `check_rows`, see the caller;
                // the last register is masked to the cells that exist.
                unsafe {
                    let (x, out, w) = (rows.as_ptr(), acc.as_mut_ptr(), acc.len());
                    let mut j = 0;
                    while j < w {
                        let mask = if w - j >= $lanes { !0 } else { (1 << (w - j)) - 1 };
                        let mut a = $mload($splat(0.0), mask, out.add(j));
                        for (q, &c) in coef.iter().enumerate() {
                            a = $fma($splat(c), $mload($splat(0.0), mask, x.add(q * ld + j)), a);
                        }
                        $mstore(out.add(j), mask, a);
                        j += $lanes;
                    }
                }
            }
        };
    }

    rows_kernel!(
        rows_f64,
        rows_f64_avx512,
        f64,
        8,
        _mm512_loadu_pd,
        _mm512_mask_loadu_pd,
        _mm512_set1_pd,
        _mm512_fmadd_pd,
        _mm512_storeu_pd,
        _mm512_mask_storeu_pd
    );
    rows_kernel!(
        rows_f32,
        rows_f32_avx512,
        f32,
        16,
        _mm512_loadu_ps,
        _mm512_mask_loadu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_storeu_ps,
        _mm512_mask_storeu_ps
    );

    tile_kernel!(
        tile_f64,
        tile_f64_avx512,
        f64,
        8,
        _mm512_setzero_pd,
        _mm512_loadu_pd,
        _mm512_set1_pd,
        _mm512_fmadd_pd,
        _mm512_add_pd,
        _mm512_storeu_pd
    );
    tile_kernel!(
        tile_f32,
        tile_f32_avx512,
        f32,
        16,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        _mm512_storeu_ps
    );
}

/// One operand as the product reads it: `outer` columns over the inner dimension; cell
/// `(r, i)` is `cells[r * ld + i]` when `inner_major` (the rows of `X` in `t(X) @ Y`), else
/// `cells[i * ld + r]` (the left side of `A @ B`).
#[derive(Clone, Copy)]
pub struct Side<'a, T> {
    pub cells: &'a [T],
    pub ld: usize,
    pub inner_major: bool,
    pub outer: usize,
}

impl<T: Float> Side<'_, T> {
    fn same(&self, other: &Side<'_, T>) -> bool {
        std::ptr::eq(self.cells, other.cells) && self.ld == other.ld && self.inner_major == other.inner_major
    }

    /// Packs columns `panels * w ..` of the rows `rows` into `dst`: panel after panel, each
    /// `rows.len()` rows of `w` cells, zero past `outer`.
    fn pack(&self, rows: Range<usize>, panels: Range<usize>, w: usize, dst: &mut [T]) {
        match w {
            8 => self.pack_w::<8>(rows, panels, dst),
            16 => self.pack_w::<16>(rows, panels, dst),
            _ => unreachable!("panels are 8 or 16 cells wide"),
        }
    }

    /// `pack` for panels `W` cells wide (whole panels are moved as arrays, which compile to a
    /// vector move; a call to memmove per 8 cells was a tenth of `t(X) @ X`).
    fn pack_w<const W: usize>(&self, rows: Range<usize>, panels: Range<usize>, dst: &mut [T]) {
        let n = rows.len();
        if n == 0 {
            return;
        }
        if self.inner_major {
            // Row by row (each read once, in order), into every panel.
            for (ri, r) in rows.enumerate() {
                let src = &self.cells[r * self.ld..];
                for (pi, p) in panels.clone().enumerate() {
                    let o: &mut [T; W] =
                        (&mut dst[(pi * n + ri) * W..(pi * n + ri + 1) * W]).try_into().expect("W cells");
                    let (lo, hi) = ((p * W).min(self.outer), ((p + 1) * W).min(self.outer));
                    if hi - lo == W {
                        *o = src[lo..hi].try_into().expect("W cells");
                    } else {
                        o[..hi - lo].copy_from_slice(&src[lo..hi]);
                        o[hi - lo..].fill(T::ZERO);
                    }
                }
            }
        } else {
            for (p, out) in panels.zip(dst.chunks_mut(n * W)) {
                for q in 0..W {
                    let i = p * W + q;
                    if i < self.outer {
                        let at = i * self.ld;
                        for (k, &x) in self.cells[at + rows.start..at + rows.end].iter().enumerate() {
                            out[k * W + q] = x;
                        }
                    } else {
                        for k in 0..n {
                            out[k * W + q] = T::ZERO;
                        }
                    }
                }
            }
        }
    }
}

/// Where block `b` of `n` goes in the tree: the levels of the pending left siblings it adds
/// (in order, lowest first) and the level of the node it completes (`None`: the root).
fn path(b: usize, n: usize) -> (Vec<usize>, Option<usize>) {
    let top = n.max(1).next_power_of_two().trailing_zeros() as usize;
    let (mut level, mut j, mut adds) = (0, b, Vec::new());
    loop {
        if level == top {
            return (adds, None);
        }
        if j % 2 == 1 {
            adds.push(level);
        } else if ((j + 1) << level) < n {
            return (adds, Some(level));
        }
        j /= 2;
        level += 1;
    }
}

/// The tile rows a thread computes, with its pending tree nodes (one buffer per level) and its
/// output, `MR` rows per tile row, `ld` cells per row.
struct Band<T> {
    tiles: Range<usize>,
    /// Its tile columns, `ld` cells per row.
    cols: Range<usize>,
    ld: usize,
    levels: Vec<Lined<T>>,
    out: Lined<T>,
    /// Its packed left panels of the chunk.
    own: Lined<T>,
}

/// `C = A'ᵀ B'` (`a.outer` x `b.outer`, row-major), the inner dimension cut into `parts`, on up
/// to `threads` threads. See the module doc for the definition of every cell.
pub fn product<T: Float>(
    a: Side<'_, T>,
    b: Side<'_, T>,
    parts: &[Range<usize>],
    threads: usize,
    buffers: &Buffers,
) -> Vec<T> {
    product_with(a, b, parts, threads, buffers, Kernels::best())
}

/// `product` with a chosen tile kernel.
pub fn product_with<T: Float>(
    a: Side<'_, T>,
    b: Side<'_, T>,
    parts: &[Range<usize>],
    threads: usize,
    buffers: &Buffers,
    kernels: Kernels<T>,
) -> Vec<T> {
    let kernel = kernels.tile;
    let spare = T::spare(buffers);
    let (k, m) = (a.outer, b.outer);
    // One side a column and the other read by rows: a row at a time (`fma` is commutative, so
    // either side may be the coefficients).
    for (v, x) in [(a, b), (b, a)] {
        if v.outer == 1 && x.inner_major {
            let inner: usize = parts.iter().map(|p| p.len()).sum();
            let coef: Vec<T> = (0..parts.last().map_or(inner, |p| p.end))
                .map(|r| if v.inner_major { v.cells[r * v.ld] } else { v.cells[r] })
                .collect();
            return vector_product(&coef, x, parts, threads, kernels.rows);
        }
    }
    let nr = NV * T::LANES;
    let symmetric = a.same(&b) && k == m;
    // `t(X) @ X` packs X once for both sides when a panel is one register wide.
    let share = symmetric && T::LANES == MR;
    // A narrow right side wastes most of a tile's columns; the other way round wastes fewer
    // (fma is commutative, so the cells are the same).
    if !symmetric && m < nr && k > m && a.inner_major {
        let ct = product_with(b, a, parts, threads, buffers, kernels);
        let mut c = vec![T::ZERO; k * m];
        for j in 0..m {
            for i in 0..k {
                c[i * m + j] = ct[j * k + i];
            }
        }
        return c;
    }
    let mut c = vec![T::ZERO; k * m];
    let inner: usize = parts.iter().map(|p| p.len()).sum();
    if k == 0 || m == 0 || inner == 0 {
        // No rows: every block sum is zero.
        return c;
    }
    let (kp, jn) = (k.div_ceil(MR), m.div_ceil(nr));
    // Tiles of tile row `ip`: for `t(X) @ X`, those that touch the lower triangle.
    let row_tiles = |ip: usize| if symmetric { ((ip + 1) * MR).min(k).div_ceil(nr) } else { jn };
    let total: usize = (0..kp).map(row_tiles).sum();
    let threads = if inner * k * m < 1 << 20 { 1 } else { threads.clamp(1, kp.max(jn)) };
    let mut bands = Vec::with_capacity(threads);
    let band = |tiles: Range<usize>, cols: Range<usize>| Band {
        ld: cols.len() * nr,
        tiles,
        cols,
        levels: Vec::new(),
        out: Lined::empty(),
        own: Lined::empty(),
    };
    if symmetric || (kp >= threads && k >= m) {
        // Bands of tile rows with equal numbers of tiles.
        let (mut start, mut done) = (0, 0);
        for ip in 0..kp {
            done += row_tiles(ip);
            if done * threads >= total * (bands.len() + 1) || ip + 1 == kp {
                bands.push(band(start..ip + 1, 0..jn));
                start = ip + 1;
            }
        }
    } else {
        // Few tile rows (a narrow left side): bands of tile columns.
        bands.extend(
            (0..threads).map(|t| band(0..kp, jn * t / threads..jn * (t + 1) / threads)).filter(|b| !b.cols.is_empty()),
        );
    }
    for band in &mut bands {
        band.out = Lined::take(spare, band.tiles.len() * MR * band.ld);
    }
    let top = parts.len().max(1).next_power_of_two().trailing_zeros() as usize;
    let paths: Vec<(Vec<usize>, Option<usize>)> = (0..parts.len()).map(|i| path(i, parts.len())).collect();
    // The right side read in place (rows `b.ld` apart) when few tile rows share it, else packed.
    let pack_b = symmetric || !b.inner_major || kp > 2;
    let per_row = if share { kp * MR } else { MR * kp.div_ceil(threads) + if pack_b { jn * nr } else { 0 } };
    let chunk_rows = (CHUNK_BYTES / std::mem::size_of::<T>() / per_row.max(1)).max(1);
    let schedule = Schedule::on(threads);
    let mut packed: Lined<T> = Lined::empty();
    let mut first = 0;
    while first < parts.len() {
        // The chunk: consecutive blocks up to the budget (at least one).
        let mut last = first + 1;
        while last < parts.len() && parts[last].end - parts[first].start <= chunk_rows {
            last += 1;
        }
        // Sibling blocks stay together (a tile computes both and their node at once).
        if last < parts.len() && (last - first) % 2 == 1 {
            if last - first > 1 {
                last -= 1;
            } else if first % 2 == 0 {
                last += 1;
            }
        }
        let rows = parts[first].start..parts[last - 1].end;
        let n = rows.len();
        // The shared packing: all panels of `t(X) @ X`, else the right side's.
        let (w, panels) = if share { (MR, kp) } else { (T::LANES, jn * NV) };
        if pack_b {
            // Every cell is written by `pack` (zeros past the columns), none needs clearing.
            packed.reserve(spare, panels * n * w);
            let per = panels.div_ceil(threads);
            let jobs: Vec<(Range<usize>, &mut [T])> = packed[..panels * n * w]
                .chunks_mut(per * n * w)
                .enumerate()
                .map(|(t, s)| (t * per..((t + 1) * per).min(panels), s))
                .collect();
            let src = if share { a } else { b };
            schedule.run(jobs, |(ps, dst)| src.pack(rows.clone(), ps, w, dst), |_| false);
        }
        let shared = &packed[..];
        let chunk = first..last;
        let jobs: Vec<&mut Band<T>> = bands.iter_mut().collect();
        schedule.run(
            jobs,
            |band| {
                // The left side is packed when many tile columns read it, else read in place
                // (one register's cells of a row, or eight rows side by side).
                let pack_a = !share && band.cols.len() > 2;
                if pack_a {
                    band.own.reserve(spare, band.tiles.len() * n * MR);
                    a.pack(rows.clone(), band.tiles.clone(), MR, &mut band.own[..band.tiles.len() * n * MR]);
                }
                let mut a_edge = Vec::new();
                if !share && !pack_a && band.tiles.end * MR > k {
                    a_edge.resize(n * MR, T::ZERO);
                    a.pack(rows.clone(), kp - 1..kp, MR, &mut a_edge);
                }
                while band.levels.len() < top {
                    band.levels.push(Lined::take(spare, band.tiles.len() * MR * band.ld));
                }
                // The last tile column, packed alone when its panels are not all in `shared`
                // (the right side read in place, or past the packed panels of `t(X) @ X`).
                let last_col = jn - 1;
                let edge_needed = if pack_b { share && jn * NV > kp } else { jn * nr > m };
                let mut edge = Vec::new();
                if edge_needed && band.cols.contains(&last_col) {
                    edge.resize(n * nr, T::ZERO);
                    let src = if share { a } else { b };
                    src.pack(rows.clone(), last_col * NV..jn * NV, T::LANES, &mut edge);
                }
                // The right panels of tile column `jp` and their row stride.
                let right = |jp: usize| -> ([&[T]; NV], usize) {
                    if edge_needed && jp == last_col {
                        (std::array::from_fn(|v| &edge[v * n * T::LANES..(v + 1) * n * T::LANES]), T::LANES)
                    } else if pack_b {
                        (std::array::from_fn(|v| &shared[(jp * NV + v) * n * w..(jp * NV + v + 1) * n * w]), w)
                    } else {
                        let s = &b.cells[rows.start * b.ld + jp * nr..];
                        (std::array::from_fn(|v| &s[v * T::LANES..]), b.ld)
                    }
                };
                let ld = band.ld;
                // Tile columns per pass: their right panels over the chunk stay in the core's cache.
                let col_tiles = (COL_BYTES / (nr * n * std::mem::size_of::<T>())).max(1);
                // The chunk's blocks in groups: two siblings (a tile computes both and their
                // node in registers) or one alone, each with the pending nodes it adds and the
                // node it completes.
                let mut groups = Vec::new();
                let mut bi = chunk.start;
                while bi < chunk.end {
                    let pair = bi % 2 == 0 && bi + 1 < chunk.end && parts[bi].end == parts[bi + 1].start;
                    let (adds, dest): (&[usize], Option<usize>) = if pair {
                        let (adds, dest) = &paths[bi + 1];
                        debug_assert_eq!(adds.first(), Some(&0), "a right sibling adds its left");
                        (&adds[1..], *dest)
                    } else {
                        (&paths[bi].0, paths[bi].1)
                    };
                    let span = parts[bi].start..parts[if pair { bi + 1 } else { bi }].end;
                    let split = if pair { parts[bi].len() } else { 0 };
                    groups.push((span, split, adds, dest));
                    bi += if pair { 2 } else { 1 };
                }
                // Per tile column, its right panels stay in cache while the left panels of the
                // band stream past; per tile, the groups one after another, so the nodes one
                // completes and the next adds stay in L1.
                for jc in band.cols.clone().step_by(col_tiles) {
                    for jp in jc..(jc + col_tiles).min(band.cols.end) {
                        let (right_panels, stride) = right(jp);
                        // For `t(X) @ X`, the tile rows that reach this column's triangle.
                        let first_row = if symmetric { (jp * nr / MR).max(band.tiles.start) } else { band.tiles.start };
                        for ip in first_row..band.tiles.end {
                            let li = ip - band.tiles.start;
                            let off = li * MR * ld + (jp - band.cols.start) * nr;
                            for (span, split, adds, dest) in &groups {
                                let r0 = span.start - rows.start;
                                let (a_cells, a_stride, a_step) = if share {
                                    (&shared[(ip * n + r0) * MR..], MR, 1)
                                } else if pack_a {
                                    (&band.own[(li * n + r0) * MR..], MR, 1)
                                } else if (ip + 1) * MR > k {
                                    (&a_edge[r0 * MR..], MR, 1)
                                } else if a.inner_major {
                                    (&a.cells[span.start * a.ld + ip * MR..], a.ld, 1)
                                } else {
                                    (&a.cells[ip * MR * a.ld + span.start..], 1, a.ld)
                                };
                                let tile = Tile {
                                    rows: span.len(),
                                    a: a_cells,
                                    a_stride,
                                    a_step,
                                    b: right_panels.map(|b| &b[r0 * stride..]),
                                    b_stride: stride,
                                    split: *split,
                                };
                                let (below, dst) = match *dest {
                                    Some(d) => {
                                        let (lo, hi) = band.levels.split_at_mut(d);
                                        (&*lo, &mut hi[0][off..])
                                    }
                                    None => (&band.levels[..], &mut band.out[off..]),
                                };
                                // The pending nodes' tiles, on the stack for trees of up to
                                // 4096 blocks (clearing a larger array cost a twentieth).
                                let mut few: [&[T]; 12] = [&[]; 12];
                                let many: Vec<&[T]>;
                                let add: &[&[T]] = if adds.len() <= few.len() {
                                    for (slot, &l) in few.iter_mut().zip(adds.iter()) {
                                        *slot = &below[l][off..];
                                    }
                                    &few[..adds.len()]
                                } else {
                                    many = adds.iter().map(|&l| &below[l][off..]).collect();
                                    &many
                                };
                                kernel(&tile, add, dst, ld);
                            }
                        }
                    }
                }
            },
            |_| false,
        );
        first = last;
    }
    assemble(&mut c, &bands, k, m, nr, symmetric, &schedule);
    for band in bands {
        band.levels.into_iter().chain([band.out, band.own]).for_each(|l| l.give(spare));
    }
    packed.give(spare);
    c
}

/// Copies the bands' outputs into `c` (k x m), rows in parallel; for `t(X) @ X`, a cell above
/// the diagonal is its mirror's below (the same bits: `fma(a, b, c) == fma(b, a, c)`), read in
/// tiles (a column walk of a large matrix would miss the cache on every cell).
fn assemble<T: Float>(
    c: &mut [T],
    bands: &[Band<T>],
    k: usize,
    m: usize,
    nr: usize,
    symmetric: bool,
    schedule: &Schedule,
) {
    const TILE: usize = 32;
    // The computed cell (i, j) of the band holding it.
    let cell = |i: usize, j: usize| -> T {
        let band = bands
            .iter()
            .find(|b| b.tiles.contains(&(i / MR)) && b.cols.contains(&(j / nr)))
            .expect("a band computed every cell");
        band.out[(i - band.tiles.start * MR) * band.ld + j - band.cols.start * nr]
    };
    let rows_per = TILE * k.div_ceil(TILE * schedule.threads).max(1);
    let jobs: Vec<(usize, &mut [T])> = c.chunks_mut(rows_per * m).enumerate().map(|(t, s)| (t * rows_per, s)).collect();
    schedule.run(
        jobs,
        |(first, rows)| {
            for band in bands {
                let (j0, j1) = (band.cols.start * nr, (band.cols.end * nr).min(m));
                let lo = (band.tiles.start * MR).max(first);
                let hi = (band.tiles.end * MR).min(k).min(first + rows.len() / m);
                for i in lo..hi {
                    let src = &band.out[(i - band.tiles.start * MR) * band.ld..];
                    rows[(i - first) * m + j0..(i - first) * m + j1].copy_from_slice(&src[..j1 - j0]);
                }
            }
            if symmetric {
                let count = rows.len() / m;
                for bi in (first..first + count).step_by(TILE) {
                    for bj in (bi..m).step_by(TILE) {
                        // Cells (i, j) with j > i of this tile, from (j, i).
                        let band = bands
                            .iter()
                            .find(|b| b.tiles.contains(&(bj / MR)))
                            .filter(|b| b.tiles.end * MR >= (bj + TILE).min(m));
                        for i in bi..(bi + TILE).min(first + count) {
                            for j in bj.max(i + 1)..(bj + TILE).min(m) {
                                rows[(i - first) * m + j] = match band {
                                    Some(b) => b.out[(j - b.tiles.start * MR) * b.ld + i],
                                    None => cell(j, i),
                                };
                            }
                        }
                    }
                }
            }
        },
        |_| false,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use daphne_ir::pipeline::{blocks, fold_tree};

    fn cells(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    /// The definition, cell by cell: per block a chain of fused multiply-adds from zero, the
    /// block sums folded along the canonical tree.
    fn reference<T: Float>(x: &[T], y: &[T], k: usize, m: usize, parts: &[Range<usize>]) -> Vec<T> {
        let mut c = vec![T::ZERO; k * m];
        for i in 0..k {
            for j in 0..m {
                let sums = parts
                    .iter()
                    .map(|p| p.clone().fold(T::ZERO, |s, r| T::fma(x[r * k + i], y[r * m + j], s)))
                    .collect();
                c[i * m + j] = fold_tree(sums, T::add).unwrap_or(T::ZERO);
            }
        }
        c
    }

    #[test]
    fn path_walks_the_canonical_tree() {
        for n in 1..40 {
            // Replaying the paths with a stack of levels must give fold_tree's shape.
            let mut levels: Vec<Option<String>> = vec![None; 8];
            let mut root = None;
            for b in 0..n {
                let (adds, dest) = path(b, n);
                let mut v = b.to_string();
                for l in adds {
                    v = format!("({}+{v})", levels[l].take().expect("a pending node"));
                }
                match dest {
                    Some(d) => levels[d] = Some(v),
                    None => root = Some(v),
                }
            }
            let tree = fold_tree((0..n).map(|b| b.to_string()).collect(), |a, b| format!("({a}+{b})"));
            assert_eq!(root, tree, "n = {n}");
        }
    }

    #[test]
    fn every_kernel_thread_count_and_layout_gives_the_definition() {
        for (case, &(n, k, m)) in [
            (1, 1, 1),
            (300, 7, 1),
            (600, 33, 9),
            (513, 30, 30),
            (2000, 20, 50),
            (700, 5, 60),
            (0, 4, 3),
            (260, 17, 17),
            (3000, 1, 400),
            (2600, 3, 200),
            (2100, 40, 3),
            (1500, 9, 700),
            // A column on either side, wide enough for threads (and a masked last register).
            (3000, 101, 1),
            (2600, 1, 203),
        ]
        .iter()
        .enumerate()
        {
            let x = cells(n * k, case as u64);
            let y = cells(n * m, 100 + case as u64);
            let parts = blocks(n);
            let want = reference(&x, &y, k, m, &parts);
            let xs = Side { cells: &x, ld: k, inner_major: true, outer: k };
            let ys = Side { cells: &y, ld: m, inner_major: true, outer: m };
            let mut kernels = vec![Kernels::<f64>::portable()];
            kernels.extend(Kernels::simd());
            for kernel in kernels {
                for threads in [1, 2, 3] {
                    assert_eq!(
                        product_with(xs, ys, &parts, threads, &Buffers::default(), kernel),
                        want,
                        "t(X) @ Y {n}x{k} {n}x{m}"
                    );
                    // A @ B with A = t(X) materialized.
                    let tx: Vec<f64> =
                        (0..k).flat_map(|i| (0..n).map(move |r| (i, r))).map(|(i, r)| x[r * k + i]).collect();
                    let ts = Side { cells: &tx, ld: n, inner_major: false, outer: k };
                    assert_eq!(
                        product_with(ts, ys, &parts, threads, &Buffers::default(), kernel),
                        want,
                        "t(X) materialized"
                    );
                }
                let gram = reference(&x, &x, k, k, &parts);
                assert_eq!(product_with(xs, xs, &parts, 2, &Buffers::default(), kernel), gram, "t(X) @ X {n}x{k}");
            }
        }
    }

    /// `f32` products (16 lanes, no shared packing for `t(X) @ X`) follow the same definition.
    #[test]
    fn f32_products_give_the_definition() {
        for &(n, k, m) in &[(600, 33, 40), (1100, 20, 20), (513, 50, 3), (300, 1, 70), (2000, 40, 30), (1500, 70, 70)] {
            let x: Vec<f32> = (0..n * k).map(|i| ((i * 7919 % 1013) as f32 / 1013.0) - 0.5).collect();
            let y: Vec<f32> = (0..n * m).map(|i| ((i * 104729 % 997) as f32 / 997.0) - 0.5).collect();
            let parts = blocks(n);
            let xs = Side { cells: &x, ld: k, inner_major: true, outer: k };
            let ys = Side { cells: &y, ld: m, inner_major: true, outer: m };
            let mut kernels = vec![Kernels::<f32>::portable()];
            kernels.extend(Kernels::simd());
            for kernel in kernels {
                for threads in [1, 2] {
                    assert_eq!(
                        product_with(xs, ys, &parts, threads, &Buffers::default(), kernel),
                        reference(&x, &y, k, m, &parts),
                        "t(X) @ Y {n}x{k} {n}x{m}"
                    );
                    assert_eq!(
                        product_with(xs, xs, &parts, threads, &Buffers::default(), kernel),
                        reference(&x, &x, k, k, &parts),
                        "t(X) @ X {n}x{k}"
                    );
                }
            }
        }
    }
}
