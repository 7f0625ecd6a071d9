"""Runs the workbench's measurements and their peers alternately, in one job, and writes a JSON.

Called by `scripts/bench-vs-peers.sh` (which builds the binary and prints the CPU); standard
library only, so any Python 3.8+ can drive it while the peers run in the venv given by
`--python`.

    python harness.py --bin target/release/pipeline --data-dir DATA_DIR --python VENV/bin/python
                      [--out OUT.json] [--rounds 2] [--quick] [--only hog,gabor,kmeans,mlp,linear]

Every measure runs `--rounds` rounds; in each round our command and each peer command run back
to back, ours first in odd rounds and last in even ones, so a drift of the machine's speed hits
both sides alike. Our side is always the `pipeline` binary exactly as a user runs it
(`pipeline extract ...`, `pipeline run ...`), under `/usr/bin/time -v` for its peak RSS.

Ratios are ours / peer of the best round of each side: for rates (images/s) a ratio above 1
means we are faster; for times (seconds) a ratio below 1 means we are faster. The bars of
issue 13 are printed beside them.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MEASURES = ("hog", "gabor", "kmeans", "mlp", "linear")


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return None


class Runner:
    def __init__(self, args):
        self.args = args
        self.time_v = shutil.which("time") and os.path.exists("/usr/bin/time")
        self.commands = []

    def run(self, cmd, label, env=None):
        """Runs cmd under /usr/bin/time -v; returns (stdout, stderr, wall seconds, peak RSS MiB)."""
        full = (["/usr/bin/time", "-v"] if self.time_v else []) + cmd
        shown = " ".join(cmd)
        if shown not in self.commands:
            self.commands.append(shown)
        log(f"  [{label}] {shown}")
        e = dict(os.environ)
        if env:
            e.update(env)
        start = time.perf_counter()
        p = subprocess.run(full, capture_output=True, text=True, env=e)
        wall = time.perf_counter() - start
        if p.returncode != 0:
            tail = "\n".join(p.stderr.strip().splitlines()[-15:])
            raise Failure(f"{label}: `{shown}` exited with {p.returncode}:\n{tail}")
        rss = None
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        if m:
            rss = int(m.group(1)) / 1024.0
        return p.stdout, p.stderr, wall, rss

    def peer(self, script, extra, label):
        """Runs a peer script; returns its JSON records (every stdout line that parses) and RSS."""
        path = os.path.join(HERE, script)
        out, _, wall, rss = self.run(
            [self.args.python, path, self.args.data_dir] + extra, label
        )
        records = []
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        if not records:
            raise Failure(f"{label}: {script} printed no JSON line")
        return records, wall, rss

    def ours(self, argv, label):
        return self.run([self.args.bin] + argv, label)


def parse_extract(stdout):
    """(images, seconds, images/s) from `pipeline extract`'s summary line."""
    m = re.search(
        r"extracted (\d+) images x (\d+) features in ([0-9.]+)s: ([0-9.]+) images/s on (\d+) threads",
        stdout,
    )
    if not m:
        raise Failure(f"cannot find the `extracted ...` line in pipeline's output:\n{stdout}")
    return {
        "images": int(m.group(1)),
        "dim": int(m.group(2)),
        "seconds": float(m.group(3)),
        "images_per_s": float(m.group(4)),
        "threads": int(m.group(5)),
    }


class Series:
    """Figures of one row, one per round."""

    def __init__(self, name, unit, side, command=None):
        self.name, self.unit, self.side, self.command = name, unit, side, command
        self.values, self.rss = [], []
        self.note = None

    def add(self, value, rss=None):
        self.values.append(value)
        if rss is not None:
            self.rss.append(rss)

    def best(self):
        """The fastest round (highest rate, lowest time), or the highest accuracy."""
        if not self.values:
            return None
        return min(self.values) if self.unit == "s" else max(self.values)

    def to_json(self):
        return {
            "name": self.name,
            "side": self.side,
            "unit": self.unit,
            "values": self.values,
            "best": self.best(),
            "peak_rss_mib": max(self.rss) if self.rss else None,
            "command": self.command,
            "note": self.note,
        }


