"""numpy peer of the workbench MLP epoch (`crates/mlp/examples/epoch_speed.rs`).

The same network, initialisation rule, batches and update as `mlp_torch.py` (see there), with
the forward and backward passes written out as matrix products (numpy's BLAS, 2 threads) into
preallocated buffers:

    h = relu(x W1^T + b1); s = h W2^T + b2; ds = (softmax(s) - onehot(y)) / m
    dW2 = ds^T h; dh = (ds W2) * [h > 0]; dW1 = dh^T x
    v = 0.9 v - lr (g + 2 lambda W); W += v          (biases: no L2 term)

    python mlp_numpy.py DATA_DIR [--epochs 3] [--threads 2] [--hidden 500] [--dropout 0.2]

`--dropout P`: inverted dropout on the hidden units, h * mask / (1 - P), as in `mlp_torch.py`.

prints one JSON line: {"peer": "numpy", "seconds_per_epoch": [...], "best_s": ..., ...}.
"""

import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_dir")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--reg", type=float, default=2.5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dropout", type=float, default=0.0)
    args = ap.parse_args()
    # The BLAS reads its thread count when it is loaded, so it is set before numpy is imported.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cifar10

    (x, y), (xv, yv), _ = cifar10.splits(args.data_dir)
    n, d = x.shape
    hdim, c, batch = args.hidden, 10, args.batch
    rng = np.random.default_rng(args.seed)
    f32 = np.float32
    w1 = rng.normal(0.0, (2.0 / d) ** 0.5, (hdim, d)).astype(f32)
    w2 = rng.normal(0.0, (2.0 / (hdim + c)) ** 0.5, (c, hdim)).astype(f32)
    b1 = np.zeros(hdim, f32)
    b2 = np.zeros(c, f32)
    params = [w1, b1, w2, b2]
    velocity = [np.zeros_like(p) for p in params]
    grads = [np.zeros_like(p) for p in params]
    decay = [True, False, True, False]
    lr, mu, two_reg = f32(args.lr), f32(0.9), f32(2.0 * args.reg)

    xb = np.empty((batch, d), f32)
    h = np.empty((batch, hdim), f32)
    s = np.empty((batch, c), f32)
    dh = np.empty((batch, hdim), f32)
    keep = np.empty((batch, hdim), f32)
    drop, scale = args.dropout, f32(1.0 / (1.0 - args.dropout))
    tmp = [np.empty_like(p) for p in params]

    def step(xb, yb):
        m = xb.shape[0]
        hb, sb, dhb = h[:m], s[:m], dh[:m]
        np.matmul(xb, w1.T, out=hb)
        hb += b1
        np.maximum(hb, 0.0, out=hb)
        if drop > 0:
            kb = keep[:m]
            np.greater_equal(rng.random((m, hdim), dtype=f32), drop, out=kb)
            kb *= scale
            hb *= kb
        np.matmul(hb, w2.T, out=sb)
        sb += b2
        sb -= sb.max(axis=1, keepdims=True)
        np.exp(sb, out=sb)
        sb /= sb.sum(axis=1, keepdims=True)
        rows = np.arange(m)
        loss = -np.log(sb[rows, yb]).mean()
        sb[rows, yb] -= 1.0
        sb /= m
        np.matmul(sb.T, hb, out=grads[2])
        sb.sum(axis=0, out=grads[3])
        np.matmul(sb, w2, out=dhb)
        # h > 0 exactly where the unit was active and kept (dropped units are 0 after the mask).
        dhb *= hb > 0
        if drop > 0:
            dhb *= scale
        np.matmul(dhb.T, xb, out=grads[0])
        dhb.sum(axis=0, out=grads[1])
        for p, v, g, t, dec in zip(params, velocity, grads, tmp, decay):
            if dec:
                np.multiply(p, two_reg, out=t)
                t += g
            else:
                t[...] = g
            v *= mu
            t *= lr
            v -= t
            p += v
        return loss

    seconds = []
    losses = []
    for _ in range(args.epochs):
        order = rng.permutation(n)
        total = 0.0
        steps = 0
        start = time.perf_counter()
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            m = idx.shape[0]
            np.take(x, idx, axis=0, out=xb[:m])
            total += step(xb[:m], y[idx])
            steps += 1
        seconds.append(time.perf_counter() - start)
        losses.append(float(total) / steps)
    hv = np.maximum(xv @ w1.T + b1, 0.0)
    val_acc = float(((hv @ w2.T + b2).argmax(1) == yv).mean())
    print(json.dumps({
        "peer": "numpy",
        "version": np.__version__,
        "threads": args.threads,
        "rows": n,
        "batch": batch,
        "hidden": hdim,
        "dropout": drop,
        "seconds_per_epoch": [round(t, 4) for t in seconds],
        "best_s": round(min(seconds), 4),
        "loss_per_epoch": [round(v, 4) for v in losses],
        "val_accuracy": round(val_acc, 4),
    }))


if __name__ == "__main__":
    main()
