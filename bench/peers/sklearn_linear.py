"""scikit-learn peers of the workbench's linear models on raw CIFAR-10 pixels.

The data are prepared as `pipeline run --dataset cifar10 --features raw` prepares them: pixels
/ 255, centred with the training mean per pixel, 1,000 training images held out (seeded) for
validation, and by default the training images followed by their left-right mirror images
(`--augment flip`, the workbench's default for CIFAR; `--augment none` keeps 49,000 rows).
Each model searches its own small grid of regularisation strengths, keeps the one with the best
validation accuracy, and reports its test accuracy:

- LogisticRegression (multinomial, L-BFGS, the library's default solver), C in {1e-3, 1e-2, 1e-1}
  (for 98,000 rows these bracket the workbench's softmax L2 of lambda = 1/(2 C N));
- SGDClassifier(loss="hinge") (one-vs-rest linear SVM, the library's default SGD settings:
  optimal learning-rate schedule, tol 1e-3, up to 1000 epochs), alpha in {1e-5, 1e-4, 1e-3},
  classes fitted in parallel (n_jobs = threads).

    python sklearn_linear.py DATA_DIR [--model lr|sgd|both] [--threads 2] [--augment flip|none]

prints one JSON line per model: grid points (parameter, validation accuracy, seconds), the
chosen parameter, its test accuracy, and `seconds` = the whole search (every fit plus its
validation predictions; data loading excluded).
"""

import argparse
import json
import os
import sys
import time
import warnings


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_dir")
    ap.add_argument("--model", choices=["lr", "sgd", "both"], default="both")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--augment", choices=["flip", "none"], default="flip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-limit", type=int, default=None,
                    help="use only the first N training images (a quick check, not a measure)")
    args = ap.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cifar10

    folder = cifar10.locate(args.data_dir)
    x, y = cifar10.read(folder, cifar10.TRAIN_FILES)
    xt, yt = cifar10.read(folder, [cifar10.TEST_FILE])
    order = np.random.default_rng(args.seed).permutation(len(y))
    val_idx, train_idx = order[:1000], order[1000:]
    if args.train_limit:
        train_idx = train_idx[: args.train_limit]
    x = x.astype(np.float32) / 255.0
    xt = xt.astype(np.float32) / 255.0
    xtr, ytr = x[train_idx], y[train_idx]
    xv, yv = x[val_idx], y[val_idx]
    if args.augment == "flip":
        xtr = np.concatenate([xtr, cifar10.mirror(xtr)])
        ytr = np.concatenate([ytr, ytr])
    mean = xtr.mean(axis=0, dtype=np.float64).astype(np.float32)
    xtr -= mean
    xv -= mean
    xt -= mean

    models = {
        "lr": ("LogisticRegression", "C", [1e-3, 1e-2, 1e-1],
               lambda c: LogisticRegression(C=c, max_iter=100)),
        "sgd": ("SGDClassifier(hinge)", "alpha", [1e-5, 1e-4, 1e-3],
                lambda a: SGDClassifier(loss="hinge", alpha=a, n_jobs=args.threads,
                                        random_state=args.seed)),
    }
    chosen = ["lr", "sgd"] if args.model == "both" else [args.model]
    for key in chosen:
        name, param, grid, make = models[key]
        points = []
        best = None
        start = time.perf_counter()
        for value in grid:
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = make(value).fit(xtr, ytr)
            val_acc = float((model.predict(xv) == yv).mean())
            seconds = time.perf_counter() - t
            iters = getattr(model, "n_iter_", None)
            iters = int(np.max(iters)) if iters is not None else None
            points.append({param: value, "val_accuracy": round(val_acc, 4),
                           "seconds": round(seconds, 2), "iterations": iters})
            if best is None or val_acc > best[0]:
                best = (val_acc, value, model)
        total = time.perf_counter() - start
        test_acc = float((best[2].predict(xt) == yt).mean())
        print(json.dumps({
            "peer": "sklearn",
            "model": name,
            "version": sklearn.__version__,
            "threads": args.threads,
            "train_rows": int(len(ytr)),
            "augment": args.augment,
            "grid": points,
            "chosen": {param: best[1]},
            "val_accuracy": round(best[0], 4),
            "test_accuracy": round(test_acc, 4),
            "seconds": round(total, 2),
        }), flush=True)


if __name__ == "__main__":
    main()
