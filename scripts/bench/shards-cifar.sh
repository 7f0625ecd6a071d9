#!/usr/bin/env bash
# The issue-15 accuracy bar: CIFAR-10 HOG + hue histogram, each SGD model trained in memory
# (`pipeline run`) and streamed from 8 feature shards (`pipeline run --features-from`, 2 shards
# in the shuffle buffer), test accuracies side by side.
#
#   scripts/bench/shards-cifar.sh DATA_DIR [OUT] [PIPELINE]
set -euo pipefail
data=${1:?usage: shards-cifar.sh DATA_DIR [OUT] [PIPELINE]}
out=${2:-shards-cifar-out}
P=${3:-target/release/pipeline}
mkdir -p "$out"
common=(--dataset cifar10 --data-dir "$data" --seed 0)
features=(--features hog,color)
"$P" fit-features "${common[@]}" "${features[@]}" --out "$out/fitted.json"
for i in $(seq 0 7); do
    "$P" extract "${common[@]}" --shard "$i/8" --fitted "$out/fitted.json" --out "$out/shards" | tail -n 2
done
models=(
    "softmax:--model softmax"
    "svm-hinge-sgd:--model svm --svm-loss hinge --solver sgd"
    "mlp:--model mlp"
)
for entry in "${models[@]}"; do
    name=${entry%%:*}
    read -r -a model <<<"${entry#*:}"
    /usr/bin/time -v "$P" run "${common[@]}" "${features[@]}" "${model[@]}" --out "$out/memory-$name" \
        >"$out/memory-$name.log" 2>&1
    /usr/bin/time -v "$P" run --features-from "$out/shards" "${model[@]}" --buffer-shards 2 \
        --out "$out/stream-$name" >"$out/stream-$name.log" 2>&1
    python3 - "$out" "$name" <<'PY'
import json, re, sys
out, name = sys.argv[1:]
def get(kind):
    r = json.load(open(f"{out}/{kind}-{name}/results.json"))
    log = open(f"{out}/{kind}-{name}.log").read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", log).group(1)) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", log).group(1)
    return r["accuracy"]["test"], r["chosen"], rss, wall
m, s = get("memory"), get("stream")
print(f"{name}: in memory {m[0]:.4f} (lr {m[1]['lr']} reg {m[1]['reg']}, {m[2]:.0f} MiB, {m[3]}); "
      f"streamed {s[0]:.4f} (lr {s[1]['lr']} reg {s[1]['reg']}, {s[2]:.0f} MiB, {s[3]}); "
      f"difference {s[0] - m[0]:+.4f}")
PY
done
