//! How the `airssys` process treats a closed output pipe.
//!
//! Rust programs start with `SIGPIPE` ignored, so a write to a pipe whose
//! reader has gone (`airssys inspect x | head -1`) returns `BrokenPipe`, and
//! `println!` turns that into a panic (exit 101, "failed printing to
//! stdout"). A command-line tool should instead end quietly, as `cat` does:
//! [`restore_default_sigpipe`] gives `SIGPIPE` back its default action,
//! which ends the process at that write. Sockets are unaffected: the
//! standard library sends with `MSG_NOSIGNAL`, so a peer that closes a
//! connection is still an `io::Error`.

/// Restores the default action of `SIGPIPE` (end the process). Call it
/// first thing in `main`. Returns whether it was restored; does nothing
/// (and returns `false`) outside Unix.
pub fn restore_default_sigpipe() -> bool {
    restore()
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn restore() -> bool {
    // SAFETY: signal(2) with SIG_DFL installs no handler of ours; it only
    // resets the disposition the Rust runtime set (SIG_IGN). It has no
    // memory-safety preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) != libc::SIG_ERR }
}

#[cfg(not(unix))]
fn restore() -> bool {
    false
}
