#!/usr/bin/env bash
# Builds the sensors example's guests from source into examples/sensors/build/:
#   aggregator.wasm, converter.wasm   Rust core modules, with sdk/rust/airssys-guest
#   limits.wasm                       a C core module, with sdk/c/airssys.h
#   recorder.component.wasm           a C component of wit/airssys-component.wit
#                                     (wit-bindgen's C bindings, wasi-libc)
#   wasi_probe.component.wasm         the same kind, for crates/airssys-cli/tests/wasi.rs
#   down_watcher.component.wasm       the same kind, monitoring through the world's
#                                     `monitor` import, for crates/airssys-cli/tests/guests.rs
# runs the Rust SDK's unit tests natively, and creates examples/sensors/data/
# (the recorder's WASI directory).
#
# Toolchains (Debian: apt-get install rustc libstd-rust-dev-wasm32 clang lld
# wasi-libc libclang-rt-14-dev-wasm32):
#   AIRSSYS_GUEST_RUSTC  a rustc (>= 1.63) with the wasm32-unknown-unknown
#                        target; default /usr/bin/rustc (Debian's)
#   AIRSSYS_GUEST_CC     a clang with the WebAssembly backend and wasm-ld, and
#                        for wasm32-wasi, wasi-libc and compiler-rt's wasm32
#                        builtins; default clang
#   AIRSSYS_WIT_BINDGEN  a wit-bindgen CLI; default: wit-bindgen-cli 0.57.1,
#                        installed with `cargo install` into
#                        ${XDG_CACHE_HOME:-$HOME/.cache}/airssys/wit-bindgen
#                        when not there yet (about 6 minutes, once)
#   AIRSSYS_BIN          the airssys CLI, for `componentize --wasi`; default:
#                        the workspace's, built with `cargo build -p airssys-cli`
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
printf '#include <stdio.h>\nint probe(void) { return puts("x"); }\n' |
  "$cc" --target=wasm32-wasi -mexec-model=reactor -x c - -o /dev/null 2>/dev/null ||
  missing "$cc cannot link for wasm32-wasi (apt-get install wasi-libc libclang-rt-14-dev-wasm32)"

# wit-bindgen's C generator: the given one, or the pinned version from
# crates.io, installed once into a cache outside the repository.
wit_bindgen_version=0.57.1
if [ -n "${AIRSSYS_WIT_BINDGEN:-}" ]; then
  wit_bindgen="$AIRSSYS_WIT_BINDGEN"
else
  wit_bindgen_root="${XDG_CACHE_HOME:-$HOME/.cache}/airssys/wit-bindgen"
  wit_bindgen="$wit_bindgen_root/bin/wit-bindgen"
  if [ "$("$wit_bindgen" --version 2>/dev/null)" != "wit-bindgen-cli $wit_bindgen_version" ]; then
    command -v cargo >/dev/null 2>&1 ||
      missing "cargo not found, to install wit-bindgen-cli $wit_bindgen_version (or set AIRSSYS_WIT_BINDGEN)"
    echo "build.sh: installing wit-bindgen-cli $wit_bindgen_version into $wit_bindgen_root" >&2
    scratch="$(mktemp -d)"
    cargo install --locked --quiet wit-bindgen-cli --version "$wit_bindgen_version" \
      --root "$wit_bindgen_root" --target-dir "$scratch" ||
      { rm -rf "$scratch"; missing "cargo install wit-bindgen-cli $wit_bindgen_version failed (or set AIRSSYS_WIT_BINDGEN)"; }
    rm -rf "$scratch"
  fi
fi
"$wit_bindgen" --version >/dev/null 2>&1 || missing "$wit_bindgen does not run (set AIRSSYS_WIT_BINDGEN)"

# The airssys CLI, for `componentize`: the given one, or the workspace's.
if [ -n "${AIRSSYS_BIN:-}" ]; then
  airssys="$AIRSSYS_BIN"
else
  (cd "$root" && cargo build --quiet -p airssys-cli)
  airssys="${CARGO_TARGET_DIR:-$root/target}/debug/airssys"
fi
[ -x "$airssys" ] || missing "$airssys is not an executable (set AIRSSYS_BIN)"

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

# The C components: bindings for the world, regenerated from wit/ on every
# build; each guest is a wasi-libc reactor (no main), linked with the
# bindings and their component-type object, then adapted from WASI
# preview 1 to preview 2 and wrapped as a component by `componentize --wasi`.
"$wit_bindgen" c "$root/wit" --world component --out-dir "$out/wit-c"
for guest in "$here/recorder.c" "$root/crates/airssys-cli/tests/guests/wasi_probe.c" \
  "$root/crates/airssys-cli/tests/guests/down_watcher.c"; do
  name="$(basename "$guest" .c)"
  "$cc" --target=wasm32-wasi -mexec-model=reactor -std=c11 -O2 -Wall -Wextra -Werror \
    -I "$out/wit-c" -Wl,--strip-all \
    "$guest" "$out/wit-c/component.c" "$out/wit-c/component_component_type.o" \
    -o "$out/$name.wasm"
  "$airssys" componentize --wasi "$out/$name.wasm" -o "$out/$name.component.wasm"
done

# The recorder's WASI directory (airssys.toml grants it read-write).
mkdir -p "$here/data"

set +x
echo "built: $(cd "$out" && ls ./*.wasm | tr '\n' ' ')"
