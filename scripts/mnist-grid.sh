#!/usr/bin/env bash
# The experiment grid on MNIST: raw pixels, HOG, Gabor bank and k-means dictionary, each with
# SVM, softmax and the MLP. (MNIST is gray, so the hue histogram is left out.)
#
#   scripts/mnist-grid.sh DATA_DIR [OUT] [more `pipeline compare` options]
#
# DATA_DIR holds mnist/ (or is it). OUT defaults to mnist-grid/. Features are cached in
# OUT/feature-cache and finished cells are kept, so an interrupted grid continues when run
# again; extra options are passed on (e.g. --train-limit 5000).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 DATA_DIR [OUT] [pipeline compare options...]" >&2; exit 2; }
data=$1; shift
out=mnist-grid
if [ $# -gt 0 ] && [[ $1 != -* ]]; then out=$1; shift; fi
cd "$(dirname "$0")/.."
cargo run --release --bin pipeline -- compare \
  --dataset mnist --data-dir "$data" \
  --features raw --features hog --features gabor --features kmeans \
  --models svm,softmax,mlp \
  --config scripts/mnist-grid.toml \
  --out "$out" --cache-dir "$out/feature-cache" --resume "$@"
echo "report: $out/report.md"
