#!/usr/bin/env bash
# Screens k-means encoder x dictionary x pooling x K choices on a CIFAR-10 subset with the
# L2-SVM, one `pipeline run` per configuration, and prints a table (test, val, extraction and
# training seconds) from each run's results.json.
#
#   scripts/kmeans-screen.sh DATA_DIR OUT [TRAIN_LIMIT] [CONFIG ...]
#
# TRAIN_LIMIT defaults to 10000 training images (no mirror images, 1,000 validation images,
# the first TEST_LIMIT test images, default 5000). A CONFIG is NAME=OPTIONS with the options comma separated,
# e.g. 'soft-k1600=--kmeans-encoder,soft'; without CONFIGs the default list below runs.
# PIPELINE (default target/release/pipeline) and EXTRA (more options for every run, e.g.
# '--model mlp --hidden 500 --epochs 15') can be set in the environment.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 DATA_DIR OUT [TRAIN_LIMIT] [NAME=OPT,OPT,...]..." >&2
    exit 1
fi
DATA=$1
OUT=$2
LIMIT=${3:-10000}
shift $(($# < 3 ? $# : 3))
P=${PIPELINE:-target/release/pipeline}
EXTRA=${EXTRA:---model svm}
TEST_LIMIT=${TEST_LIMIT:-5000}
if [ $# -eq 0 ]; then
    set -- \
        "triangle-kmeans-quadrants-k1600=" \
        "soft-kmeans-quadrants-k1600=--kmeans-encoder,soft" \
        "soft-patches-quadrants-k1600=--kmeans-encoder,soft,--kmeans-dictionary,patches" \
        "omp1-kmeans-quadrants-k1600=--kmeans-encoder,omp1" \
        "triangle-patches-quadrants-k1600=--kmeans-dictionary,patches" \
        "soft-kmeans-3x3-k1600=--kmeans-encoder,soft,--kmeans-pool,3x3" \
        "triangle-kmeans-pyramid-k1600=--kmeans-pool,pyramid" \
        "soft-kmeans-pyramid-k800=--kmeans-encoder,soft,--kmeans-pool,pyramid,--kmeans-k,800"
fi
mkdir -p "$OUT"
for config in "$@"; do
    name=${config%%=*}
    IFS=',' read -r -a opts <<< "${config#*=}"
    dir="$OUT/$name"
    if [ -f "$dir/results.json" ]; then
        echo "$name: done already ($dir/results.json)"
        continue
    fi
    mkdir -p "$dir"
    # shellcheck disable=SC2086
    cmd=("$P" run --dataset cifar10 --data-dir "$DATA" --features kmeans $EXTRA
        --train-limit "$LIMIT" --test-limit "$TEST_LIMIT" --augment none --out "$dir" "${opts[@]}")
    echo "${cmd[*]}" > "$dir/command.txt"
    echo "$name: ${cmd[*]}"
    start=$(date +%s)
    if ! nice -n 5 "${cmd[@]}" > "$dir/log.txt" 2>&1; then
        echo "$name: FAILED (see $dir/log.txt)"
        continue
    fi
    echo "$name: $(( $(date +%s) - start )) s wall; load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$dir/wall.txt"
done
python3 - "$OUT" <<'PY'
import json, pathlib, sys
rows = []
for r in sorted(pathlib.Path(sys.argv[1]).glob("*/results.json")):
    j = json.loads(r.read_text())
    a, t = j["accuracy"], j["timings_s"]
    rows.append((r.parent.name, a["test"], a["val"], t["features"], t["train"]))
print("| configuration | test | val | extraction s | training s |")
print("|---|---|---|---|---|")
for name, test, val, feat, train in sorted(rows, key=lambda r: -r[1]):
    print(f"| {name} | {test:.4f} | {val:.4f} | {feat:.1f} | {train:.1f} |")
PY
