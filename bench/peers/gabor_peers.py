"""Gabor peer: scikit-image's Gabor kernels applied with OpenCV's `filter2D`, the workbench's
default bank and pooling (`--features gabor`), on CIFAR-10's u8 RGB images.

    python gabor_peers.py DATA_DIR [--threads 1] [--limit 60000] [--check FEATURES.safetensors]

Bank: `skimage.filters.gabor_kernel(f, theta, bandwidth=1, n_stds=3)` for f in 0.1, 0.2, 0.3,
0.4 cycles/pixel and theta = k*pi/8, k = 0..7 (32 complex kernels, 35x35 down to 7x7). Gray
image `(0.2125 R + 0.7154 G + 0.0721 B) / 255` (skimage's `rgb2gray` weights; computed for all
images at once, inside the timing), each kernel's real and imaginary part convolved with
`cv2.filter2D` (kernel flipped: filter2D correlates; `BORDER_REFLECT` = scipy's half-sample
`reflect`, as `skimage.filters.gabor` uses), magnitude by `cv2.magnitude`, then per filter the
mean and population variance of the magnitude over the whole image and its four 16x16
quadrants: 32 x 5 x 2 = 320 values per image, in the workbench's order.

`--check F` also compares the peer's features of the first 500 test images with the `test.x`
rows of a `pipeline extract --features gabor --augment none` file F (max abs and relative
difference in the JSON; not timed).
`--threads N > 1` runs N forked worker processes on contiguous parts (OpenCV's pool set to 1
thread).
"""

import sys

from common import emit, fail, limit_threads, load_cifar10, log, run_rows, versions

THREADS = limit_threads(sys.argv)

import argparse  # noqa: E402
import json  # noqa: E402
import struct  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage  # noqa: E402
from skimage.filters import gabor_kernel  # noqa: E402

FREQUENCIES = (0.1, 0.2, 0.3, 0.4)
ORIENTATIONS = 8


def bank():
    """(real, imag) float32 kernels, flipped for convolution, frequency-major."""
    kernels = []
    for f in FREQUENCIES:
        for k in range(ORIENTATIONS):
            g = gabor_kernel(f, theta=k * np.pi / ORIENTATIONS, bandwidth=1, n_stds=3)
            kernels.append(
                (
                    np.ascontiguousarray(g.real[::-1, ::-1], np.float32),
                    np.ascontiguousarray(g.imag[::-1, ::-1], np.float32),
                )
            )
    return kernels


def features(images, threads):
    kernels = bank()
    weights = np.array([0.2125, 0.7154, 0.0721], np.float32) / np.float32(255)

    def fill(out, a, b):
        # Gray of the part at once (vectorised), inside the timing.
        gray = np.ascontiguousarray(images[a:b].astype(np.float32) @ weights)
        mags = np.empty((len(kernels), 32, 32), np.float32)
        for i in range(a, b):
            g = gray[i - a]
            for j, (kr, ki) in enumerate(kernels):
                re = cv2.filter2D(g, -1, kr, borderType=cv2.BORDER_REFLECT)
                im = cv2.filter2D(g, -1, ki, borderType=cv2.BORDER_REFLECT)
                mags[j] = cv2.magnitude(re, im)
            quads = mags.reshape(len(kernels), 2, 16, 2, 16)
            row = out[i].reshape(len(kernels), 5, 2)
            row[:, 0, 0] = mags.mean(axis=(1, 2))
            row[:, 0, 1] = mags.var(axis=(1, 2))
            row[:, 1:, 0] = quads.mean(axis=(2, 4)).reshape(len(kernels), 4)
            row[:, 1:, 1] = quads.var(axis=(2, 4)).reshape(len(kernels), 4)

    return run_rows(len(images), threads, len(kernels) * 10, np.float32, fill)


def read_safetensors(path, name):
    """One F32 tensor of a safetensors file (8-byte header length, JSON header, raw data)."""
    try:
        with open(path, "rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(header_len))
            if name not in header:
                fail(f"{path}: no tensor {name}")
            info = header[name]
            if info["dtype"] != "F32":
                fail(f"{path}: {name} is {info['dtype']}, expected F32")
            a, b = info["data_offsets"]
            f.seek(8 + header_len + a)
            return np.frombuffer(f.read(b - a), np.float32).reshape(info["shape"])
    except OSError as e:
        fail(f"{path}: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=60000)
    ap.add_argument("--check", help="a `pipeline extract --features gabor` file to compare with")
    args = ap.parse_args()
    if args.limit < 1:
        fail("--limit must be at least 1")
    cv2.setNumThreads(1)
    images, _ = load_cifar10(args.data_dir, args.limit)
    features(images[:50], 1)  # warm-up
    seconds, feats = features(images, args.threads)
    if not np.isfinite(feats).all():
        fail("non-finite Gabor features")
    n = len(images)
    record = {
        "peer": "gabor",
        "threads": args.threads,
        "filters": len(FREQUENCIES) * ORIENTATIONS,
        "dim": int(feats.shape[1]),
        "images": int(n),
        "seconds": seconds,
        "images_per_s": n / seconds,
        "versions": versions(cv2, np, skimage),
    }
    log(f"gabor: {n} images in {seconds:.2f} s = {n / seconds:,.0f} images/s")
    if args.check:
        # `pipeline extract --augment none` writes the test split in CIFAR-10's order (the
        # test batch, images 50,000.. of `load_cifar10`), so compare those rows.
        ours = read_safetensors(args.check, "test.x")
        everything, _ = load_cifar10(args.data_dir)
        m = min(len(ours), 500)
        _, peer = features(everything[50000 : 50000 + m], 1)
        diff = np.abs(ours[:m].astype(np.float64) - peer)
        record["check_images"] = int(m)
        record["check_max_abs_diff"] = float(diff.max())
        record["check_max_rel_diff"] = float((diff / np.maximum(np.abs(peer), 1e-12)).max())
        log(f"check: max |ours - peer| over {m} test images = {diff.max():.3e}")
    emit(record)


if __name__ == "__main__":
    main()
