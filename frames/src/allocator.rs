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
//! variables (`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_MAX_`,
//! `MALLOC_ARENA_MAX`, or malloc
//! settings in `GLIBC_TUNABLES`) set by the user win.
//!
//! [`retain_all_buffers`] goes further for the trainer: a full-size VGGSNN2 step allocates
//! activations and gradients of 30–200 MB, above the 32 MiB ceiling, so they were still mapped and
//! zeroed fresh every step (≈ 25 s of system time in a 105 s-CPU step). It turns mmap off for
//! malloc altogether, so those blocks come from the heap and are reused too: measured on the
//! full-size `asgl-train bench` (B=16, T=10, 2×48×48, 2 cores), system time 24.7 s → 9.4 s and
//! step 24.1 s → 21.9 s, for 3.59 GB peak RSS instead of 3.32 GB.
//!
//! It also keeps every thread on malloc's main arena (`M_ARENA_MAX = 1`). The trainer's loop runs
//! on a compute-pool worker, and a thread other than the process's first gets its own arena made
//! of separately mapped 64 MiB heaps, which glibc unmaps again as soon as one is empty, whatever
//! the trim threshold: the activations were still faulted in and zeroed by the kernel every step.
//! Measured on one epoch of the wide small-net fit (`vgg:64,64,P,64,64,P,64,64,P`, T = 16, 2
//! cores, `scripts/bench-train-small.sh`'s data): system time 17.3 s → 1.7 s, wall 36.5 s → 30.5 s.
//! Its threads allocate a few large blocks per op, so one arena's lock is not contended.

/// Keeps large freed blocks in the process heap instead of returning them to the kernel.
/// Call once at the start of `main`, before threads are spawned. Returns whether the setting was
/// applied (false on non-glibc targets or when the user set the glibc variables themselves).
pub fn retain_large_buffers() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if user_tuned_malloc() {
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

/// [`retain_large_buffers`], no block at all served by `mmap` (`M_MMAP_MAX = 0`), and one arena
/// for all threads (`M_ARENA_MAX = 1`): for a process whose working set is a few large tensors
/// reallocated every step (the trainer). The heap then keeps its peak size until exit. Returns
/// whether the settings were applied.
pub fn retain_all_buffers() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if !retain_large_buffers() {
            return false;
        }
        // SAFETY: as above, mallopt only changes malloc's tuning parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1 && libc::mallopt(libc::M_ARENA_MAX, 1) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Whether the user set any glibc malloc tuning in the environment (theirs wins).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn user_tuned_malloc() -> bool {
    let variables = [
        "MALLOC_MMAP_THRESHOLD_",
        "MALLOC_TRIM_THRESHOLD_",
        "MALLOC_MMAP_MAX_",
        "MALLOC_ARENA_MAX",
    ];
    variables.iter().any(|var| std::env::var_os(var).is_some())
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc."))
}
