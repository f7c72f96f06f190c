#!/bin/bash
# Coverage counters only for the workspace's own crates: a crate built from
# the registry is compiled without -Cinstrument-coverage (smaller target,
# small profraw files), so the report is about airssys alone anyway.
rustc="$1"; shift
case "$*" in
  *"/.cargo/registry/"*|*"/.cargo/git/"*)
    args=()
    for a in "$@"; do
      case "$a" in -Cinstrument-coverage|-Cinstrument-coverage=*) continue ;; esac
      args+=("$a")
    done
    exec "$rustc" "${args[@]}" ;;
  *) exec "$rustc" "$@" ;;
esac
