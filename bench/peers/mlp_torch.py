"""PyTorch peer of the workbench MLP epoch (`crates/mlp/examples/epoch_speed.rs`).

Same network and training as wb-mlp's reference run: 3072 -> 500 ReLU -> 10 scores, softmax
cross-entropy (mean over the batch), weights drawn as wb-mlp draws them (He normal
N(0, 2/fan_in) for the layer before the ReLU, Xavier normal N(0, 2/(fan_in + fan_out)) for the
output layer, biases zero), 49,000 CIFAR-10 rows (pixels / 255 minus the training mean),
shuffled every epoch, batch 200, SGD with momentum 0.9 at lr 0.01, L2 lambda * sum(W^2) on the
weights only (PyTorch weight_decay = 2 * lambda), f32, 2 threads.

    python mlp_torch.py DATA_DIR [--epochs 3] [--threads 2] [--hidden 500] [--dropout 0.2]

`--dropout P` adds inverted dropout after the ReLU, as `pipeline run --model mlp` trains by
default (wb-mlp's `MlpParams::default()` has dropout 0.2; the `epoch_speed` example has none).

prints one JSON line: {"peer": "torch", "seconds_per_epoch": [...], "best_s": ..., ...}.
The timed part is the optimisation steps of each epoch (forward, loss, backward, update), like
wb-mlp's `train_seconds`; data loading and evaluation are outside it.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cifar10  # noqa: E402


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

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    (x, y), (xv, yv), _ = cifar10.splits(args.data_dir)
    x = torch.from_numpy(x)
    y = torch.from_numpy(y)
    n, d = x.shape

    layers = [torch.nn.Linear(d, args.hidden), torch.nn.ReLU()]
    if args.dropout > 0:
        layers.append(torch.nn.Dropout(args.dropout))
    layers.append(torch.nn.Linear(args.hidden, 10))
    model = torch.nn.Sequential(*layers)
    with torch.no_grad():
        first, last = model[0], model[-1]
        first.weight.normal_(0.0, (2.0 / d) ** 0.5)
        last.weight.normal_(0.0, (2.0 / (args.hidden + 10)) ** 0.5)
        first.bias.zero_()
        last.bias.zero_()
    weights = [first.weight, last.weight]
    biases = [first.bias, last.bias]
    opt = torch.optim.SGD(
        [
            {"params": weights, "weight_decay": 2.0 * args.reg},
            {"params": biases, "weight_decay": 0.0},
        ],
        lr=args.lr,
        momentum=0.9,
    )
    loss_fn = torch.nn.CrossEntropyLoss()

    seconds = []
    losses = []
    for _ in range(args.epochs):
        order = torch.randperm(n)
        total = 0.0
        steps = 0
        start = time.perf_counter()
        for i in range(0, n, args.batch):
            idx = order[i : i + args.batch]
            xb = x.index_select(0, idx)
            yb = y.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.detach()
            steps += 1
        mean_loss = float(total) / steps
        seconds.append(time.perf_counter() - start)
        losses.append(mean_loss)
    model.eval()
    with torch.no_grad():
        val_acc = float((model(torch.from_numpy(xv)).argmax(1) == torch.from_numpy(yv)).float().mean())
    print(json.dumps({
        "peer": "torch",
        "version": torch.__version__,
        "threads": args.threads,
        "rows": n,
        "batch": args.batch,
        "hidden": args.hidden,
        "dropout": args.dropout,
        "seconds_per_epoch": [round(s, 4) for s in seconds],
        "best_s": round(min(seconds), 4),
        "loss_per_epoch": [round(v, 4) for v in losses],
        "val_accuracy": round(val_acc, 4),
    }))


if __name__ == "__main__":
    main()
