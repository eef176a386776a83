//! Large buffers backed by transparent huge pages where the system offers them on request
//! (`/sys/kernel/mm/transparent_hugepage/enabled` = `madvise`, common on servers): the first
//! write to a fresh 80 MB output then takes 40 page faults instead of 20 000, which was most of
//! the time of a memory-bound pipeline such as `A = B + 3 * C`. NumPy does the same.
//!
//! This is the runtime's only unsafe code: one `madvise` call on memory the buffer owns.

/// Buffers smaller than this keep ordinary pages.
const HUGE: usize = 4 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// `vec![0; n]` (of a number type, whose default is all zero bits), asking for huge pages when
/// it is large (the zeroed pages of a fresh large allocation are not touched before the first
/// write, so the advice still applies).
pub fn zeroed<T: Copy + Default>(n: usize) -> Vec<T> {
    let v = vec![T::default(); n];
    advise(v.as_ptr() as usize, std::mem::size_of_val(v.as_slice()));
    v
}

#[allow(unsafe_code)]
fn advise(start: usize, bytes: usize) {
    if !cfg!(target_os = "linux") || bytes < HUGE {
        return;
    }
    let (lo, hi) = (start.next_multiple_of(HUGE_PAGE), (start + bytes) / HUGE_PAGE * HUGE_PAGE);
    if hi > lo {
        // SAFETY: `lo..hi` lies inside an allocation the caller owns (the vector's buffer of
        // `bytes` bytes from `start`), which is alive; MADV_HUGEPAGE only changes how the
        // kernel backs these pages, never their contents. A failure (no THP
        // support) leaves ordinary pages, so the result is ignored.
        #[cfg(target_os = "linux")]
        unsafe {
            libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
        }
    }
}
