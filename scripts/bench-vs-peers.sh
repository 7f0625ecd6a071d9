#!/usr/bin/env bash
# Our measurements against their peers (PyTorch, numpy, OpenCV, scikit-image, scikit-learn), in
# one job, alternating runs, at least two rounds each (issue 13's bars are these ratios).
#
#   scripts/bench-vs-peers.sh DATA_DIR [OUT.json] [--quick] [--only hog,gabor,kmeans,mlp,linear]
#                             [--rounds N]
#
# DATA_DIR holds cifar-10-batches-bin/ (e.g. ../shared/datasets). The peers run in the Python
# given by $PEERS_PYTHON (default: bench/peers/.venv/bin/python, made with
# bench/peers/requirements.txt; see bench/peers/README.md). Our side is the release `pipeline`
# binary as a user runs it (`pipeline extract ...`, `pipeline run ...`), under /usr/bin/time -v
# for its peak RSS (Debian package `time`).
#
# --quick: subsets (5,000 training / 1,000 test images, 200 centroids, 1 MLP epoch) for a smoke
# run; its figures are not the benchmark. Full run: the whole of CIFAR-10.
# Prints the CPU model and flags, every figure, the ratios ours/peer, and writes OUT.json
# (default: bench-vs-peers-DATE.json in the current folder).
set -euo pipefail

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-1}"
}

[[ $# -ge 1 ]] || usage
case "$1" in -h | --help) usage 0 ;; esac
DATA_DIR=$1
shift
OUT=""
if [[ $# -ge 1 && $1 != --* ]]; then
    OUT=$1
    shift
fi
EXTRA=("$@")

if [[ ! -d $DATA_DIR ]]; then
    echo "error: DATA_DIR $DATA_DIR is not a folder (it should hold cifar-10-batches-bin/)" >&2
    exit 1
fi
DATA_DIR=$(cd "$DATA_DIR" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[[ -n $OUT ]] || OUT="bench-vs-peers-$(date -u +%Y%m%dT%H%M%SZ).json"

PY=${PEERS_PYTHON:-$ROOT/bench/peers/.venv/bin/python}
if [[ ! -x $PY ]]; then
    echo "error: no peer Python at $PY: make the venv (bench/peers/README.md) or set PEERS_PYTHON" >&2
    exit 1
fi
if ! "$PY" -c 'import numpy' 2>/dev/null; then
    echo "error: $PY cannot import numpy: install bench/peers/requirements.txt into it" >&2
    exit 1
fi

echo "== build"
(cd "$ROOT" && cargo build --release -p wb-pipeline)
BIN=$ROOT/target/release/pipeline
if [[ -n ${CARGO_TARGET_DIR:-} ]]; then
    BIN=$CARGO_TARGET_DIR/release/pipeline
fi

echo "== machine"
CPU=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
FLAGS=$(lscpu | sed -n 's/^Flags:[[:space:]]*//p' | head -1)
echo "CPU: $CPU"
echo "cores: $(nproc)"
echo "flags: $FLAGS"
SIMD=$(tr ' ' '\n' <<<"$FLAGS" | grep -E '^(avx2|fma|avx512f|avx512bw|avx512vl|avx512_bf16|avx512_vnni|avx_vnni)$' | tr '\n' ' ' || true)
echo "SIMD: $SIMD"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); uptime: $(uptime)"
if [[ ! -x /usr/bin/time ]]; then
    echo "note: /usr/bin/time is missing (apt-get install time): peak RSS will not be recorded"
fi

COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    COMMIT="$COMMIT+modified"
fi
echo "commit: $COMMIT"

echo "== measures"
exec "$PY" "$ROOT/bench/peers/harness.py" --bin "$BIN" --data-dir "$DATA_DIR" --python "$PY" \
    --out "$OUT" --cpu "$CPU" --flags "$FLAGS" --commit "$COMMIT" "${EXTRA[@]}"
