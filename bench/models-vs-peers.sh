#!/usr/bin/env bash
# Times the workbench's models against their Python peers in one job, alternating runs, and
# prints every figure and the ratio ours / peer (best of the rounds on each side).
#
#   bench/models-vs-peers.sh DATA_DIR [ROUNDS] [OUT.json]
#
# DATA_DIR holds cifar-10-batches-bin/. Environment:
#   PYTHON       interpreter with torch, numpy, scikit-learn (default: python3)
#   PIPELINE     the pipeline binary (default: target/release/pipeline)
#   EPOCH_SPEED  the wb-mlp example binary (default: target/release/examples/epoch_speed)
#   MEASURES     which measures, space separated (default: "mlp mlp-pipeline softmax svm")
#   THREADS      threads for every run (default: 2)
# Build first: cargo build --release -p wb-pipeline -p wb-mlp --examples
#
# Measures (each ours vs peers, ROUNDS rounds, default 2):
#   mlp           MLP 3072-500-10 epoch, 49,000 rows, batch 200, momentum SGD: the epoch_speed
#                 example (best training s/epoch of 3) on the AVX-512 kernels when the CPU has
#                 them and on the forced AVX2 ones (WB_SIMD=avx2), vs bench/peers/mlp_torch.py
#                 and mlp_numpy.py (best s/epoch of 3).
#   mlp-pipeline  `pipeline run --model mlp --hidden 500 --epochs 3 --augment none`, the fastest of
#                 its printed per-epoch times (which include the per-epoch accuracy passes), vs the
#                 peers with the same dropout 0.2.
#   softmax       `pipeline run --model softmax` (default search) training seconds vs
#                 scikit-learn LogisticRegression's grid (bench/peers/sklearn_linear.py --model lr).
#   svm           `pipeline run --model svm` (L2-SVM by L-BFGS) training seconds vs scikit-learn
#                 SGDClassifier(hinge)'s grid (--model sgd); test accuracies are printed too.
set -euo pipefail

DATA=${1:?usage: bench/models-vs-peers.sh DATA_DIR [ROUNDS] [OUT.json]}
ROUNDS=${2:-2}
OUT=${3:-}
PYTHON=${PYTHON:-python3}
PIPELINE=${PIPELINE:-target/release/pipeline}
EPOCH_SPEED=${EPOCH_SPEED:-target/release/examples/epoch_speed}
MEASURES=${MEASURES:-"mlp mlp-pipeline softmax svm"}
THREADS=${THREADS:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
PEERS="$HERE/peers"
CIFAR="$DATA/cifar-10-batches-bin"
[ -d "$CIFAR" ] || CIFAR="$DATA"
for f in "$PIPELINE" "$EPOCH_SPEED"; do
    [ -x "$f" ] || { echo "error: $f is not built (cargo build --release -p wb-pipeline -p wb-mlp --examples)" >&2; exit 1; }
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
RESULTS="$TMP/results.jsonl"
: > "$RESULTS"

echo "cpu: $(lscpu | sed -n 's/^Model name: *//p')"
echo "simd: $(grep -o -w -E 'avx512f|avx512_bf16|avx512_vnni|avx2|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "threads: $THREADS, rounds: $ROUNDS, date: $(date -u +%FT%TZ)"

# record MEASURE SIDE VARIANT SECONDS [EXTRA-JSON]
record() {
    local load; load=$(cut -d' ' -f1 /proc/loadavg)
    printf '{"measure":"%s","side":"%s","variant":"%s","seconds":%s,"load":%s%s}\n' \
        "$1" "$2" "$3" "$4" "$load" "${5:+,$5}" >> "$RESULTS"
    printf '  %-13s %-5s %-28s %9.3f s   (load %s)\n' "$1" "$2" "$3" "$4" "$load"
}

json_field() { "$PYTHON" -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])" "$1"; }

ours_epoch_speed() { # SIMD
    WB_SIMD=$1 RAYON_NUM_THREADS=$THREADS MATMUL_NUM_THREADS=$THREADS \
        "$EPOCH_SPEED" "$CIFAR" --epochs 3 2>/dev/null \
        | sed -n 's/^best training time per epoch: \([0-9.]*\)s.*/\1/p'
}

