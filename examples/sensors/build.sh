#!/usr/bin/env bash
# Builds the sensors example's guests from source into examples/sensors/build/:
#   aggregator.wasm, converter.wasm   Rust core modules, with sdk/rust/airssys-guest
#   limits.wasm                       a C core module, with sdk/c/airssys.h
#   template_kv.wasm,                 the guests of docs/guests.md's "from an
#   template_counter.wasm             empty directory" (sdk/rust/template,
#                                     sdk/c/template/counter.c)
#   recorder.component.wasm           a C component of wit/airssys-component.wit
#                                     (wit-bindgen's C bindings, wasi-libc)
#   wasi_probe.component.wasm         the same kind, for crates/airssys-cli/tests/wasi.rs
#   down_watcher.component.wasm       the same kind, monitoring through the world's
#                                     `monitor` import, for crates/airssys-cli/tests/guests.rs
#   advisor.component.wasm            a Python component (componentize-py)
#   notifier.component.wasm           a JavaScript component (componentize-js)
# runs the Rust, Python and JavaScript SDKs' unit tests natively, fills the
# compilation cache for the example (`airssys precompile`), and creates
# examples/sensors/data/ (the recorder's WASI directory).
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
#   AIRSSYS_COMPONENTIZE_PY  a componentize-py; default: componentize-py 0.25.1
#                        (toolchain/requirements.txt), installed with pip into
#                        a virtual environment in
#                        ${XDG_CACHE_HOME:-$HOME/.cache}/airssys/componentize-py-0.25.1
#                        when not there yet (needs python3 >= 3.10 with venv)
#   AIRSSYS_COMPONENTIZE_JS  a componentize-js; default: componentize-js 0.23.0
#                        and its dependencies exactly as toolchain/package-lock.json
#                        pins them, installed with `npm ci` into
#                        ${XDG_CACHE_HOME:-$HOME/.cache}/airssys/componentize-js-<lock hash>
#                        when not there yet (needs node >= 18 and npm)
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

# componentize-py, pinned, in a virtual environment outside the repository.
cache="${XDG_CACHE_HOME:-$HOME/.cache}/airssys"
componentize_py_version=0.25.1
if [ -n "${AIRSSYS_COMPONENTIZE_PY:-}" ]; then
  componentize_py="$AIRSSYS_COMPONENTIZE_PY"
else
  py_env="$cache/componentize-py-$componentize_py_version"
  componentize_py="$py_env/bin/componentize-py"
  if [ "$("$py_env/bin/pip" show componentize-py 2>/dev/null | sed -n 's/^Version: //p')" != "$componentize_py_version" ]; then
    command -v python3 >/dev/null 2>&1 || missing "python3 not found, for componentize-py (apt-get install python3 python3-venv)"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
      missing "python3 is older than 3.10, which componentize-py needs"
    echo "build.sh: installing componentize-py $componentize_py_version into $py_env" >&2
    rm -rf "$py_env"
    python3 -m venv "$py_env" ||
      missing "python3 -m venv failed (apt-get install python3-venv, or set AIRSSYS_COMPONENTIZE_PY)"
    "$py_env/bin/pip" install --quiet --disable-pip-version-check -r "$here/toolchain/requirements.txt" ||
      { rm -rf "$py_env"; missing "pip install componentize-py $componentize_py_version failed (or set AIRSSYS_COMPONENTIZE_PY)"; }
  fi
fi
"$componentize_py" --version >/dev/null 2>&1 || missing "$componentize_py does not run (set AIRSSYS_COMPONENTIZE_PY)"

# componentize-js and every package under it, as the lock file pins them.
if [ -n "${AIRSSYS_COMPONENTIZE_JS:-}" ]; then
  componentize_js="$AIRSSYS_COMPONENTIZE_JS"
