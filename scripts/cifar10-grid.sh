#!/usr/bin/env bash
# The lecture's full experiment grid on CIFAR-10: raw pixels, hue histogram, HOG, Gabor bank,
# k-means dictionary (Coates et al.: K = 1600) and HOG + hue, each with SVM, softmax and the MLP.
#
#   scripts/cifar10-grid.sh DATA_DIR [OUT] [more `pipeline compare` options]
#
# DATA_DIR holds cifar-10-batches-bin/ (or is it). OUT defaults to cifar10-grid/. Features are
# cached in OUT/feature-cache and finished cells are kept, so an interrupted grid continues
# where it stopped when run again. Settings beyond the defaults: scripts/cifar10-grid.toml.
# 11 min 59 s on an idle 2-core Xeon (2026-12-04; 33 min 47 s with the 2026-11-30 code and machine,
# BENCHMARKS.md); extra options are passed
# on (e.g. --train-limit 5000 for a quick look).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 DATA_DIR [OUT] [pipeline compare options...]" >&2; exit 2; }
data=$1; shift
out=cifar10-grid
if [ $# -gt 0 ] && [[ $1 != -* ]]; then out=$1; shift; fi
cd "$(dirname "$0")/.."
cargo run --release --bin pipeline -- compare \
  --dataset cifar10 --data-dir "$data" \
  --features raw --features color --features hog --features gabor --features kmeans \
  --features hog,color \
  --models svm,softmax,mlp \
  --config scripts/cifar10-grid.toml \
  --out "$out" --cache-dir "$out/feature-cache" --resume "$@"
echo "report: $out/report.md"
