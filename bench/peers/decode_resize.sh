#!/usr/bin/env bash
# Decode + resize of photo-like JPEGs to 64x64: the workbench's folder loader against Pillow,
# alternating in one job (ours first in odd rounds, last in even ones).
#
#   bench/peers/decode_resize.sh [PHOTOS_DIR] [ROUNDS] [COUNT]
#
# PHOTOS_DIR (default /tmp/wb-photos) is filled by the example on its first run with COUNT
# (default 2000) 500x375 quality-90 JPEGs made from CIFAR-10 (see
# crates/data/examples/decode_speed.rs); CIFAR-10 is read from $WB_DATA_DIR
# (default /work/shared/datasets). PYTHON (default /work/venv-peers/bin/python) needs Pillow and
# numpy. Both sides use 2 workers (the machine's 2 cores): rayon threads / Pillow processes.
set -euo pipefail
cd "$(dirname "$0")/../.."
PHOTOS=${1:-/tmp/wb-photos}
ROUNDS=${2:-3}
COUNT=${3:-2000}
PYTHON=${PYTHON:-/work/venv-peers/bin/python}
DATA=${WB_DATA_DIR:-/work/shared/datasets}
THREADS=${THREADS:-2}

cargo build --release -p wb-data --example decode_speed >&2
EX=target/release/examples/decode_speed
echo "# $(date -u +%Y-%m-%dT%H:%MZ); $(lscpu | grep 'Model name' | sed 's/  */ /g'); load $(cut -d' ' -f1-3 /proc/loadavg)"
ours() { RAYON_NUM_THREADS=$THREADS "$EX" --data-dir "$DATA" --photos "$PHOTOS" --count "$COUNT" --rounds 1 | tail -1; }
pil() {
  "$PYTHON" bench/peers/decode_resize_pil.py "$PHOTOS" --threads "$THREADS"
  "$PYTHON" bench/peers/decode_resize_pil.py "$PHOTOS" --threads "$THREADS" --draft
}
ours >/dev/null # writes the photos if needed, warms the page cache
for r in $(seq 1 "$ROUNDS"); do
  if (( r % 2 == 1 )); then ours; pil; else pil; ours; fi
done
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