class Measure:
    def __init__(self, runner, quick):
        self.r, self.quick = runner, quick
        self.series = {}
        self.ratios = []  # (ours, peer, bar text, bar test)
        self.notes = []

    def s(self, key, name, unit, side, command=None):
        if key not in self.series:
            self.series[key] = Series(name, unit, side, command)
        return self.series[key]

    def ratio(self, ours, peer, bar=None, bar_ok=None):
        self.ratios.append((ours, peer, bar, bar_ok))

    def data_flags(self):
        a = self.r.args
        flags = ["--dataset", "cifar10", "--data-dir", a.data_dir]
        if self.quick:
            flags += ["--train-limit", "5000", "--test-limit", "1000"]
        return flags

    def tmp(self, name):
        return os.path.join(self.r.args.work, name)

    def report(self):
        rows = []
        for ours_key, peer_key, bar, bar_ok in self.ratios:
            o, p = self.series.get(ours_key), self.series.get(peer_key)
            if not o or not p or o.best() is None or p.best() is None:
                continue
            ratio = o.best() / p.best()
            rows.append(
                {
                    "ours": o.name,
                    "peer": p.name,
                    "unit": o.unit,
                    "ratio": ratio,
                    "per_round": [
                        a / b for a, b in zip(o.values, p.values) if b
                    ],
                    "bar": bar,
                    "meets_bar": (bar_ok(ratio) if bar_ok else None),
                }
            )
        return {
            "series": [s.to_json() for s in self.series.values()],
            "ratios": rows,
            "notes": self.notes,
        }


# ---------------------------------------------------------------------------------- measures


class Hog(Measure):
    name = "hog"

    def ours(self, rnd):
        out = self.tmp("hog.safetensors")
        for threads, preset in ((1, None), (2, None), (1, "dalal-triggs")):
            argv = ["extract"] + self.data_flags() + [
                "--features", "hog", "--augment", "none", "--threads", str(threads), "--out", out,
            ]
            if preset:
                argv += ["--hog-preset", preset]
            key = f"ours_{threads}" + (f"_{preset}" if preset else "")
            label = f"ours HOG {threads} thread(s)" + (f", preset {preset}" if preset else "")
            stdout, _, _, rss = self.r.ours(argv, label)
            fig = parse_extract(stdout)
            name = f"pipeline extract --features hog --threads {threads}" + (
                f" --hog-preset {preset}" if preset else ""
            )
            self.s(key, name, "images/s", "ours", " ".join(argv)).add(fig["images_per_s"], rss)
            log(f"    {fig['images_per_s']:,.0f} images/s ({fig['images']} images)")

    def peers(self, rnd):
        limit = ["--limit", "6000", "--skimage-limit", "1000"] if self.quick else ["--skimage-limit", "10000"]
        for threads in (1, 2):
            only = "opencv,opencv-color,skimage" if threads == 1 else "opencv"
            recs, _, rss = self.r.peer(
                "hog_peers.py", ["--threads", str(threads), "--only", only] + limit,
                f"peer HOG {threads} thread(s)",
            )
            rec = recs[-1]
            for key, name in (
                ("opencv", "OpenCV HOGDescriptor, gray"),
                ("opencv_color", "OpenCV HOGDescriptor, RGB (max-gradient channel)"),
                ("skimage", "scikit-image hog"),
            ):
                if f"{key}_images_per_s" in rec:
                    self.s(f"{key}_{threads}", f"{name}, {threads} thread(s)", "images/s", "peer").add(
                        rec[f"{key}_images_per_s"], rss
                    )
                    log(f"    {name}: {rec[f'{key}_images_per_s']:,.0f} images/s")
            self.versions = rec.get("versions")

    def finish(self):
        ge2 = lambda r: r >= 2.0  # noqa: E731
        self.ratio("ours_1", "opencv_1", "≥ 2x OpenCV, 1 thread", ge2)
        self.ratio("ours_1", "skimage_1")
        self.ratio("ours_2", "opencv_2")
        self.ratio("ours_1_dalal-triggs", "opencv_color_1")


