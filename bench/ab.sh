#!/usr/bin/env bash
# A/B runs for one package, contenders alternating inside each round: wall time, CPU time
# (user + sys, which a loaded machine disturbs far less than wall time) and peak RSS.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/ab.sh FILE ROUNDS CONTENDER...
  FILE       a package name under BASE (default http://127.0.0.1:18767, e.g. an nginx serving .bench/www)
  CONTENDER  EXE:MODE  runs EXE --url BASE/FILE with DP_SINK=MODE (inline, worker or auto)
             curl      runs curl -s BASE/FILE | tar -x
  DEST (default /dev/shm/dp-ab) is emptied before every run.
example: bench/ab.sh small-256MiB.tar 3 dist/download-package:worker dist/download-package:inline curl
EOF
}
if [[ $# -lt 3 || $1 == --help || $1 == -h ]]; then usage; exit 2; fi

file=$1 rounds=$2
shift 2
base=${BASE:-http://127.0.0.1:18767}
dest=${DEST:-/dev/shm/dp-ab}
times=$(mktemp)
trap 'rm -f "$times"' EXIT

z=""
case $file in
  *.gz) z=-z ;;
  *.zst) z=--zstd ;;
esac

for ((r = 1; r <= rounds; r++)); do
  for c in "$@"; do
    rm -rf "$dest" && mkdir -p "$dest"
    if [[ $c == curl ]]; then
      /usr/bin/time -o "$times" -f "%e %U %S %M" sh -c "curl -s '$base/$file' | tar -x $z -f - -C '$dest'"
    else
      DP_SINK=${c##*:} /usr/bin/time -o "$times" -f "%e %U %S %M" "${c%:*}" --url "$base/$file" --dest "$dest" --progress-interval 0 >/dev/null 2>&1
    fi
    read -r wall user sys rss <"$times"
    printf '%-32s %-22s wall %6.2f s  cpu %6.2f s  rss %4d MiB\n' "$(basename "$c")" "$file" "$wall" "$(echo "$user + $sys" | bc)" $((rss / 1024))
  done
done
