#!/usr/bin/env bash
# The best CIFAR-10 configuration measured (`pipeline run --preset cifar10-best`), end to end:
# load, k-means feature extraction, the MLP's training and the test evaluation.
#
#   scripts/cifar10-best.sh DATA_DIR OUT [more `pipeline run` options]
#
# DATA_DIR holds cifar-10-batches-bin/ (or is it). Writes OUT/results.json (every setting, the
# accuracy on the 10,000 test images, the timings), the trained model under OUT/model/, and
# OUT/run.log (the run's output, with the wall time and peak memory when /usr/bin/time exists).
# The preset's settings, accuracy and cost: docs/run.md ("Presets") and BENCHMARKS.md.
# Extra options override the preset's (e.g. --threads 2, --kmeans-encoder soft).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DATA_DIR OUT [pipeline run options...]" >&2; exit 2; }
data=$(realpath "$1"); out=$(realpath -m "$2"); shift 2
mkdir -p "$out"
cd "$(dirname "$0")/.."
cargo build --release --bin pipeline
pipeline=target/release/pipeline
[ -n "${CARGO_TARGET_DIR:-}" ] && pipeline=$CARGO_TARGET_DIR/release/pipeline
timer=()
[ -x /usr/bin/time ] && timer=(/usr/bin/time -v)
start=$(date +%s)
"${timer[@]}" "$pipeline" run --preset cifar10-best --data-dir "$data" --out "$out" "$@" 2>&1 \
  | tee "$out/run.log"
echo "end to end: $(( $(date +%s) - start )) s; results: $out/results.json" | tee -a "$out/run.log"
