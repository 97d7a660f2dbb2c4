# shellcheck shell=bash
# Shared by build.sh and save-base-image.sh: logging, image-name helpers, and the ways
# of getting a base image (local, registry mirrors, saved tar). Source it; do not run it.

BASE_IMAGES_DIR=${BASE_IMAGES_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/base-images}
MIRROR_TIMEOUT=${MIRROR_TIMEOUT:-60}
DRY_RUN=${DRY_RUN:-false}

log() { printf '%s %s\n' "[$(date -u +%H:%M:%S)]" "$*" >&2; }
die() {
  # die CODE MESSAGE HINT
  local code=$1 msg=$2 hint=${3:-}
  printf 'error: %s\n' "$msg" >&2
  [[ -n $hint ]] && printf 'hint: %s\n' "$hint" >&2
  exit "$code"
}

# run CMD...: execute, or only show it under --dry-run. Never pass a secret as an argument.
run() {
  if [[ $DRY_RUN == true ]]; then
    printf 'dry-run: %s\n' "$*" >&2
  else
    "$@"
  fi
}

# Mirror lists are space or comma separated.
split_list() { tr ',' ' ' <<<"${1:-}" | xargs -n1 2>/dev/null || true; }

# image_parts REF -> prints "REGISTRY REPOSITORY TAG DIGEST" (registry empty for Docker Hub shown as -,
# tag latest when neither tag nor digest is given, digest - when none).
image_parts() {
  local ref=$1 registry="" rest tag="" digest=-
  rest=${ref%@*}
  [[ $ref == *@* ]] && digest=${ref#*@}
  local first=${rest%%/*}
  if [[ $rest == */* && ($first == *.* || $first == *:* || $first == localhost) ]]; then
    registry=$first
    rest=${rest#*/}
  fi
  if [[ ${rest##*/} == *:* ]]; then
    tag=${rest##*:}
    rest=${rest%:*}
  elif [[ $digest == - ]]; then
    tag=latest
  fi
  [[ -z $registry && $rest != */* ]] && rest="library/$rest"
  printf '%s %s %s %s\n' "${registry:--}" "$rest" "${tag:--}" "$digest"
}

# tar_basename REF -> the file name (without extension) under base-images/: <name>_<tag>, with
# @sha256-<hex> added for a digest-pinned reference.
tar_basename() {
  local _reg repo tag digest
  read -r _reg repo tag digest < <(image_parts "$1")
  repo=${repo#library/}
  local out=${repo//\//_}
  [[ $tag != - ]] && out+="_$tag"
  [[ $digest != - ]] && out+="@${digest/:/-}"
  printf '%s\n' "$out"
}

# path_in_mirror REF -> repository[:tag] or repository@digest: a pinned digest is always what is pulled.
path_in_mirror() {
  local _reg repo tag digest
  read -r _reg repo tag digest < <(image_parts "$1")
  if [[ $digest != - ]]; then printf '%s@%s\n' "$repo" "$digest"; else printf '%s:%s\n' "$repo" "$tag"; fi
}

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

# pull_from_mirrors REF: try each registry of BASE_IMAGE_MIRRORS in order (each under
# MIRROR_TIMEOUT seconds); the pulled image is re-tagged to REF (a digest-pinned REF cannot be
# tagged: BASE_IMAGE_ID names it). With no mirrors set, REF is pulled from where it names.
pull_from_mirrors() {
  local ref=$1 path mirror candidate
  path=$(path_in_mirror "$ref")
  local mirrors
  mirrors=$(split_list "${BASE_IMAGE_MIRRORS:-}")
  if [[ -z $mirrors ]]; then
    log "no BASE_IMAGE_MIRRORS: pulling $ref directly"
    timeout "$MIRROR_TIMEOUT" docker pull -q "$ref" >/dev/null 2>&1 && { BASE_IMAGE_ID=$(image_id "$ref"); return 0; }
    log "pulling $ref failed"
    return 1
  fi
  for mirror in $mirrors; do
    candidate="${mirror%/}/$path"
    log "trying mirror $mirror ($candidate)"
    if timeout "$MIRROR_TIMEOUT" docker pull -q "$candidate" >/dev/null 2>&1; then
      [[ $ref == *@* ]] || docker tag "$candidate" "$ref"
      BASE_IMAGE_ID=$(image_id "$candidate")
      log "pulled $ref from mirror $mirror"
      return 0
    fi
    log "mirror $mirror: not reachable, or it does not have $path"
  done
  return 1
}

image_id() { docker image inspect --format '{{.Id}}' "$1"; }

# saved_tar REF -> path of base-images/<name>_<tag>.tar or .tar.gz, if one exists.
saved_tar() {
  local base f
  base="$BASE_IMAGES_DIR/$(tar_basename "$1")"
  for f in "$base.tar" "$base.tar.gz"; do
    [[ -f $f ]] && { printf '%s\n' "$f"; return 0; }
  done
  return 1
}

# verify_tar FILE: checked against FILE.sha256 when there is one.
verify_tar() {
  local file=$1 want got
  [[ -f $file.sha256 ]] || { log "no $(basename "$file").sha256 beside it: loading unchecked"; return 0; }
  want=$(awk '{print $1; exit}' "$file.sha256")
  got=$(sha256sum "$file" | awk '{print $1}')
  [[ $want == "$got" ]] || die 4 "$(basename "$file") does not match its .sha256 (expected $want, got $got)" \
    "the file is damaged or not the one that was saved: copy it again, or run save-base-image.sh again"
  log "$(basename "$file") matches its .sha256"
}

# load_saved REF: load the saved tar and make sure it provides REF.
load_saved() {
  local ref=$1 file
  file=$(saved_tar "$ref") || return 1
  verify_tar "$file"
  log "loading $ref from $file"
  local loaded
  loaded=$(docker load -q -i "$file") || die 5 "docker load failed for $file" "the tar is not a docker save archive: run save-base-image.sh again"
  if [[ $ref == *@* ]]; then
    # A digest-pinned image is saved without a name: use the image ID the load reports.
    BASE_IMAGE_ID=$(sed -n 's/^Loaded image ID: //p' <<<"$loaded" | tail -n1)
    [[ -n $BASE_IMAGE_ID ]] || BASE_IMAGE_ID=$(image_id "$(sed -n 's/^Loaded image: //p' <<<"$loaded" | tail -n1)")
    [[ -n $BASE_IMAGE_ID ]] || die 5 "$file did not load an image" "save it with: ./save-base-image.sh $ref"
    return 0
  fi
  image_present "$ref" || die 5 "$file does not contain $ref" "save it with: ./save-base-image.sh $ref"
}

# ensure_base_image REF: present → mirrors → saved tar → a clear error.
ensure_base_image() {
  local ref=$1
  if image_present "$ref"; then
    BASE_IMAGE_ID=$(image_id "$ref")
    log "base image $ref is present locally"
    return 0
  fi
  pull_from_mirrors "$ref" && return 0
  load_saved "$ref" && return 0
  die 3 "base image $ref is not present, no mirror in BASE_IMAGE_MIRRORS has it, and there is no $(tar_basename "$ref").tar[.gz] in $BASE_IMAGES_DIR" \
    "on a machine with internet access run: ./save-base-image.sh $ref   then copy base-images/ here"
}
