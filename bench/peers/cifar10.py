"""CIFAR-10 binary reader shared by the MLP and linear-model peers.

The binary batches hold records of one label byte followed by 3072 pixel bytes (1024 red,
1024 green, 1024 blue, row-major 32 x 32). The workbench stores pixels interleaved (H x W x C);
the peers keep them in the same order so every model sees the same feature vector.
"""

import os
import sys

import numpy as np

RECORD = 1 + 3072
TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST_FILE = "test_batch.bin"


def locate(data_dir):
    """The folder holding the binary batches: DATA_DIR itself or DATA_DIR/cifar-10-batches-bin."""
    for candidate in (data_dir, os.path.join(data_dir, "cifar-10-batches-bin")):
        if os.path.isfile(os.path.join(candidate, TRAIN_FILES[0])):
            return candidate
    sys.exit(f"error: no CIFAR-10 binary batches ({TRAIN_FILES[0]}) in {data_dir} "
             "or its cifar-10-batches-bin/ subfolder")


def read(folder, names):
    """Pixels as uint8 (N x 3072, H x W x C order) and labels (N,) from the named batch files."""
    blocks = []
    for name in names:
        path = os.path.join(folder, name)
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % RECORD != 0:
            sys.exit(f"error: {path}: size {raw.size} is not a positive multiple of {RECORD}")
        blocks.append(raw.reshape(-1, RECORD))
    records = np.concatenate(blocks)
    labels = records[:, 0].astype(np.int64)
    planes = records[:, 1:].reshape(-1, 3, 1024)
    pixels = np.ascontiguousarray(planes.transpose(0, 2, 1).reshape(-1, 3072))
    return pixels, labels


def splits(data_dir, n_train=49_000):
    """The workbench's split: the first `n_train` training records for training, the rest of
    the training batches for validation, the test batch for testing; pixels / 255 as float32,
    centred with the training mean per pixel (the workbench's raw-pixel preprocessing)."""
    folder = locate(data_dir)
    x, y = read(folder, TRAIN_FILES)
    xt, yt = read(folder, [TEST_FILE])
    x = x.astype(np.float32) / 255.0
    xt = xt.astype(np.float32) / 255.0
    mean = x[:n_train].mean(axis=0, dtype=np.float64).astype(np.float32)
    x -= mean
    xt -= mean
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:]), (xt, yt)


def mirror(x):
    """Left-right mirror images of H x W x C rows (32 x 32 x 3)."""
    return np.ascontiguousarray(x.reshape(-1, 32, 32, 3)[:, :, ::-1, :].reshape(-1, 3072))
