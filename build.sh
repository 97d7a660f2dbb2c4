#!/usr/bin/env bash
# Build the init-container image without internet: the executable, a base image from
# wherever it can be had, docker build, tags, and a push to the private registry.
set -euo pipefail

usage() {
  cat <<'TXT'
Usage: ./build.sh [--dry-run] [--help]

Builds dist/rootfs (npm ci when node_modules is missing, then npm run build), obtains
BASE_IMAGE (present locally -> each of BASE_IMAGE_MIRRORS -> base-images/<name>_<tag>.tar[.gz]),
builds the image, tags IMAGE_NAME:IMAGE_TAG and PRIVATE_REGISTRY/IMAGE_NAME:IMAGE_TAG,
and pushes it unless PUSH_TO_REGISTRY=false.

Environment:
  BASE_IMAGE              base image (default: the Dockerfile's, alpine:3.22)
  BASE_IMAGE_MIRRORS      registries to pull the base from, in order, space or comma separated
                          (e.g. "mirror-a.internal:5000 harbor.internal/dockerhub");
                          unset: pull BASE_IMAGE from where it names
  MIRROR_TIMEOUT          seconds allowed per mirror pull (default 60)
  BASE_IMAGES_DIR         where saved base-image tars are (default ./base-images)
  IMAGE_NAME              image name (default package-init-container)
  IMAGE_TAG               image tag (default: the version in package.json)
  PRIVATE_REGISTRY        registry host[:port][/path] to push to (required unless PUSH_TO_REGISTRY=false)
  REGISTRY_USERNAME       user for docker login (with REGISTRY_PASSWORD or REGISTRY_PASSWORD_FILE);
                          unset: the existing docker login for PRIVATE_REGISTRY is used
  REGISTRY_PASSWORD       password, given to docker login on stdin only
  REGISTRY_PASSWORD_FILE  file holding the password (preferred over the variable)
  PUSH_TO_REGISTRY        true (default) or false to build only

Options:
  --dry-run   print what would be built, tagged and pushed; change nothing
  --help      this text

Exit codes: 0 ok, 2 usage, 3 base image not found, 4 saved tar checksum mismatch,
5 saved tar unusable, 6 build failed, 7 login or push failed, 8 no Docker engine answers.
TXT
}

DRY_RUN=false
for arg in "$@"; do
  case $arg in
    -h | --help) usage; exit 0 ;;
    --dry-run) DRY_RUN=true ;;
    *) usage >&2; printf 'error: unknown argument %s\n' "$arg" >&2; exit 2 ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/image-lib.sh
source scripts/image-lib.sh

version=$(node -p 'require("./package.json").version')
BASE_IMAGE=${BASE_IMAGE:-$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile | head -n1)}
IMAGE_NAME=${IMAGE_NAME:-package-init-container}
IMAGE_TAG=${IMAGE_TAG:-$version}
PUSH_TO_REGISTRY=${PUSH_TO_REGISTRY:-true}
local_ref="$IMAGE_NAME:$IMAGE_TAG"

case $PUSH_TO_REGISTRY in true | false) ;; *) die 2 "PUSH_TO_REGISTRY must be true or false, not '$PUSH_TO_REGISTRY'" ;; esac
if [[ $PUSH_TO_REGISTRY == true && -z ${PRIVATE_REGISTRY:-} ]]; then
  die 2 "PRIVATE_REGISTRY is not set, so there is nowhere to push" \
    "set PRIVATE_REGISTRY=registry.example.internal:5000 (and REGISTRY_USERNAME/REGISTRY_PASSWORD_FILE), or PUSH_TO_REGISTRY=false to build only"
fi
if [[ -n ${REGISTRY_PASSWORD_FILE:-} && ! -r $REGISTRY_PASSWORD_FILE ]]; then
  die 2 "REGISTRY_PASSWORD_FILE $REGISTRY_PASSWORD_FILE is not readable" "fix the path"
