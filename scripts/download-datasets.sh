#!/usr/bin/env bash
# Downloads the official datasets the workbench reads and verifies their MD5 checksums
# (the checksums published by the datasets' authors / used by torchvision).
#
#   scripts/download-datasets.sh [DEST] [cifar10 cifar100 mnist fashion-mnist ...]
#
# DEST defaults to ./data; with no dataset names, all four are fetched. Afterwards:
#   pipeline run --data-dir DEST --dataset cifar10 ...
set -euo pipefail

dest=${1:-data}
shift || true
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(cifar10 cifar100 mnist fashion-mnist)
mkdir -p "$dest"

fetch() { # file md5 url [mirror-url ...]
  local file=$1 md5=$2
  shift 2
  if [ -f "$file" ] && echo "$md5  $file" | md5sum -c --status; then
    echo "ok $file (already downloaded)"
    return 0
  fi
  local url
  for url in "$@"; do
    echo "downloading $url"
    if curl -fL --retry 3 -o "$file.part" "$url" && echo "$md5  $file.part" | md5sum -c --status; then
      mv "$file.part" "$file"
      echo "ok $file"
      return 0
    fi
    echo "warning: $url failed or its MD5 is not $md5" >&2
  done
  rm -f "$file.part"
  echo "error: could not fetch $file with MD5 $md5" >&2
  exit 1
}

for name in "${wanted[@]}"; do
  case $name in
    cifar10)
      fetch "$dest/cifar-10-binary.tar.gz" c32a1d4ab5d03f1284b67883e8d87530 \
        https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
      tar -xzf "$dest/cifar-10-binary.tar.gz" -C "$dest" # -> cifar-10-batches-bin/
      ;;
    cifar100)
      fetch "$dest/cifar-100-binary.tar.gz" 03b5dce01913d631647c71ecec9e9cb8 \
        https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz
      tar -xzf "$dest/cifar-100-binary.tar.gz" -C "$dest" # -> cifar-100-binary/
      ;;
    mnist)
      # yann.lecun.com is the official address; it is often unreachable, so the mirror
      # torchvision uses is tried next (same files, same checksums).
      mkdir -p "$dest/mnist"
      for pair in train-images-idx3-ubyte.gz:f68b3c2dcbeaaa9fbdd348bbdeb94873 \
                  train-labels-idx1-ubyte.gz:d53e105ee54ea40749a09fcbcd1e9432 \
                  t10k-images-idx3-ubyte.gz:9fb629c4189551a2d022fa330f9573f3 \
                  t10k-labels-idx1-ubyte.gz:ec29112dd5afa0611ce80d1b7f02629c; do
        f=${pair%%:*} md5=${pair##*:}
        fetch "$dest/mnist/$f" "$md5" "http://yann.lecun.com/exdb/mnist/$f" \
          "https://ossci-datasets.s3.amazonaws.com/mnist/$f"
      done
      ;;
    fashion-mnist)
      mkdir -p "$dest/fashion-mnist"
      for pair in train-images-idx3-ubyte.gz:8d4fb7e6c68d591d4c3dfef9ec88bf0d \
                  train-labels-idx1-ubyte.gz:25c81989df183df01b3e8a0aad5dffbe \
                  t10k-images-idx3-ubyte.gz:bef4ecab320f06d8554ea6380940ec79 \
                  t10k-labels-idx1-ubyte.gz:bb300cfdad3c16e7a12a480ee83cd310; do
        f=${pair%%:*} md5=${pair##*:}
        fetch "$dest/fashion-mnist/$f" "$md5" \
          "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/$f"
      done
      ;;
    *)
      echo "error: unknown dataset '$name' (valid: cifar10 cifar100 mnist fashion-mnist)" >&2
      exit 2
      ;;
  esac
done
echo "datasets are in $dest"
