#!/usr/bin/env bash
# Builds the sensors example's guests from source into examples/sensors/build/:
#   aggregator.wasm, converter.wasm   Rust, with sdk/rust/airssys-guest
#   limits.wasm                       C, with sdk/c/airssys.h
# and runs the Rust SDK's unit tests natively.
#
# Toolchains (Debian: apt-get install rustc libstd-rust-dev-wasm32 clang lld):
#   AIRSSYS_GUEST_RUSTC  a rustc (>= 1.63) with the wasm32-unknown-unknown
#                        target; default /usr/bin/rustc (Debian's)
#   AIRSSYS_GUEST_CC     a clang with the WebAssembly backend and wasm-ld;
#                        default clang
# A missing toolchain stops the script with exit code 2 and says which.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/build"
rustc="${AIRSSYS_GUEST_RUSTC:-/usr/bin/rustc}"
cc="${AIRSSYS_GUEST_CC:-clang}"

missing() {
  echo "build.sh: missing toolchain: $1" >&2
  exit 2
}

command -v "$rustc" >/dev/null 2>&1 ||
  missing "$rustc not found (apt-get install rustc libstd-rust-dev-wasm32, or set AIRSSYS_GUEST_RUSTC)"
[ -d "$("$rustc" --print sysroot)/lib/rustlib/wasm32-unknown-unknown" ] ||
  missing "$rustc has no wasm32-unknown-unknown standard library (apt-get install libstd-rust-dev-wasm32)"
command -v "$cc" >/dev/null 2>&1 || missing "$cc not found (apt-get install clang lld)"
"$cc" --print-targets 2>/dev/null | grep -q wasm32 ||
  missing "$cc has no WebAssembly backend"
command -v wasm-ld >/dev/null 2>&1 || missing "wasm-ld not found (apt-get install lld)"

mkdir -p "$out"
set -x

# The Rust SDK: its unit tests, natively, then the library for wasm32.
sdk="$root/sdk/rust/airssys-guest/src/lib.rs"
"$rustc" --edition 2021 --test --crate-name airssys_guest "$sdk" -o "$out/airssys-guest-tests"
"$out/airssys-guest-tests" --quiet
"$rustc" --edition 2021 --crate-type rlib --crate-name airssys_guest \
  --target wasm32-unknown-unknown -C opt-level=s -D warnings \
  "$sdk" -o "$out/libairssys_guest.rlib"

# The Rust guests: one cdylib each, exports from export_component!.
for guest in aggregator converter; do
  "$rustc" --edition 2021 --crate-type cdylib --crate-name "$guest" \
    --target wasm32-unknown-unknown -C opt-level=s -C lto -C strip=symbols -D warnings \
    --extern airssys_guest="$out/libairssys_guest.rlib" -L "$out" \
    "$here/$guest.rs" -o "$out/$guest.wasm"
done

# The C guest: freestanding (no libc, no WASI imports), exports by attribute.
"$cc" --target=wasm32-unknown-unknown -std=c11 -O2 -Wall -Wextra -Werror \
  -nostdlib -I "$root/sdk/c" -Wl,--no-entry -Wl,--strip-all \
  "$here/limits.c" -o "$out/limits.wasm"

set +x
echo "built: $(cd "$out" && ls ./*.wasm | tr '\n' ' ')"
