#!/usr/bin/env bash
# CS231n assignment 1's "image features" settings on CIFAR-10: 49,000 training / 1,000
# validation images (the last 1,000 of the training batches carved out by the seed here), the
# first 1,000 test images, no mirroring; a hue histogram of 10 bins and HOG as the assignment
# computes it (the `cs231n` preset: 8x8 cells, 9 bins, no block normalisation); the lecture's
# SVM (multiclass hinge by mini-batch SGD), softmax and a two-layer net of 500 hidden units on
# hog,color and on raw pixels.
#
#   scripts/cs231n-assignment.sh DATA_DIR [OUT] [more `pipeline compare` options]
#
# DATA_DIR holds cifar-10-batches-bin/ (or is it). OUT defaults to cs231n-assignment/.
# Learning rates and L2 strengths come from the workbench's search grids (CS231n's values are
# for its unnormalised features and loss scaling, so they do not transfer).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 DATA_DIR [OUT] [pipeline compare options...]" >&2; exit 2; }
data=$1; shift
out=cs231n-assignment
if [ $# -gt 0 ] && [[ $1 != -* ]]; then out=$1; shift; fi
cd "$(dirname "$0")/.."
cargo run --release --bin pipeline -- compare \
  --dataset cifar10 --data-dir "$data" \
  --val-size 1000 --test-limit 1000 --augment none \
  --features hog,color --features raw \
  --color-mode hue --color-bins 10 --hog-preset cs231n \
  --models svm,softmax,mlp --svm-loss hinge --svm-solver sgd --hidden 500 \
  --out "$out" --cache-dir "$out/feature-cache" --resume "$@"
echo "report: $out/report.md"
