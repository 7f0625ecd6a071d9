#!/usr/bin/env bash
# Accuracy of the CIFAR-10 k-means SVM when the encoder's x·c products take bf16 inputs
# (issue 13): what an AVX512_BF16 / AMX kernel would compute, emulated on any CPU by rounding
# the whitened patches and the atoms to bf16 (round to nearest even) before the f32 product.
# The patch is an experiment, not a feature: it is applied to a throw-away worktree.
#
#   bench/kmeans-bf16/run.sh DATA_DIR [OUT_DIR]
#
# Prints the run's accuracies; compare with the same command on main with f32 products
# (`WB_KMEANS_KERNEL=avx512 pipeline run --dataset cifar10 --features kmeans --model svm
# --threads 2`; `avx2` on a CPU without AVX-512). About 15 minutes on 2 cores.
set -euo pipefail
[[ $# -ge 1 ]] || { sed -n '2,11p' "$0"; exit 1; }
DATA_DIR=$(cd "$1" && pwd)
OUT=${2:-$PWD/kmeans-bf16-run}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WT=$(mktemp -d)
trap 'git -C "$ROOT" worktree remove --force "$WT" >/dev/null 2>&1 || true' EXIT
# The patch is against 8cfccbe, the last encoder with f32 products only (since d4f50a9 a
# CPU with AVX512_VNNI takes the triangle's products in int8, which the patch predates).
git -C "$ROOT" worktree add -q --detach "$WT" 8cfccbe
git -C "$WT" apply "$ROOT/bench/kmeans-bf16/emulate-bf16.patch"
(cd "$WT" && CARGO_TARGET_DIR="$WT/target" cargo build --release -p wb-pipeline)
"$WT/target/release/pipeline" run --dataset cifar10 --data-dir "$DATA_DIR" --features kmeans \
    --model svm --threads 2 --out "$OUT"
