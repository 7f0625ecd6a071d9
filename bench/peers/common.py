"""Shared helpers of the peer scripts: thread limits, the CIFAR-10 reader, the one-line JSON report.

Every peer script is run as `python SCRIPT.py DATA_DIR [options]`, where DATA_DIR holds
`cifar-10-batches-bin/` (or is that folder itself), and prints exactly one JSON line on stdout
(progress goes to stderr). `limit_threads` must run before numpy / OpenCV / torch are imported:
the BLAS and OpenMP pools read their size from the environment when they start.
"""

import json
import os
import platform
import sys
import time

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def limit_threads(argv, default=1):
    """Reads `--threads N` from argv (else `default`) and sets every BLAS/OpenMP pool size to N.

    Call before importing numpy; returns N."""
    threads = default
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            threads = int(argv[i + 1])
        elif a.startswith("--threads="):
            threads = int(a.split("=", 1)[1])
    if threads < 1:
        fail(f"--threads {threads}: must be at least 1")
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)
    return threads


def fail(message):
    """A clear error on stderr and exit 1 (never a traceback for bad input)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def cifar_dir(data_dir):
    """DATA_DIR/cifar-10-batches-bin, or DATA_DIR itself if it holds the batches."""
    for d in (os.path.join(data_dir, "cifar-10-batches-bin"), data_dir):
        if os.path.isfile(os.path.join(d, "data_batch_1.bin")):
            return d
    fail(
        f"{data_dir}: no CIFAR-10 binary batches (expected {data_dir}/cifar-10-batches-bin/"
        "data_batch_1.bin ... test_batch.bin; scripts/download-datasets.sh fetches them)"
    )


def load_cifar10(data_dir, limit=None):
    """All 60,000 CIFAR-10 images (5 training batches, then the test batch) as uint8
    N x 32 x 32 x 3 (interleaved RGB, like the workbench's images), and the labels."""
    import numpy as np

    d = cifar_dir(data_dir)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    images, labels = [], []
    for name in names:
        path = os.path.join(d, name)
        try:
            raw = np.fromfile(path, dtype=np.uint8)
        except OSError as e:
            fail(f"{path}: {e}")
        if raw.size == 0 or raw.size % 3073 != 0:
            fail(f"{path}: {raw.size} bytes is not a whole number of 3073-byte CIFAR-10 records")
        rec = raw.reshape(-1, 3073)
        labels.append(rec[:, 0].astype(np.int64))
        images.append(rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    x = np.ascontiguousarray(np.concatenate(images))
    y = np.concatenate(labels)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x, y


def versions(*modules):
    """name -> version of the given imported modules, plus Python's."""
    out = {"python": platform.python_version()}
    for m in modules:
        out[m.__name__] = getattr(m, "__version__", "?")
    return out


def emit(record):
    """The script's one line of JSON on stdout."""
    print(json.dumps(record, sort_keys=True), flush=True)


def log(message):
    print(message, file=sys.stderr, flush=True)


class Timer:
    """`with Timer() as t: ...` then `t.seconds` (wall clock, perf_counter)."""

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        return False


_FILL = None
_OUT = None


def _fill_rows(a, b):
    _FILL(_OUT, a, b)


def _ready(_):
    return True


def run_rows(n, threads, dim, dtype, fill):
    """Runs `fill(out, a, b)` (which computes rows a..b of the n x dim result) on `threads`
    workers and returns (wall seconds, result).

    One thread runs in this process. More run as forked processes (a pool started and warmed
    before the clock starts) writing into one shared-memory array: Python threads would
    serialise on the interpreter lock between the library calls."""
    import numpy as np

    if threads == 1:
        out = np.empty((n, dim), dtype)
        with Timer() as t:
            fill(out, 0, n)
        return t.seconds, out
    from multiprocessing import get_context, shared_memory

    global _FILL, _OUT
    size = max(1, n * dim * np.dtype(dtype).itemsize)
    shm = shared_memory.SharedMemory(create=True, size=size)
    try:
        _OUT = np.ndarray((n, dim), dtype, buffer=shm.buf)
        _FILL = fill
        bounds = np.linspace(0, n, threads + 1).astype(int)
        with get_context("fork").Pool(threads) as pool:
            pool.map(_ready, range(threads))
            with Timer() as t:
                pool.starmap(_fill_rows, zip(bounds[:-1].tolist(), bounds[1:].tolist()))
        result = _OUT.copy()
    finally:
        _OUT = None
        _FILL = None
        shm.close()
        shm.unlink()
    return t.seconds, result