else
  command -v node >/dev/null 2>&1 || missing "node not found, for componentize-js (apt-get install nodejs npm)"
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
    missing "node $(node --version) is older than 18, which componentize-js needs"
  lock_hash="$(sha256sum "$here/toolchain/package-lock.json" | cut -c1-12)"
  js_env="$cache/componentize-js-$lock_hash"
  componentize_js="$js_env/node_modules/.bin/componentize-js"
  if [ ! -x "$componentize_js" ]; then
    command -v npm >/dev/null 2>&1 || missing "npm not found, for componentize-js (apt-get install npm)"
    echo "build.sh: installing componentize-js (toolchain/package-lock.json) into $js_env" >&2
    rm -rf "$js_env" && mkdir -p "$js_env"
    cp "$here/toolchain/package.json" "$here/toolchain/package-lock.json" "$js_env/"
    (cd "$js_env" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
      { rm -rf "$js_env"; missing "npm ci of componentize-js failed (or set AIRSSYS_COMPONENTIZE_JS)"; }
  fi
fi
"$componentize_js" --version >/dev/null 2>&1 || missing "$componentize_js does not run (set AIRSSYS_COMPONENTIZE_JS)"

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

# The guests docs/guests.md starts from an empty directory with, built here
# so that they keep compiling: sdk/rust/template (cargo builds it outside
# this script) and sdk/c/template/counter.c.
"$rustc" --edition 2021 --crate-type cdylib --crate-name kv \
  --target wasm32-unknown-unknown -C opt-level=s -C lto -C strip=symbols -D warnings \
  --extern airssys_guest="$out/libairssys_guest.rlib" -L "$out" \
  "$root/sdk/rust/template/src/lib.rs" -o "$out/template_kv.wasm"
"$cc" --target=wasm32-unknown-unknown -std=c11 -O2 -Wall -Wextra -Werror \
  -nostdlib -I "$root/sdk/c" -Wl,--no-entry -Wl,--strip-all \
  "$root/sdk/c/template/counter.c" -o "$out/template_counter.wasm"

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

# The Python and JavaScript payload helpers: their unit tests, natively.
(cd "$root/sdk/python" && python3 -m unittest --quiet test_airssys_payload)
node --test "$root/sdk/js/airssys-payload.test.mjs" >/dev/null

# The Python and JavaScript components take 5-10 s each to build: they are
# built again only when a source, the WIT or the toolchain changed (a stamp
# of their hashes beside the output).
up_to_date() { # <output> <stamp text>
  [ -f "$1" ] && [ -f "$1.stamp" ] && [ "$(cat "$1.stamp")" = "$2" ]
}
stamp_of() { # <toolchain> <files...>
  printf '%s\n' "$1"; shift
  sha256sum "$@" "$root"/wit/*.wit | cut -c1-64
}

# The Python component: the app module and the SDK's helper on the path.
py_stamp="$(stamp_of "componentize-py $("$componentize_py" --version)" "$here/advisor.py" "$root/sdk/python/airssys_payload.py")"
if ! up_to_date "$out/advisor.component.wasm" "$py_stamp"; then
  "$componentize_py" -d "$root/wit" -w component componentize advisor \
    -p "$here" -p "$root/sdk/python" -o "$out/advisor.component.wasm" >/dev/null
  printf '%s' "$py_stamp" > "$out/advisor.component.wasm.stamp"
fi
# The JavaScript component: componentize-js resolves its relative import of
# the SDK's helper inside the directory it runs in (the repository root). It
# uses no WASI HTTP (the host offers none).
js_stamp="$(stamp_of "componentize-js $("$componentize_js" --version)" "$here/notifier.js" "$root/sdk/js/airssys-payload.js")"
if ! up_to_date "$out/notifier.component.wasm" "$js_stamp"; then
  (cd "$root" && "$componentize_js" examples/sensors/notifier.js --wit wit --world-name component \
    --disable http fetch-event -o "$out/notifier.component.wasm" >/dev/null)
  printf '%s' "$js_stamp" > "$out/notifier.component.wasm.stamp"
fi

# The recorder's WASI directory (airssys.toml grants it read-write).
mkdir -p "$here/data"

# Compile every guest of the manifest into the compilation cache now, so
# the first `airssys run` starts at once (the Python and JavaScript
# components take 10-20 s each to compile).
"$airssys" precompile "$here/airssys.toml"

set +x
echo "built: $(cd "$out" && ls ./*.wasm | tr '\n' ' ')"
