//! Shared helpers for the tests that start a real `airssys run`.

use std::io::{BufRead, BufReader};
use std::process::Child;

/// Reads `child`'s stderr until a line starting with `announcement` (e.g.
/// `"serving the control API on http://"`) and returns the rest of that
/// line; stderr is drained from then on so the child never writes into a
/// closed pipe.
pub fn announced(child: &mut Child, announcement: &str) -> String {
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
    let mut line = String::new();
    let rest = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "never announced: {announcement}"
        );
        if let Some(rest) = line.trim().strip_prefix(announcement) {
            break rest.to_owned();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    rest
}
