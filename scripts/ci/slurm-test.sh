#!/usr/bin/env bash
# CI: sharded extraction as a Slurm job array on a one-node cluster on this machine, training
# streamed from the shards by a dependent job, checked against the same run in memory.
#
#   scripts/ci/slurm-test.sh [PIPELINE_BINARY]
#
# Installs Debian's slurm-wlm and munge if missing, starts munged (as the munge user, with a
# generated key) and slurmctld + slurmd (state, spool and logs under a temporary folder, the
# node and controller on 127.0.0.1), submits scripts/slurm/extract.sbatch as a 4-task array
# over a CIFAR-10 subset from WB_DATA_DIR (the synthetic set when WB_DATA_DIR has no CIFAR-10)
# and scripts/slurm/train.sbatch with --dependency=afterok, waits, and checks that the four
# shards concatenate to the features of one `pipeline extract` and that the streamed test
# accuracy is within 0.003 of `pipeline run` in memory. Every daemon it started is stopped at
# the end, also on failure. Takes about a minute once the packages are installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
pipeline=$(realpath -m "${1:-$root/target/release/pipeline}")
if [[ ! -x $pipeline ]]; then
    echo "slurm-test: $pipeline is not an executable (build it first)" >&2
    exit 1
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "== installing slurm-wlm and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurm-wlm munge >/dev/null
fi

tmp=$(mktemp -d /tmp/wb-slurm-test.XXXXXX)
chmod 755 "$tmp"
started_munged=""
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $started_munged && -f /run/munge/munged.pid ]]; then
        kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    fi
    if [[ $status -ne 0 ]]; then
        echo "slurm-test FAILED; daemon logs:" >&2
        tail -n 20 "$tmp"/slurmctld.log "$tmp"/slurmd.log "$tmp"/*.out 2>/dev/null >&2 || true
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT

echo "== munge"
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    fi
    chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
    chmod 700 /etc/munge
    chmod 400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged
    started_munged=1
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
fi
munge -n </dev/null | unmunge >/dev/null

echo "== slurmctld + slurmd"
host=$(hostname -s)
mkdir -p "$tmp/state" "$tmp/spool"
export SLURM_CONF=$tmp/slurm.conf
cat >"$SLURM_CONF" <<CONF
ClusterName=wbci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -D -i -f "$SLURM_CONF" >"$tmp/slurmctld.stdout" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    scontrol ping 2>/dev/null | grep -q UP && break
    sleep 0.2
done
slurmd -D -f "$SLURM_CONF" >"$tmp/slurmd.stdout" 2>&1 &
pids+=($!)
for _ in $(seq 150); do
    state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
    [[ $state == idle* ]] && break
    sleep 0.2
done
sinfo

echo "== data"
data_args=(--seed 0)
if [[ -n ${WB_DATA_DIR:-} && -d ${WB_DATA_DIR}/cifar-10-batches-bin ]]; then
    data_args+=(--dataset cifar10 --data-dir "$WB_DATA_DIR" --train-limit 4000 --test-limit 2000)
    echo "CIFAR-10 subset from $WB_DATA_DIR"
else
    echo "no CIFAR-10 in WB_DATA_DIR: the synthetic set"
fi
features=(--features hog,color)
train_args=(--model softmax --epochs 10 --buffer-shards 2 --max-memory 512M)

"$pipeline" fit-features "${data_args[@]}" "${features[@]}" --out "$tmp/fitted.json"
chmod -R a+rX "$tmp"

echo "== sbatch: 4 extraction tasks, then training once they succeed"
cd "$tmp"
extract_job=$(sbatch --parsable --array=0-3 --cpus-per-task=1 \
    --export=ALL,PIPELINE="$pipeline",FITTED="$tmp/fitted.json",SHARDS="$tmp/shards",ARGS="${data_args[*]}" \
    "$root/scripts/slurm/extract.sbatch")
echo "extraction array job $extract_job"
train_job_status=0
timeout 600 sbatch --wait --dependency=afterok:"$extract_job" --kill-on-invalid-dep=yes \
    --cpus-per-task="$(nproc)" \
    --export=ALL,PIPELINE="$pipeline",SHARDS="$tmp/shards",OUT="$tmp/run",TRAIN_ARGS="${train_args[*]}" \
    "$root/scripts/slurm/train.sbatch" || train_job_status=$?
scontrol show job "$extract_job" | grep -E "JobId|JobState" || true
if [[ $train_job_status -ne 0 ]]; then
    echo "slurm-test: the training job failed (status $train_job_status)" >&2
    cat "$tmp"/wb-*.out >&2 || true
    exit 1
fi
cat "$tmp"/wb-train-*.out

echo "== checks"
ls "$tmp/shards"
"$pipeline" extract "${data_args[@]}" "${features[@]}" --out "$tmp/whole.safetensors" >/dev/null
"$pipeline" run "${data_args[@]}" "${features[@]}" --model softmax --epochs 10 \
    --out "$tmp/memory" >/dev/null
python3 - "$tmp" <<'PY'
import json, struct, sys
tmp = sys.argv[1]

def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name != "__metadata__":
            a, b = t["data_offsets"]
            out[name] = data[a:b]
    return out

manifest = json.load(open(f"{tmp}/shards/manifest.json"))
assert manifest["shard_count"] == 4, manifest["shard_count"]
assert all(s["checksum"] for s in manifest["shards"]), "a shard is not recorded"
whole = tensors(f"{tmp}/whole.safetensors")
shards = [tensors(f"{tmp}/shards/{s['file']}") for s in manifest["shards"]]
for name in ["train.x", "train.y", "val.x", "val.y", "test.x", "test.y"]:
    joined = b"".join(s[name] for s in shards)
    assert joined == whole[name], f"{name}: the shards differ from one extraction"
streamed = json.load(open(f"{tmp}/run/results.json"))["accuracy"]["test"]
memory = json.load(open(f"{tmp}/memory/results.json"))["accuracy"]["test"]
print(f"test accuracy: streamed from 4 shards {streamed:.4f}, in memory {memory:.4f}")
assert abs(streamed - memory) <= 0.003, "streamed accuracy differs from the in-memory run"
print("4 shards concatenate bit for bit to one extraction")
PY
echo "slurm-test: 1 passed, 0 failed"