class Gabor(Measure):
    name = "gabor"

    def ours(self, rnd):
        out = self.tmp("gabor.safetensors")
        for threads in (1, 2):
            argv = ["extract"] + self.data_flags() + [
                "--features", "gabor", "--augment", "none", "--threads", str(threads), "--out", out,
            ]
            stdout, _, _, rss = self.r.ours(argv, f"ours Gabor {threads} thread(s)")
            fig = parse_extract(stdout)
            self.s(f"ours_{threads}", f"pipeline extract --features gabor --threads {threads}",
                   "images/s", "ours", " ".join(argv)).add(fig["images_per_s"], rss)
            log(f"    {fig['images_per_s']:,.0f} images/s")

    def peers(self, rnd):
        limit = "1000" if self.quick else "10000"
        for threads in (1, 2):
            recs, _, rss = self.r.peer(
                "gabor_peers.py", ["--threads", str(threads), "--limit", limit],
                f"peer Gabor {threads} thread(s)",
            )
            rec = recs[-1]
            self.s(f"peer_{threads}",
                   f"scikit-image gabor_kernel + cv2.filter2D, {threads} thread(s)",
                   "images/s", "peer").add(rec["images_per_s"], rss)
            log(f"    {rec['images_per_s']:,.0f} images/s on {rec['images']} images")

    def finish(self):
        self.ratio("ours_1", "peer_1", "≥ 10x, 1 thread", lambda r: r >= 10.0)
        self.ratio("ours_2", "peer_2")


class Kmeans(Measure):
    name = "kmeans"

    def small(self):
        return ["--kmeans-centroids", "200", "--kmeans-patches", "50000"] if self.quick else []

    def ours(self, rnd):
        argv = ["extract"] + self.data_flags() + [
            "--features", "kmeans", "--augment", "none", "--threads", "2",
            "--out", self.tmp("kmeans.safetensors"),
        ] + self.small()
        stdout, _, wall, rss = self.r.ours(argv, "ours k-means, 2 threads")
        fig = parse_extract(stdout)
        self.s("ours", "pipeline extract --features kmeans --threads 2 (fit + encode)", "s",
               "ours", " ".join(argv)).add(fig["seconds"], rss)
        log(f"    {fig['seconds']:.1f} s for {fig['images']} images, peak RSS {rss} MiB")

    def peers(self, rnd):
        extra = ["--threads", "2"]
        if self.quick:
            extra += ["--limit", "7000", "--centroids", "200", "--patches", "50000"]
        recs, _, rss = self.r.peer("kmeans_peer.py", extra, "peer k-means, 2 threads")
        rec = recs[-1]
        self.s("peer", "numpy + scikit-learn KMeans, Coates recipe (fit + encode)", "s",
               "peer").add(rec["seconds"], rss)
        log(f"    {rec['seconds']:.1f} s (fit {rec['fit_seconds']:.1f}, encode "
            f"{rec['encode_seconds']:.1f}), peak RSS {rss} MiB")
        # Keep the phases for the JSON.
        self.s("peer_fit", "numpy + scikit-learn: fit (patches, ZCA, KMeans)", "s", "peer").add(
            rec["fit_seconds"])
        self.s("peer_encode", "numpy + scikit-learn: encode", "s", "peer").add(
            rec["encode_seconds"])

    def finish(self):
        self.ratio("ours", "peer", "≤ 0.5x", lambda r: r <= 0.5)


