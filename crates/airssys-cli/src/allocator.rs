//! How the `airssys` process's allocator keeps and gives back memory.
//!
//! glibc's malloc gives each thread that allocates under contention an
//! arena of its own, up to eight per core, and memory freed into one arena
//! is reused only by the threads attached to it. A host whose components
//! crash and restart frees and reallocates their stores, actors and queues
//! on whichever tokio worker runs them, so freed memory piles up in arenas
//! the next allocation does not use: in the chaos run (1,000 components,
//! 100,000 messages, ~1,000 supervisor restarts) RSS ended 6.4 % above its
//! start with the default arenas and 3.6 % with one (`docs/reliability.md`).
//! Small allocations go through glibc's per-thread cache first, so one
//! arena costs little contention on the message path.

/// Arenas the host process uses unless `MALLOC_ARENA_MAX` says otherwise.
pub const HOST_MALLOC_ARENAS: i32 = 1;

/// Limits glibc to [`HOST_MALLOC_ARENAS`] malloc arenas, unless the
/// environment sets `MALLOC_ARENA_MAX` (glibc then applies that value
/// itself). Call it first thing in `main`, before any thread is started:
/// threads attached to an arena earlier keep it. Returns whether the limit
/// was applied. Does nothing (and returns `false`) on other C libraries and
/// systems.
pub fn limit_malloc_arenas() -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return false;
    }
    set_arena_max(HOST_MALLOC_ARENAS)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_arena_max(arenas: i32) -> bool {
    // SAFETY: mallopt only sets a malloc tunable; M_ARENA_MAX takes any
    // positive count and affects arenas created afterwards. It has no
    // memory-safety preconditions and is thread-safe in glibc.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_arenas: i32) -> bool {
    false
}
