#!/usr/bin/env bash
# Save base images for offline builds: base-images/<name>_<tag>.tar.gz plus a .sha256.
# Run once where a registry (or a mirror in BASE_IMAGE_MIRRORS) is reachable.
set -euo pipefail

usage() {
  cat <<'TXT'
Usage: ./save-base-image.sh IMAGE [IMAGE...]
       ./save-base-image.sh --help

For each IMAGE: use it if present locally, otherwise pull it (through BASE_IMAGE_MIRRORS in
order when set, as build.sh does), then write base-images/<name>_<tag>.tar.gz and its
.sha256. An image already saved with a valid checksum is skipped.

Environment: BASE_IMAGE_MIRRORS, MIRROR_TIMEOUT, BASE_IMAGES_DIR (see ./build.sh --help).
TXT
}
case ${1:-} in
  -h | --help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/image-lib.sh
source scripts/image-lib.sh
mkdir -p "$BASE_IMAGES_DIR"

for ref in "$@"; do
  out="$BASE_IMAGES_DIR/$(tar_basename "$ref").tar.gz"
  if [[ -f $out && -f $out.sha256 ]] && (cd "$BASE_IMAGES_DIR" && sha256sum --status -c "$(basename "$out").sha256"); then
    log "$ref is already saved in $out (checksum valid): skipped"
    continue
  fi
  BASE_IMAGE_ID=""
  if image_present "$ref"; then
    BASE_IMAGE_ID=$(image_id "$ref")
  else
    pull_from_mirrors "$ref" || die 3 "cannot pull $ref from any mirror" "check BASE_IMAGE_MIRRORS and the network"
  fi
  # A digest-pinned image is saved by its image ID (it has no tag to save it under).
  what=$ref
  [[ $ref == *@* ]] && what=$BASE_IMAGE_ID
  log "saving $ref to $out"
  trap 'rm -f "$out.tmp"' EXIT
  docker save "$what" | gzip -6 >"$out.tmp"
  mv "$out.tmp" "$out"
  (cd "$BASE_IMAGES_DIR" && sha256sum "$(basename "$out")" >"$(basename "$out").sha256")
  log "saved $out ($(du -h "$out" | cut -f1)), sha256 $(cut -d' ' -f1 "$out.sha256")"
done
