//! Process-wide settings applied at start-up: for tensor work, by the batch commands that train
//! or run models (not by the GUI or playback) and by the model benches; for a closed output
//! pipe, by the commands that print a report.

/// candle allocates a fresh buffer for every op result, and most activations are larger than
/// glibc's default 128 KiB mmap threshold, so each op paid for an mmap, page faults on fresh
/// zeroed pages and an munmap. Serving them from the heap and keeping freed memory for reuse
/// makes a small-preset training step ~17 % faster (benches/model.rs). The heap is never trimmed:
/// a paper-preset step frees over a gigabyte at its end, and giving it back to the kernel only
/// to fault it in again cost the next step 12 % of its time. Not for media playback:
/// a 10-minute clip grew RSS by 59 MiB under these thresholds. Other allocators (musl,
/// mimalloc) are left alone; mimalloc measured slower than this here.
pub fn tune_allocator_for_tensors() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only changes glibc's allocation thresholds; it is called before any
    // thread of ours exists and takes no pointers.
    unsafe {
        // 32 MiB is the largest mmap threshold glibc accepts on 64-bit.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        // -1: never trim.
        libc::mallopt(libc::M_TRIM_THRESHOLD, -1);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

/// Rust ignores SIGPIPE, so a command printing into a pipe whose reader has gone
/// (`univa validate D | head -2`) panics with "failed printing to stdout: Broken pipe". The
/// commands that print a report restore the default action instead and end quietly there, as
/// Unix tools do. Not for the GUI, training or job submission: a trainer outlives its owner's
/// pipe long enough to stop at a checkpoint (`cli::train`).
pub fn end_quietly_on_closed_output() {
    #[cfg(unix)]
    #[allow(unsafe_code)]
    // SAFETY: `signal` only sets SIGPIPE's disposition back to the default; it is called at
    // start-up, before any thread of ours exists, and takes no pointers.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