def results_json(directory):
    path = os.path.join(directory, "results.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise Failure(f"{path}: {e}")


class Mlp(Measure):
    name = "mlp"
    scripts = (("mlp_torch.py", "PyTorch"), ("mlp_numpy.py", "numpy"))

    def ours(self, rnd):
        out = self.tmp("mlp-run")
        epochs = "1" if self.quick else "3"
        argv = ["run"] + self.data_flags() + [
            "--model", "mlp", "--hidden", "500", "--epochs", epochs, "--augment", "none",
            # The peers' network has no dropout (their default); `pipeline run` trains with 0.2
            # unless told, which adds a mask pass per step that the peers do not do.
            "--dropout", "0", "--threads", "2", "--out", out,
        ]
        _, _, _, rss = self.r.ours(argv, "ours MLP, 2 threads")
        rep = results_json(out)
        epochs_stats = rep.get("history", {}).get("epochs", [])
        if not epochs_stats:
            raise Failure(f"{out}/results.json has no history.epochs")
        step = [e["train_seconds"] for e in epochs_stats]
        whole = [e["seconds"] for e in epochs_stats]
        # The fastest epoch on both sides (the peers report `best_s`): the first epoch of each
        # carries its warm-up (page faults, thread pools, PyTorch's kernel selection).
        self.s("ours", "pipeline run --model mlp --hidden 500, fastest epoch's steps, s", "s",
               "ours", " ".join(argv)).add(min(step), rss)
        self.s("ours_mean", "same, mean over the epochs, s", "s", "ours").add(
            sum(step) / len(step))
        self.s("ours_whole", "same, fastest epoch incl. evaluation, s", "s", "ours").add(
            min(whole))
        log(f"    fastest epoch {min(step):.2f} s of steps (mean {sum(step) / len(step):.2f} s), "
            f"{min(whole):.2f} s with evaluation")

    def peers(self, rnd):
        for script, name in self.scripts:
            key = script[:-3]
            if not os.path.exists(os.path.join(HERE, script)):
                if rnd == 0:
                    self.notes.append(f"{script} is absent from bench/peers: {name} peer skipped")
                    log(f"  [skip] bench/peers/{script} is absent: no {name} MLP peer")
                continue
            recs, _, rss = self.r.peer(script, [], f"peer MLP {name}")
            rec = recs[-1]
            if "best_s" not in rec or "seconds_per_epoch" not in rec:
                raise Failure(f"{script} printed {rec}, with no best_s / seconds_per_epoch")
            per_epoch = rec["seconds_per_epoch"]
            self.s(key, f"{rec.get('peer', name)} {rec.get('version', '')} MLP, fastest epoch, s",
                   "s", "peer").add(rec["best_s"], rss)
            log(f"    {name}: fastest epoch {rec['best_s']:.2f} s (epochs: "
                + ", ".join(f"{t:.2f}" for t in per_epoch) + ")")

    def finish(self):
        for script, _ in self.scripts:
            self.ratio("ours", script[:-3], "≤ 0.9x the faster peer", lambda r: r <= 0.9)


class Linear(Measure):
    name = "linear"
    script = "sklearn_linear.py"

    def ours(self, rnd):
        for model in ("softmax", "svm"):
            out = self.tmp(f"{model}-run")
            argv = ["run"] + self.data_flags() + ["--model", model, "--threads", "2", "--out", out]
            _, _, _, rss = self.r.ours(argv, f"ours {model}")
            rep = results_json(out)
            train = rep["timings_s"]["train"]
            acc = rep["accuracy"]["test"]
            self.s(model, f"pipeline run --model {model}: training s", "s", "ours",
                   " ".join(argv)).add(train, rss)
            self.s(f"{model}_acc", f"pipeline run --model {model}: test accuracy", "accuracy",
                   "ours").add(acc)
            log(f"    {model}: train {train:.1f} s, test accuracy {acc:.4f}, RSS {rss} MiB")

    def peers(self, rnd):
        if not os.path.exists(os.path.join(HERE, self.script)):
            if rnd == 0:
                self.notes.append(f"{self.script} is absent from bench/peers: scikit-learn peers skipped")
                log(f"  [skip] bench/peers/{self.script} is absent: no scikit-learn peer")
            return
        recs, _, rss = self.r.peer(self.script, [], "peer scikit-learn")
        for rec in recs:
            if "seconds" not in rec:
                continue
            # The record names the library in `peer` and the estimator in `model`.
            name = str(rec.get("model", rec.get("peer", "sklearn")))
            key = self.peer_key(name, len(recs))
            self.s(key, f"{name}: s", "s", "peer").add(rec["seconds"], rss)
            if "test_accuracy" in rec:
                self.s(f"{key}_acc", f"{name}: test accuracy", "accuracy", "peer").add(
                    rec["test_accuracy"])
            log(f"    {name}: {rec['seconds']:.1f} s, test accuracy {rec.get('test_accuracy')}")

    @staticmethod
    def peer_key(name, count):
        low = name.lower()
        if any(w in low for w in ("logistic", "logreg", "softmax")):
            return "sk_softmax"
        if any(w in low for w in ("sgd", "svm", "hinge")):
            return "sk_svm"
        return "sk_linear"

    def finish(self):
        le03 = lambda r: r <= 0.3  # noqa: E731
        self.ratio("softmax", "sk_softmax", "≤ 0.3x LogisticRegression grid", le03)
        self.ratio("svm", "sk_svm", "≤ 0.3x SGDClassifier grid", le03)
        self.ratio("softmax", "sk_linear")
        self.ratio("svm", "sk_linear")


CLASSES = {"hog": Hog, "gabor": Gabor, "kmeans": Kmeans, "mlp": Mlp, "linear": Linear}


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "images/s":
        return f"{v:,.0f}/s"
    if unit == "accuracy":
        return f"{v:.4f}"
    return f"{v:.2f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the pipeline binary")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--python", default=sys.executable, help="Python with the peers' packages")
    ap.add_argument("--out", help="JSON to write")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="small subsets: a smoke run")
    ap.add_argument("--only", default=",".join(MEASURES))
    ap.add_argument("--cpu", default="", help="CPU model (for the JSON)")
    ap.add_argument("--flags", default="", help="CPU flags (for the JSON)")
    ap.add_argument("--commit", default="", help="the binary's source commit (for the JSON)")
    args = ap.parse_args()
    chosen = [m.strip() for m in args.only.split(",") if m.strip()]
    for m in chosen:
        if m not in CLASSES:
            print(f"error: --only {m}: unknown measure (valid: {', '.join(MEASURES)})", file=sys.stderr)
            return 1
    if args.rounds < 2 and not args.quick:
        print("error: --rounds must be at least 2 (1 is allowed with --quick)", file=sys.stderr)
        return 1
    if not os.access(args.bin, os.X_OK):
        print(f"error: --bin {args.bin}: not an executable", file=sys.stderr)
        return 1

    runner = Runner(args)
    if not runner.time_v:
        log("note: /usr/bin/time is missing (Debian package `time`): peak RSS is not recorded")
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = load_average()
    log(f"load average before: {load_before}")
    measures = []
    with tempfile.TemporaryDirectory(prefix="bench-vs-peers-") as work:
        args.work = work
        try:
            for name in chosen:
                m = CLASSES[name](runner, args.quick)
                measures.append(m)
                log(f"== {name}")
                for rnd in range(args.rounds):
                    log(f" round {rnd + 1}/{args.rounds} (load {load_average()})")
                    if rnd % 2 == 0:
                        m.ours(rnd)
                        m.peers(rnd)
                    else:
                        m.peers(rnd)
                        m.ours(rnd)
                m.finish()
        except Failure as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    load_after = load_average()

    result = {
        "date": started.isoformat(timespec="seconds"),
        "cpu": args.cpu,
        "cpu_flags": args.flags,
        "commit": args.commit,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "rounds": args.rounds,
        "quick": args.quick,
        "commands": runner.commands,
        "measures": {},
    }
    log("")
    log(f"== summary ({args.rounds} rounds, load before {load_before}, after {load_after})")
    for m in measures:
        rep = m.report()
        result["measures"][m.name] = rep
        log(f"-- {m.name}")
        for s in rep["series"]:
            vals = ", ".join(fmt(v, s["unit"]) for v in s["values"])
            rss = f", peak RSS {s['peak_rss_mib']:.0f} MiB" if s["peak_rss_mib"] else ""
            log(f"   {s['side']:<4} {s['name']}: {vals} (best {fmt(s['best'], s['unit'])}{rss})")
        for r in rep["ratios"]:
            what = "faster when > 1" if r["unit"] == "images/s" else "faster when < 1"
            bar = ""
            if r["bar"]:
                bar = f"  bar {r['bar']}: {'met' if r['meets_bar'] else 'NOT met'}"
            log(f"   ratio ours/peer {r['ratio']:.2f}x ({what}; per round "
                f"{', '.join(f'{x:.2f}' for x in r['per_round'])}): {r['ours']} / {r['peer']}{bar}")
        for n in rep["notes"]:
            log(f"   note: {n}")
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.out)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
