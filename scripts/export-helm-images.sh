#!/usr/bin/env bash
# Online entry point for exporting a Helm chart's images (a thin wrapper around
# `download-package images export`). See OFFLINE-IMAGES.md.
set -euo pipefail

usage() {
  cat <<'TXT'
Usage: scripts/export-helm-images.sh [--chart DIR|CHART.tgz] [-f VALUES.yaml]... [--out DIR] [--platform OS/ARCH]

Lists every image the chart's install pulls (--chart DIR or .tgz: rendered with helm template
when helm is installed, else with the built-in renderer; a directory without Chart.yaml: its
values files scanned), pulls each through BASE_IMAGE_MIRRORS when set, and
writes DIR/<name>_<tag>.tar.gz, DIR/SHA256SUMS and DIR/index.json (default DIR: ./images).
Already-exported, valid files are skipped, so it can be re-run after a failure.
TXT
}

chart="" out="images" platform="" values=()
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --chart) chart=$2; shift 2 ;;
    -f | --values) values+=("$2"); shift 2 ;;
    --out) out=$2; shift 2 ;;
    --platform) platform=$2; shift 2 ;;
    *) usage >&2; printf 'error: unknown argument %s\n' "$1" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -x $here/dist/download-package ]]; then
  dp=("$here/dist/download-package")
elif command -v download-package >/dev/null 2>&1; then
  dp=(download-package)
else
  (cd "$here" && { [[ -d node_modules ]] || npm ci --no-audit --no-fund; } && npm run --silent build >/dev/null)
  dp=("$here/dist/download-package")
fi

args=(images export --out "$out")
if [[ -n $chart && ( -f $chart/Chart.yaml || -f $chart ) ]]; then
  # A real chart: rendered (helm template when helm is on PATH, else the built-in renderer) and
  # the images read from the result; -f files are layered over its values as helm does.
  args+=(--chart "$chart")
  for v in "${values[@]}"; do args+=(--values "$v"); done
  [[ -n $platform ]] && args+=(--platform "$platform")
  exec "${dp[@]}" "${args[@]}"
fi
[[ -n $chart && -f $chart/values.yaml ]] && args+=(--values "$chart/values.yaml")
for v in "${values[@]}"; do args+=(--values "$v"); done
# Subcharts' own values files hold images too.
if [[ -n $chart && -d $chart/charts ]]; then
  while IFS= read -r f; do args+=(--values "$f"); done < <(find "$chart/charts" -name values.yaml)
fi
if [[ -n $chart ]] && command -v helm >/dev/null 2>&1; then
  rendered=$(mktemp)
  trap 'rm -f "$rendered"' EXIT
  helm_values=()
  for v in "${values[@]}"; do helm_values+=(-f "$v"); done
  helm template offline-export "$chart" "${helm_values[@]}" >"$rendered"
  args+=(--manifests "$rendered")
elif [[ -n $chart ]]; then
  echo "helm not found: images only rendering would show are not included (values files only)" >&2
fi
[[ -n $platform ]] && args+=(--platform "$platform")
(( ${#args[@]} > 3 )) || { usage >&2; echo "error: give --chart or -f VALUES.yaml" >&2; exit 2; }
exec "${dp[@]}" "${args[@]}"
