#!/usr/bin/env bash
# Save @yao-pkg/pkg's Node base binary (linuxstatic, x64) into base-images/pkg-cache/ with
# its checksum, once, on a machine that reaches the internet (GitHub). Offline builds then
# package with pkg instead of the single-executable fallback (see scripts/package.mjs).
set -euo pipefail

usage() {
  cat <<'TXT'
Usage: ./save-pkg-base.sh [--help]

Fetches pkg's base binary for the project's Node major (linuxstatic, x64) into
base-images/pkg-cache/ (or $PKG_CACHE_PATH) and writes a .sha256 beside it.
Run it where GitHub is reachable; copy base-images/ to the offline build machine.
TXT
}
[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
(($# == 0)) || { usage >&2; exit 2; }

cd "$(dirname "${BASH_SOURCE[0]}")"
[[ -d node_modules/@yao-pkg/pkg-fetch ]] || npm ci --no-audit --no-fund
export PKG_CACHE_PATH=${PKG_CACHE_PATH:-$PWD/base-images/pkg-cache}
major=$(tr -d 'v \n' < .nvmrc | cut -d. -f1)
mkdir -p "$PKG_CACHE_PATH"
npx --no-install pkg-fetch -n "node${major}" -p linuxstatic -a x64
find "$PKG_CACHE_PATH" -type f -name "fetched-v${major}.*-linuxstatic-x64" | while read -r f; do
  (cd "$(dirname "$f")" && sha256sum "$(basename "$f")" > "$(basename "$f").sha256")
  echo "saved $f"
done
