"""k-means peer: Coates, Lee & Ng (AISTATS 2011)'s single-layer recipe in numpy + scikit-learn,
with the workbench's defaults (`--features kmeans`), on CIFAR-10.

    python kmeans_peer.py DATA_DIR [--threads 2] [--limit 60000] [--patches 400000]
                                   [--centroids 1600] [--iterations 10] [--batch 64]

Fit (on the first 49,000 training images, the workbench's training split size):
1. 400,000 random 6x6x3 patches, patch i from image i mod N at a uniformly random position;
2. per patch `(x - mean(x)) / sqrt(var(x, ddof=1) + 10)` (pixels 0..255);
3. ZCA: `W = V (L + 0.1 I)^(-1/2) V^T` from the covariance's eigen-decomposition
   (`numpy.linalg.eigh`, float64), `x_w = (x - m) W`;
4. `sklearn.cluster.KMeans(n_clusters=1600, init='random', n_init=1, max_iter=10, tol=0,
   algorithm='lloyd')`: 10 full Lloyd passes, as the workbench's default.
Encode (every one of the `--limit` images, default all 60,000): all 27 x 27 stride-1 patches
(`sliding_window_view`), normalised and whitened as above, distances
`z = sqrt(max(|x|^2 - 2 x.c + |c|^2, 0))` as one float32 GEMM per batch of images (numpy's
OpenBLAS; the norms ride along as two extra columns), triangle activation
`max(0, mean_k(z) - z_k)`, and sums over the four quadrants of the patch grid (rows and columns
split 14 + 13): 4 x 1600 = 6,400 values per image, quadrants in the order top-left, top-right,
bottom-left, bottom-right (the workbench's).

Prints one JSON line with `fit_seconds`, `encode_seconds` and `seconds` (their sum), both on
`--threads` threads (OpenBLAS and scikit-learn's OpenMP pool).
"""

import sys

from common import Timer, emit, fail, limit_threads, load_cifar10, log, versions

THREADS = limit_threads(sys.argv, default=2)

import argparse  # noqa: E402

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

PATCH = 6
CONTRAST_EPS = 10.0
WHITENING_EPS = 0.1
TRAIN_IMAGES = 49000


def normalise(x):
    """Per-row brightness/contrast normalisation, in place on a float32 matrix."""
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, ddof=1, keepdims=True)
    x -= mean
    x /= np.sqrt(var + CONTRAST_EPS)
    return x


def fit(images, patches, centroids, iterations, seed):
    rng = np.random.default_rng(seed)
    n = len(images)
    idx = np.arange(patches) % n
    rows = rng.integers(0, 32 - PATCH + 1, patches)
    cols = rng.integers(0, 32 - PATCH + 1, patches)
    dy, dx = np.meshgrid(np.arange(PATCH), np.arange(PATCH), indexing="ij")
    x = images[
        idx[:, None, None], rows[:, None, None] + dy, cols[:, None, None] + dx
    ].reshape(patches, -1).astype(np.float32)
    normalise(x)
    m = x.mean(axis=0)
    cov = np.cov(x.astype(np.float64), rowvar=False)
    evals, evecs = np.linalg.eigh(cov)
    w = (evecs @ np.diag(1.0 / np.sqrt(evals + WHITENING_EPS)) @ evecs.T).astype(np.float32)
    xw = (x - m) @ w
    km = KMeans(
        n_clusters=centroids,
        init="random",
        n_init=1,
        max_iter=iterations,
        tol=0.0,
        algorithm="lloyd",
        random_state=seed,
    ).fit(xw)
    return m, w, km.cluster_centers_.astype(np.float32), int(km.n_iter_)


def encode(images, m, w, c, batch):
    k = len(c)
    grid = 32 - PATCH + 1
    half = int(np.floor(grid / 2 + 0.5))  # MATLAB's round(27/2) = 14
    # Squared distances in one GEMM: [x, |x|^2, 1] . [-2c, 1, |c|^2]^T = |x|^2 - 2 x.c + |c|^2.
    d = c.shape[1]
    caug = np.empty((d + 2, k), np.float32)
    caug[:d] = -2.0 * c.T
    caug[d] = 1.0
    caug[d + 1] = (c * c).sum(axis=1)
    out = np.empty((len(images), 4 * k), np.float32)
    for start in range(0, len(images), batch):
        part = images[start : start + batch]
        b = len(part)
        win = np.lib.stride_tricks.sliding_window_view(part, (PATCH, PATCH), axis=(1, 2))
        # (b, 27, 27, 3, 6, 6) -> rows of (6, 6, 3) values, the fit's order
        x = win.transpose(0, 1, 2, 4, 5, 3).reshape(b * grid * grid, -1).astype(np.float32)
        normalise(x)
        x -= m
        xa = np.empty((len(x), d + 2), np.float32)
        np.matmul(x, w, out=xa[:, :d])
        xa[:, d] = (xa[:, :d] * xa[:, :d]).sum(axis=1)
        xa[:, d + 1] = 1.0
        z = xa @ caug  # the GEMM: (b*729) x 110 . 110 x K, squared distances
        np.maximum(z, 0.0, out=z)
        np.sqrt(z, out=z)
        mu = z.mean(axis=1, keepdims=True)
        np.subtract(mu, z, out=z)
        np.maximum(z, 0.0, out=z)
        # Quadrant sums: rows first (contiguous reductions), then columns.
        f = z.reshape(b, grid, grid, k)
        o = out[start : start + b].reshape(b, 2, 2, k)
        for r, rows in enumerate((f[:, :half], f[:, half:])):
            band = rows.sum(axis=1)  # b x 27 x K
            o[:, r, 0] = band[:, :half].sum(axis=1)
            o[:, r, 1] = band[:, half:].sum(axis=1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=60000, help="images to encode")
    ap.add_argument("--patches", type=int, default=400000)
    ap.add_argument("--centroids", type=int, default=1600)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64, help="images per encoding GEMM")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for name in ("limit", "patches", "centroids", "iterations", "batch"):
        if getattr(args, name) < 1:
            fail(f"--{name} must be at least 1")
    if args.centroids > args.patches:
        fail(f"--centroids {args.centroids} is more than --patches {args.patches}")
    images, _ = load_cifar10(args.data_dir, args.limit)
    train = images[: min(TRAIN_IMAGES, len(images))]
    with threadpool_limits(limits=args.threads):
        with Timer() as t_fit:
            m, w, c, n_iter = fit(train, args.patches, args.centroids, args.iterations, args.seed)
        log(f"fit: {t_fit.seconds:.1f} s ({n_iter} passes)")
        with Timer() as t_enc:
            feats = encode(images, m, w, c, args.batch)
        log(f"encode: {len(images)} images in {t_enc.seconds:.1f} s")
    if not np.isfinite(feats).all():
        fail("non-finite k-means features")
    emit(
        {
            "peer": "kmeans",
            "threads": args.threads,
            "images": int(len(images)),
            "patches": args.patches,
            "centroids": args.centroids,
            "iterations": n_iter,
            "dim": int(feats.shape[1]),
            "fit_seconds": t_fit.seconds,
            "encode_seconds": t_enc.seconds,
            "seconds": t_fit.seconds + t_enc.seconds,
            "versions": versions(np, sklearn),
        }
    )


if __name__ == "__main__":
    main()
