#!/usr/bin/env bash
# Line coverage of one airssys crate by its own tests (docs/testing.md,
# "Line coverage of airssys itself").
#
#   tools/coverage.sh airssys-cli [TARGET_DIR]
#
# Needs cargo-tarpaulin (`cargo install cargo-tarpaulin --locked`), no
# rustup component. Only the workspace's crates are instrumented
# (tools/coverage-rustc-wrapper.sh): the registry's are built plainly,
# which keeps the target directory and the profile files small enough for
# a CLI run that starts hundreds of `airssys` processes. Prints the
# crate's covered lines and its files with the most lines missed.
set -euo pipefail
crate="${1:?usage: tools/coverage.sh CRATE [TARGET_DIR]}"
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${2:-$root/target/cov}"
out="$target/report/$crate"
cd "$root"
mkdir -p "$out"
RUSTC_WRAPPER="$root/tools/coverage-rustc-wrapper.sh" RUST_LOG=off \
  cargo tarpaulin --engine llvm -p "$crate" --lib --tests \
  --target-dir "$target" --skip-clean --timeout 1200 \
  --out Json --output-dir "$out" \
  --exclude-files 'crates/*/tests/*' --exclude-files 'crates/*/benches/*' \
  --exclude-files 'crates/*/examples/*' > "$out.log" 2>&1 || {
  echo "tarpaulin failed; see $out.log" >&2
  exit 1
}
python3 - "$out/tarpaulin-report.json" "$crate" <<'PY'
import json, sys
report, crate = sys.argv[1], sys.argv[2]
files = [f for f in json.load(open(report))["files"]
         if f"crates/{crate}/src/" in "/".join(f["path"])]
covered = sum(f["covered"] for f in files)
coverable = sum(f["coverable"] for f in files)
print(f"{crate}: {covered} of {coverable} lines, {100 * covered / max(coverable, 1):.1f} %")
for f in sorted(files, key=lambda f: f["covered"] - f["coverable"])[:10]:
    path = "/".join(f["path"]).split(f"crates/{crate}/")[1]
    print(f"  {f['coverable'] - f['covered']:5} missed  {f['covered']}/{f['coverable']}  {path}")
PY