pipeline_run() { # OUTDIR ARGS...
    local dir=$1; shift
    "$PIPELINE" run --dataset cifar10 --data-dir "$DATA" --threads "$THREADS" --out "$dir" "$@" \
        > "$dir.log" 2>&1 || { echo "error: pipeline run $* failed, see below" >&2; tail -20 "$dir.log" >&2; exit 1; }
}

for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    for m in $MEASURES; do
        case $m in
        mlp)
            if grep -q -w avx512f /proc/cpuinfo; then
                record mlp ours "wb-mlp avx512" "$(ours_epoch_speed avx512)"
            fi
            record mlp ours "wb-mlp avx2 (forced)" "$(ours_epoch_speed avx2)"
            s=$("$PYTHON" "$PEERS/mlp_torch.py" "$DATA" --threads "$THREADS" | json_field best_s)
            record mlp peer torch "$s"
            s=$("$PYTHON" "$PEERS/mlp_numpy.py" "$DATA" --threads "$THREADS" | json_field best_s)
            record mlp peer numpy "$s"
            ;;
        mlp-pipeline)
            for simd in avx512 avx2; do
                if [ $simd = avx512 ] && ! grep -q -w avx512f /proc/cpuinfo; then continue; fi
                WB_SIMD=$simd pipeline_run "$TMP/mlp-$simd" --model mlp --hidden 500 --epochs 3 --augment none
                s=$("$PYTHON" -c "import json,sys; h=json.load(open(sys.argv[1]))['history']['epochs']; print(min(e['seconds'] for e in h))" "$TMP/mlp-$simd/results.json")
                record mlp-pipeline ours "pipeline mlp $simd" "$s"
            done
            s=$("$PYTHON" "$PEERS/mlp_torch.py" "$DATA" --threads "$THREADS" --dropout 0.2 | json_field best_s)
            record mlp-pipeline peer "torch dropout 0.2" "$s"
            s=$("$PYTHON" "$PEERS/mlp_numpy.py" "$DATA" --threads "$THREADS" --dropout 0.2 | json_field best_s)
            record mlp-pipeline peer "numpy dropout 0.2" "$s"
            ;;
        softmax|svm)
            pipeline_run "$TMP/$m" --model "$m"
            read -r s acc < <("$PYTHON" -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['timings_s']['train'], r['accuracy']['test'])" "$TMP/$m/results.json")
            record "$m" ours "pipeline $m" "$s" "\"test_accuracy\":$acc"
            model=lr; [ "$m" = svm ] && model=sgd
            line=$("$PYTHON" "$PEERS/sklearn_linear.py" "$DATA" --model $model --threads "$THREADS" | tail -1)
            s=$(echo "$line" | json_field seconds)
            acc=$(echo "$line" | json_field test_accuracy)
            record "$m" peer "sklearn $model grid" "$s" "\"test_accuracy\":$acc"
            ;;
        *) echo "error: unknown measure $m" >&2; exit 1 ;;
        esac
    done
done

echo "ratios (best ours / best peer; bars: mlp <= 0.9 x the faster peer, softmax and svm <= 0.3):"
"$PYTHON" - "$RESULTS" "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
summary = {}
for m in dict.fromkeys(r["measure"] for r in rows):
    best = {}
    for r in rows:
        if r["measure"] == m:
            key = (r["side"], r["variant"])
            best[key] = min(best.get(key, float("inf")), r["seconds"])
    peers = {v: s for (side, v), s in best.items() if side == "peer"}
    fastest_peer = min(peers.values())
    for (side, v), s in best.items():
        if side == "ours":
            print(f"  {m:<13} {v:<28} {s:9.3f} s = {s / fastest_peer:.3f} x the faster peer "
                  f"({min(peers, key=peers.get)} {fastest_peer:.3f} s)")
    summary[m] = {"best": {f"{side}:{v}": s for (side, v), s in best.items()}}
if sys.argv[2]:
    with open(sys.argv[2] + ".tmp", "w") as f:
        json.dump({"runs": rows, "summary": summary}, f, indent=1)
    import os
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    print("written", sys.argv[2])
PY
