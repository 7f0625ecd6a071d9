"""HOG peers: OpenCV's HOGDescriptor and scikit-image's `hog`, with the workbench's default
cell/block settings (9 unsigned bins, 8x8-pixel cells, 2x2-cell blocks with a 1-cell stride,
L2-Hys), on CIFAR-10's u8 RGB images; the grayscale conversion is inside the timing, as it is
in `pipeline extract --features hog`.

    python hog_peers.py DATA_DIR [--threads 1] [--limit 60000] [--skimage-limit 60000]
                                 [--only opencv,opencv-color,skimage]

Prints one JSON line: images/s of
- `opencv_gray`: `cv2.cvtColor(RGB2GRAY)` + `HOGDescriptor((32,32),(16,16),(8,8),(8,8),9)
  .compute` per image (OpenCV's own trilinear voting and Gaussian block window; 324 values),
- `opencv_color`: `compute` on the RGB image itself (OpenCV then takes, per pixel, the gradient
  of the channel of largest magnitude, as the workbench's `dalal-triggs` preset does),
- `skimage`: `skimage.color.rgb2gray` + `skimage.feature.hog(orientations=9,
  pixels_per_cell=(8,8), cells_per_block=(2,2), block_norm='L2-Hys')` per image.

`--threads N > 1` splits the images into N contiguous parts computed by N forked worker
processes (Python threads would serialise on the interpreter lock between the per-image calls);
OpenCV's own pool is set to 1 thread so the workers do not oversubscribe the cores.
"""

import sys

from common import emit, fail, limit_threads, load_cifar10, log, run_rows, versions

THREADS = limit_threads(sys.argv)

import argparse  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage  # noqa: E402
from skimage.color import rgb2gray  # noqa: E402
from skimage.feature import hog as skimage_hog  # noqa: E402


def opencv_descriptor():
    # winSize, blockSize, blockStride, cellSize, nbins; derivAperture 1, winSigma -1 (OpenCV's
    # default (16 + 16) / 8 = 4), L2-Hys with threshold 0.2, no gamma correction.
    return cv2.HOGDescriptor((32, 32), (16, 16), (8, 8), (8, 8), 9)


def opencv_gray(images, threads):
    def fill(out, a, b):
        hog = opencv_descriptor()
        for i in range(a, b):
            out[i] = hog.compute(cv2.cvtColor(images[i], cv2.COLOR_RGB2GRAY)).ravel()

    return run_rows(len(images), threads, 324, np.float32, fill)


def opencv_color(images, threads):
    def fill(out, a, b):
        hog = opencv_descriptor()
        for i in range(a, b):
            out[i] = hog.compute(images[i]).ravel()

    return run_rows(len(images), threads, 324, np.float32, fill)


def skimage_gray(images, threads):
    def fill(out, a, b):
        for i in range(a, b):
            out[i] = skimage_hog(
                rgb2gray(images[i]),
                orientations=9,
                pixels_per_cell=(8, 8),
                cells_per_block=(2, 2),
                block_norm="L2-Hys",
                feature_vector=True,
            )

    return run_rows(len(images), threads, 324, np.float64, fill)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=60000, help="images for the OpenCV peers")
    ap.add_argument("--skimage-limit", type=int, default=60000, help="images for scikit-image")
    ap.add_argument("--only", default="opencv,opencv-color,skimage")
    args = ap.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    known = {"opencv": opencv_gray, "opencv-color": opencv_color, "skimage": skimage_gray}
    for c in chosen:
        if c not in known:
            fail(f"--only {c}: unknown peer (valid: {', '.join(known)})")
    if args.limit < 1 or args.skimage_limit < 1:
        fail("--limit and --skimage-limit must be at least 1")

    cv2.setNumThreads(1)
    images, _ = load_cifar10(args.data_dir, max(args.limit, args.skimage_limit))
    record = {
        "peer": "hog",
        "threads": args.threads,
        "versions": versions(cv2, np, skimage),
    }
    for name in chosen:
        n = args.skimage_limit if name == "skimage" else args.limit
        subset = images[:n]
        known[name](subset[: min(500, n)], 1)  # warm-up: imports, caches, page faults
        seconds, feats = known[name](subset, args.threads)
        if not np.isfinite(feats).all():
            fail(f"{name}: non-finite HOG values")
        key = name.replace("-", "_")
        record[f"{key}_images"] = int(n)
        record[f"{key}_seconds"] = seconds
        record[f"{key}_images_per_s"] = n / seconds
        log(f"{name}: {n} images in {seconds:.2f} s = {n / seconds:,.0f} images/s")
    emit(record)


if __name__ == "__main__":
    main()
