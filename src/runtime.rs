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

/// malloc arenas: one. The loop allocates on one thread; the others (workers serving HTTP,
/// the file watcher, the blocking pool's re-read of the file) allocate little and rarely, and an
/// arena of their own keeps its peak for good: 2.6 MiB of the daemon's RSS at 1,000 runners.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 1;

/// The runtime every command runs on. Call before any other thread starts.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tune_allocator();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
}

/// One arena (see `ARENAS`), and a fixed mmap threshold: glibc's malloc raises its threshold
/// each time a mapped block is freed (up to 32 MiB); from then on large transient buffers (a
/// pass's observations, a metrics scrape) are carved from the heap, which stays fragmented after
/// they are freed: about 2.5 MiB of 25 at rest with 1,000 runners (BENCHMARKS.md). A fixed
/// threshold returns them to the system.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator; it is thread-safe and may be
    // called at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Hands the free memory inside the allocator's heap back to the system. A pass frees its
/// observations among long-lived allocations; the pages they leave free stay resident until
/// trimmed. The controller calls this once per sync interval, after a pass.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's heaps to the system; it is
    // thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
