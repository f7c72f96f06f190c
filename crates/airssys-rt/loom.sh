#!/usr/bin/env bash
# Model-checks the mailbox's wake-up protocol with loom
# (src/mailbox/loom_model.rs). Builds airssys-rt alone, with the crate's own
# `airssys_loom` cfg (not `loom`, which would switch tokio to its internal
# loom build), in a target dir of its own so the normal build is not
# invalidated. Extra arguments go to the test binary (e.g. a test name).
# At most 3 preemptions per interleaving by default: the nine models take
# 50-85 s together on a busy 2-core machine (2: about 3 s; 4: minutes).
#
#   crates/airssys-rt/loom.sh
#   LOOM_MAX_PREEMPTIONS=2 crates/airssys-rt/loom.sh two_senders
set -euo pipefail
cd "$(dirname "$0")"
export RUSTFLAGS="${RUSTFLAGS:-} --cfg airssys_loom"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-${CARGO_TARGET_DIR:-../../target}/loom}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
exec cargo test -p airssys-rt --release --lib mailbox::loom_model -- "$@"
