#!/usr/bin/env bash
# Builds every Lambda under functions/ for Lambda's arm64 (Graviton) runtime with cargo-lambda,
# checks that each bootstrap is an aarch64 ELF executable, and zips it.
#
#   bootstraps: target/lambda/<bin>/bootstrap        (cargo-lambda's layout, what `sam build` makes too)
#   zips:       target/lambda/<arch>/<bin>.zip        (one folder per architecture)
#
# usage: package.sh            (arm64, the template's architecture)
#        PACKAGE_ARCH=x86_64 package.sh   (fallback only: the template must then say x86_64 too)
# Needs cargo-lambda and zig (infra/requirements-package.txt, installed by `make package`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH=$root/.venv/bin:$PATH # cargo-lambda and the zig linker it drives

arch=${PACKAGE_ARCH:-arm64}
case $arch in
  arm64) target=aarch64-unknown-linux-gnu flag=--arm64 machine=183 ;;   # EM_AARCH64 0xB7
  x86_64) target=x86_64-unknown-linux-gnu flag=--x86-64 machine=62 ;;   # EM_X86_64 0x3E
  *) echo "PACKAGE_ARCH must be arm64 or x86_64, not $arch" >&2; exit 2 ;;
esac

command -v cargo-lambda >/dev/null || { echo "cargo-lambda missing: make package installs it" >&2; exit 1; }
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi

# Every package under functions/ and its binaries ([[bin]] names, else the package name).
mapfile -t rows < <(python3 - <<'EOF'
import glob, tomllib
for path in sorted(glob.glob("functions/*/Cargo.toml")):
    with open(path, "rb") as f:
        manifest = tomllib.load(f)
    package = manifest["package"]["name"]
    bins = [b["name"] for b in manifest.get("bin", [])] or [package]
    print(package, *bins)
EOF
)
[ ${#rows[@]} -gt 0 ] || { echo "no packages under functions/" >&2; exit 1; }
packages=() bins=()
for row in "${rows[@]}"; do
  read -r package rest <<<"$row"
  packages+=(-p "$package")
  for b in $rest; do bins+=("$b"); done
done

echo "building ${#bins[@]} functions for $arch ($target): ${bins[*]}"
start=$(date +%s)
cargo lambda build --release "$flag" --locked "${packages[@]}"
elapsed=$(($(date +%s) - start))

out=target/lambda/$arch
mkdir -p "$out"
python3 - "$machine" "$out" "${bins[@]}" <<'EOF'
import os, struct, sys, zipfile

machine, out, bins = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
failed, total = False, 0
print(f"{'function':<22} {'bootstrap':>11} {'zipped':>11}")
for name in bins:
    path = f"target/lambda/{name}/bootstrap"
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError as e:
        print(f"{name}: no bootstrap ({e})", file=sys.stderr)
        failed = True
        continue
    # ELF magic, 64-bit, little-endian, e_type ET_EXEC/ET_DYN, e_machine at offset 18.
    e_type, e_machine = struct.unpack_from("<HH", header, 16) if len(header) == 20 else (0, 0)
    if header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1 or e_type not in (2, 3) or e_machine != machine:
        print(f"{name}: {path} is not a 64-bit little-endian ELF executable for machine {machine:#x} "
              f"(e_machine {e_machine:#x})", file=sys.stderr)
        failed = True
        continue
    if not os.access(path, os.X_OK):
        print(f"{name}: {path} is not executable", file=sys.stderr)
        failed = True
        continue
    archive = f"{out}/{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16  # keep the executable bit
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(path, "rb") as f:
            z.writestr(info, f.read())
    size = os.path.getsize(archive)
    total += size
    print(f"{name:<22} {os.path.getsize(path) / 1048576:>8.2f} MiB {size / 1048576:>7.2f} MiB  {archive}")
print(f"{'total zipped':<22} {'':>11} {total / 1048576:>7.2f} MiB")
sys.exit(1 if failed else 0)
EOF
echo "build time: ${elapsed}s (cargo lambda build --release $flag)"