fi
# Docker's reference grammar: lower-case path components, a tag of at most 128 word characters.
[[ $IMAGE_NAME =~ ^[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$ ]] ||
  die 2 "IMAGE_NAME '$IMAGE_NAME' is not a valid image name" "use lower-case letters, digits, '.', '_', '-' and '/', e.g. IMAGE_NAME=team/package-init-container"
[[ $IMAGE_TAG =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] ||
  die 2 "IMAGE_TAG '$IMAGE_TAG' is not a valid tag" "use letters, digits, '_', '.', '-' (at most 128), e.g. IMAGE_TAG=1.2.3"
remote_ref=""
[[ -n ${PRIVATE_REGISTRY:-} ]] && remote_ref="${PRIVATE_REGISTRY%/}/$IMAGE_NAME:$IMAGE_TAG"

log "image $local_ref${remote_ref:+ and $remote_ref}, base $BASE_IMAGE, push $PUSH_TO_REGISTRY"

if [[ $DRY_RUN != true ]] && ! docker_err=$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null); then
  die 8 "no Docker engine answers: $(tail -n1 <<<"$docker_err")" "start dockerd (or set DOCKER_HOST) and run again"
fi

# 1. The executable and dist/rootfs.
if [[ ! -d node_modules ]]; then run npm ci --no-audit --no-fund; fi
exe=dist/rootfs/usr/local/bin/download-package
if [[ -x $exe && -z $(find src scripts package.json package-lock.json Dockerfile -newer "$exe" -print -quit) ]]; then
  log "dist/rootfs is up to date with the sources: not rebuilding it"
else
  run npm run --silent build
fi

# 2. The base image.
if [[ $DRY_RUN == true ]]; then
  printf 'dry-run: obtain %s (local, then mirrors: %s, then %s/%s.tar[.gz])\n' "$BASE_IMAGE" "${BASE_IMAGE_MIRRORS:-none}" "$BASE_IMAGES_DIR" "$(tar_basename "$BASE_IMAGE")" >&2
else
  ensure_base_image "$BASE_IMAGE"
fi
# A digest-pinned base may be known here only by its mirror's name or its image ID: build FROM that.
build_base=$BASE_IMAGE
[[ $BASE_IMAGE == *@sha256:* && -n ${BASE_IMAGE_ID:-} ]] && build_base=$BASE_IMAGE_ID

# 3. Build and tag. Labels carry no secrets; no build argument does.
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
source_url=$(git config --get remote.origin.url 2>/dev/null | sed -E 's#//[^/@]*@#//#' || true)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
build_args=(--build-arg "BASE_IMAGE=$build_base" --build-arg "VERSION=$version" --build-arg "REVISION=$revision"
  --build-arg "SOURCE=${source_url:-unknown}" --build-arg "CREATED=$created")
if [[ $DRY_RUN == true ]]; then
  run docker build "${build_args[@]}" -t "$local_ref" .
elif ! build_out=$(DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build "${build_args[@]}" -t "$local_ref" . 2>&1); then
  printf '%s\n' "$build_out" >&2
  die 6 "docker build failed" "see the build output above"
fi
[[ -n $remote_ref ]] && run docker tag "$local_ref" "$remote_ref"
[[ $DRY_RUN == true ]] || log "built $local_ref"

# 4. Push.
if [[ $PUSH_TO_REGISTRY == false ]]; then
  log "PUSH_TO_REGISTRY=false: not pushing"
  exit 0
fi
password=""
if [[ -n ${REGISTRY_PASSWORD_FILE:-} ]]; then
  password=$(<"$REGISTRY_PASSWORD_FILE")
elif [[ -n ${REGISTRY_PASSWORD:-} ]]; then
  password=$REGISTRY_PASSWORD
fi
if [[ -n ${REGISTRY_USERNAME:-} && -n $password ]]; then
  # A throw-away docker config: the credential is not left behind in ~/.docker.
  DOCKER_CONFIG=$(mktemp -d)
  export DOCKER_CONFIG
  trap 'rm -rf "$DOCKER_CONFIG"' EXIT
  registry_host=${PRIVATE_REGISTRY%%/*}
  if [[ $DRY_RUN == true ]]; then
    printf 'dry-run: docker login --username %s --password-stdin %s\n' "$REGISTRY_USERNAME" "$registry_host" >&2
  elif ! printf '%s' "$password" | docker login --username "$REGISTRY_USERNAME" --password-stdin "$registry_host" >/dev/null 2>"$DOCKER_CONFIG/login.err"; then
    die 7 "docker login to $registry_host as $REGISTRY_USERNAME failed: $(tail -n1 "$DOCKER_CONFIG/login.err")" \
      "check REGISTRY_USERNAME and the password (REGISTRY_PASSWORD_FILE or REGISTRY_PASSWORD)"
  fi
  [[ $DRY_RUN == true ]] || log "logged in to $registry_host as $REGISTRY_USERNAME"
elif [[ -n ${REGISTRY_USERNAME:-} ]]; then
  die 2 "REGISTRY_USERNAME is set but no password" "set REGISTRY_PASSWORD_FILE (or REGISTRY_PASSWORD), or unset REGISTRY_USERNAME to use an existing docker login"
else
  log "no REGISTRY_USERNAME: using the existing docker login for ${PRIVATE_REGISTRY%%/*}, if any"
fi
unset password REGISTRY_PASSWORD

if [[ $DRY_RUN == true ]]; then
  printf 'dry-run: docker push %s\n' "$remote_ref" >&2
  exit 0
fi
if ! push_out=$(docker push "$remote_ref" 2>&1); then
  die 7 "docker push $remote_ref failed: $(tail -n1 <<<"$push_out")" \
    "check that PRIVATE_REGISTRY is reachable and that this user may push (docker login)"
fi
digest=$(grep -o 'digest: sha256:[0-9a-f]*' <<<"$push_out" | tail -n1 | cut -d' ' -f2)
log "pushed $remote_ref"
printf '%s@%s\n' "${remote_ref%:*}" "$digest"
