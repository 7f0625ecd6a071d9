#!/usr/bin/env bash
# Peak RSS of runs that must be refused before any data is loaded (issue 14's bar: < 100 MB):
# bad option values, impossible headers (IDX dims that overflow, an IDX count larger than the
# file, a gzip bomb, a PNG claiming 100000 x 100000, a tiny PNG claiming 4000 x 4000) and
# --image-size 100000. Writes the bad
# files into a temporary folder, runs each case under `/usr/bin/time -v`, and prints one row per
# case: exit code, peak RSS, wall seconds, the first line of the error.
#
#   scripts/refusal-rss.sh [PIPELINE_BINARY]   # default: target/release/pipeline
set -euo pipefail
bin="${1:-target/release/pipeline}"
[ -x "$bin" ] || { echo "no binary at $bin (cargo build --release -p wb-pipeline)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'EOF'
import gzip, os, struct, sys, zlib
w = sys.argv[1]
def idx3(n, h, wd, data=b""):
    return b"\x00\x00\x08\x03" + struct.pack(">III", n, h, wd) + data
def idx1(labels):
    return b"\x00\x00\x08\x01" + struct.pack(">I", len(labels)) + bytes(labels)
def mnist(name, images_name, images):
    d = os.path.join(w, name); os.makedirs(d)
    open(os.path.join(d, images_name), "wb").write(images)
    labels = [i % 10 for i in range(20)]
    open(os.path.join(d, "train-labels-idx1-ubyte"), "wb").write(idx1(labels))
    open(os.path.join(d, "t10k-images-idx3-ubyte"), "wb").write(idx3(10, 28, 28, b"\x07" * 7840))
    open(os.path.join(d, "t10k-labels-idx1-ubyte"), "wb").write(idx1(labels[:10]))
mnist("overflow", "train-images-idx3-ubyte", idx3(2**32 - 1, 2**32 - 1, 2**32 - 1, b"\0" * 16))
mnist("count", "train-images-idx3-ubyte", idx3(60000, 28, 28, b"\0" * 784))
# The bomb: a 2-image header, then 1 GiB of zeros (about 1 MiB compressed).
c = zlib.compressobj(9, zlib.DEFLATED, 31)
parts = [c.compress(idx3(2, 28, 28))]
chunk = b"\0" * (1 << 20)
for _ in range(1024):
    parts.append(c.compress(chunk))
parts.append(c.flush())
mnist("bomb", "train-images-idx3-ubyte.gz", b"".join(parts))
def chunk_(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
def png(wd, h, pixels=None):
    raw = pixels if pixels is not None else b"".join(b"\0" + bytes((x * 37 + y * 11) % 256 for x in range(wd * 3)) for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk_(b"IHDR", struct.pack(">IIBBBBB", wd, h, 8, 2, 0, 0, 0))
            + chunk_(b"IDAT", zlib.compress(raw)) + chunk_(b"IEND", b""))
for folder, huge in [("photos", None), ("huge-png", 100000), ("claims", 4000)]:
    for ci, cls in enumerate(["a", "b", "c"]):
        d = os.path.join(w, folder, cls); os.makedirs(d)
        for i in range(6):
            data = png(8, 8) if not (huge and cls == "b" and i == 3) else png(huge, huge, b"\0" * 64)
            open(os.path.join(d, f"img{i}.png"), "wb").write(data)
EOF
ls -la "$work/bomb/train-images-idx3-ubyte.gz" | awk '{print "== gzip bomb: " $5 " bytes on disk, 1 GiB + 16 bytes decompressed"}'
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'); $(lscpu | grep 'Model name' | sed 's/  */ /g'); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== binary: $bin"

row() {
    local name="$1"; shift
    local status=0
    /usr/bin/time -v -o "$work/time.txt" "$bin" "$@" >"$work/out.txt" 2>"$work/err.txt" || status=$?
    local rss wall
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    printf '| %s | `pipeline %s` | %s | %s MB | %s | %s |\n' "$name" "$(echo "$@" | sed "s#$work#DIR#g")" \
        "$status" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1000 }')" "$wall" \
        "$(grep -m1 '^error' "$work/err.txt" | sed "s#$work#DIR#g" | cut -c1-110)"
}
echo "| case | command | exit | peak RSS | wall | message |"
echo "|---|---|---|---|---|---|"
row "baseline: --version" --version
row "--image-size 100000" run --dataset folder --data-dir "$work/photos" --image-size 100000
row "--val-size 0" run --val-size 0
row "--lr nan" run --lr nan
row "--cv 1" run --cv 1
row "IDX dims overflow" run --dataset mnist --data-dir "$work/overflow"
row "IDX count > file" run --dataset mnist --data-dir "$work/count"
row "gzip bomb (1 GiB)" run --dataset mnist --data-dir "$work/bomb"
row "PNG header 100000x100000" run --dataset folder --data-dir "$work/huge-png"
row "a 69-byte PNG claiming 4000x4000" run --dataset folder --data-dir "$work/claims"
row "reference: a small run that loads data" run --train-limit 200 --val-size 50 --test-limit 50 --epochs 1 --threads 1
