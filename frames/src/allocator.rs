//! Process-wide allocator tuning shared by the binaries (`dvs-ingest`, `asgl-train`,
//! `asgl-eval`, `frames-bench`).
//!
//! The loader hands out multi-megabyte `f32` batches (32 × 10 × 2 × 48 × 48 × 4 B = 5.9 MB) and
//! candle allocates activations of similar size every step. glibc serves such blocks with a fresh
//! `mmap` and returns them with `munmap` on free, so every batch pays one page fault (and one
//! kernel page zeroing) per 4 KiB: measured with `frames-bench --samples 20000 --workers 2` on
//! 2 cores, that was more than half of the loader's CPU time (≈ 16 800 → ≈ 24 700 samples/s once
//! large blocks are kept in the heap) and ≈ 18 % of a small VGGSNN2 training step.
//!
//! [`retain_large_buffers`] raises glibc's mmap threshold to its maximum (32 MiB on 64-bit) and
//! stops the heap from being trimmed back to the kernel, so freed batches are reused in place.
//! It only changes tuning parameters; on other C libraries it does nothing. Environment
//! variables (`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`) set by the user win.

/// Keeps large freed blocks in the process heap instead of returning them to the kernel.
/// Call once at the start of `main`, before threads are spawned. Returns whether the setting was
/// applied (false on non-glibc targets or when the user set the glibc variables themselves).
pub fn retain_large_buffers() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let user_tuned = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
            .iter()
            .any(|var| std::env::var_os(var).is_some());
        if user_tuned {
            return false;
        }
        // glibc's documented upper bound for M_MMAP_THRESHOLD on 64-bit targets; larger values
        // are rejected (mallopt returns 0).
        const MMAP_THRESHOLD_MAX: libc::c_int = 32 << 20;
        const TRIM_THRESHOLD: libc::c_int = 1 << 30;
        // SAFETY: mallopt only updates malloc's tuning parameters (under its own lock); it does
        // not touch any allocation.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
