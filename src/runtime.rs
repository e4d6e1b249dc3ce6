//! The process's runtime: the async runtime the binary runs on and the allocator's settings,
//! shared with the footprint benchmark so that what it measures is what the daemon runs.

/// Worker threads: the control loop runs on the main thread (`block_on`), its reconciles
/// concurrently inside it; the HTTP server, the file watcher and the lease need only a couple of
/// threads to stay responsive during a long pass. One worker per core, tokio's default, costs a
/// stack and a malloc arena apiece on a large node for nothing.
const WORKER_THREADS: usize = 2;

/// Blocks of this size and larger are mapped on their own and returned to the system when
/// freed (glibc's initial threshold, kept fixed).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// The runtime every command runs on. Call before any other thread starts.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tune_allocator();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
}

/// glibc's malloc raises its mmap threshold each time a mapped block is freed (up to 32 MiB);
/// from then on a pass's large transient buffers (the whole fleet's observations, a metrics
/// scrape) are carved from the heap, and the heap stays fragmented after they are freed: about
/// 2.5 MiB of 25 at rest with 1,000 runners (BENCHMARKS.md). A fixed threshold returns them.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator; it is thread-safe and may be
    // called at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
