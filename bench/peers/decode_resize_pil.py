"""Pillow's decode + resize of a photo folder: the peer of the workbench's folder loader.

    python decode_resize_pil.py PHOTOS_DIR [--threads N] [--size 64] [--draft]

Reads every *.jpg under PHOTOS_DIR/<class>/ (the folder `crates/data/examples/decode_speed.rs`
writes), and for each file does what torchvision's ImageFolder + Resize(S) + CenterCrop(S) does
with Pillow: open, convert("RGB"), resize the shorter side to S with the antialiased BILINEAR
filter, crop the centre S x S, and turn it into a uint8 array. With --threads N > 1 the files
are shared among N worker processes (as a DataLoader with N workers does), each returning its
arrays. --draft first asks the JPEG decoder for a reduced-size decode (Image.draft, DCT scaling
to the smallest power-of-two reduction still >= S), the fastest path Pillow offers, which
torchvision does not use.

Prints one JSON line on stdout: images, seconds, images_per_s, and the settings.
"""

import json
import os
import sys
import time


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def parse(argv):
    opts = {"dir": None, "threads": 1, "size": 64, "draft": False}
    it = iter(argv)
    for a in it:
        if a == "--threads":
            opts["threads"] = int(next(it, "0"))
        elif a == "--size":
            opts["size"] = int(next(it, "0"))
        elif a == "--draft":
            opts["draft"] = True
        elif a.startswith("--"):
            fail(f"unknown option {a}")
        elif opts["dir"] is None:
            opts["dir"] = a
        else:
            fail(f"unexpected argument {a}")
    if opts["dir"] is None:
        fail("usage: decode_resize_pil.py PHOTOS_DIR [--threads N] [--size 64] [--draft]")
    if opts["threads"] < 1 or opts["size"] < 1:
        fail("--threads and --size must be at least 1")
    return opts


def list_jpegs(root):
    files = []
    for dirpath, _, names in os.walk(root, followlinks=True):
        files.extend(os.path.join(dirpath, n) for n in names if n.lower().endswith(".jpg"))
    files.sort()
    return files


SIZE = 64
DRAFT = False


def init(size, draft):
    global SIZE, DRAFT
    SIZE, DRAFT = size, draft


def load(path):
    from PIL import Image
    import numpy as np

    with Image.open(path) as im:
        if DRAFT:
            im.draft("RGB", (SIZE, SIZE))
        im = im.convert("RGB")
        w, h = im.size
        scale = SIZE / min(w, h)
        rw, rh = max(SIZE, round(w * scale)), max(SIZE, round(h * scale))
        im = im.resize((rw, rh), Image.BILINEAR)
        left, top = (rw - SIZE) // 2, (rh - SIZE) // 2
        im = im.crop((left, top, left + SIZE, top + SIZE))
        return np.asarray(im, dtype=np.uint8)


def main():
    opts = parse(sys.argv[1:])
    files = list_jpegs(opts["dir"])
    if not files:
        fail(f"{opts['dir']}: no .jpg files under it")
    import numpy as np
    import PIL

    init(opts["size"], opts["draft"])
    start = time.perf_counter()
    if opts["threads"] == 1:
        arrays = [load(f) for f in files]
    else:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(
            opts["threads"], initializer=init, initargs=(opts["size"], opts["draft"])
        ) as pool:
            arrays = pool.map(load, files, chunksize=32)
    batch = np.stack(arrays)
    seconds = time.perf_counter() - start
    assert batch.shape == (len(files), opts["size"], opts["size"], 3)
    print(
        json.dumps(
            {
                "peer": "pillow",
                "pillow": PIL.__version__,
                "images": len(files),
                "seconds": round(seconds, 4),
                "images_per_s": round(len(files) / seconds, 1),
                "threads": opts["threads"],
                "size": opts["size"],
                "draft": opts["draft"],
            }
        )
    )


if __name__ == "__main__":
    main()
