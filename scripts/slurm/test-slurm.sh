#!/usr/bin/env bash
# Runs the README's Slurm recipe on a real scheduler: brings up a single-node Slurm on this host
# (Debian's slurm-wlm and munge; a minimal slurm.conf with proctrack/linuxproc and task/none,
# SlurmUser root), submits scripts/slurm/ingest-array.sbatch as a 3-task array with
# `sbatch --wait` on a fixtures-written dataset, merges the parts, and compares the sha256 of
# every file with a single-process run. The daemons it started are stopped on exit (trap).
#
# Needs root (apt-get, daemons). Not part of scripts/test.sh: it installs and starts system
# daemons. If the packages cannot be installed or the daemons do not come up, it prints one
# SKIPPED line saying why and exits 0 (the parts-and-merge cargo test,
# ingest/tests/part_merge.rs, covers the same bytes without a scheduler).
#
#   bash scripts/slurm/test-slurm.sh [--parts N]      # default 3
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
parts=3
[[ ${1:-} == --parts ]] && parts=$2
skip() { echo "SKIPPED: single-node Slurm test: $*"; exit 0; }

work="$(mktemp -d /tmp/spiketrain-slurm.XXXXXX)"
pids=()
cleanup() {
    local rc=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    [[ -f "$work/munged.pid" ]] && kill "$(cat "$work/munged.pid")" 2>/dev/null || true
    if [[ $rc -ne 0 && -d "$work" ]]; then
        echo "--- slurmctld.log (tail)"; tail -n 20 "$work/slurmctld.log" 2>/dev/null || true
        echo "--- slurmd.log (tail)"; tail -n 20 "$work/slurmd.log" 2>/dev/null || true
        echo "logs and data kept in $work"
    else
        cd /
        rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work"; }
    fi
}
trap cleanup EXIT

# 1. Packages.
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    [[ $(id -u) -eq 0 ]] || skip "slurm-wlm / munge are not installed and this is not root"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get install -y --no-install-recommends slurm-wlm munge >"$work/apt.log" 2>&1 ||
        { apt-get update >>"$work/apt.log" 2>&1 &&
            apt-get install -y --no-install-recommends slurm-wlm munge >>"$work/apt.log" 2>&1; }; }; then
        skip "apt-get could not install slurm-wlm and munge ($(tail -n 1 "$work/apt.log"))"
    fi
fi
[[ $(id -u) -eq 0 ]] || skip "the daemons are started as root (SlurmUser=root); run as root"

# 2. The binaries (built here, copied out of target/ so other builds cannot replace them).
echo "building dvs-ingest and dvs-fixtures (release)"
(cd "$root" && cargo build --release --locked -q -p dvs-ingest -p dvs-fixtures)
mkdir -p "$work/bin"
cp "$root/target/release/dvs-ingest" "$root/target/release/dvs-fixtures" "$work/bin/"
export DVS_INGEST="$work/bin/dvs-ingest"

# 3. munge: a fresh key for this test, its own socket, pid and log files.
key="$work/munge.key"
dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
chmod 400 "$key"
mkdir -p "$work/munge"
sock="$work/munge/munge.socket"
munged --force --key-file="$key" --socket="$sock" --pid-file="$work/munged.pid" \
    --log-file="$work/munged.log" --seed-file="$work/munge.seed" ||
    skip "munged did not start ($(tail -n 1 "$work/munged.log" 2>/dev/null))"

# 4. slurm.conf: one node = this host, every path under $work.
host="$(hostname -s)"
cpus="$(nproc)"
cat >"$work/slurm.conf" <<CONF
ClusterName=spiketrain-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p "$work/state" "$work/spool"
export SLURM_CONF="$work/slurm.conf"

# 5. The daemons, in the foreground of background jobs so the trap can stop exactly them.
slurmctld -D -i >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D >"$work/slurmd.out" 2>&1 &
pids+=($!)
up=""
for _ in $(seq 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then up=1; break; fi
    sleep 1
done
if [[ -z $up ]]; then
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || true; done
    skip "slurmctld/slurmd did not bring the node up within 60 s (sinfo: $(sinfo -h 2>&1 | head -n 1))"
fi
echo "slurm is up: $(sinfo -h -o '%P %D %T %c CPUs' | head -n 1)"

# 6. A fixtures dataset, one single-process run, the array job, the merge, the bytes.
"$work/bin/dvs-fixtures" --layout cifar10dvs-aedat4 --size tiny --seed 5 --out "$work/raw" --quiet >/dev/null
flags=(--dataset cifar10dvs-aedat4 --input "$work/raw/CIFAR10DVS-aedat4" --frames 16 --shard-mb 1)
started=$(date +%s)
"$DVS_INGEST" run "${flags[@]}" --output "$work/out" --no-progress
mv "$work/out" "$work/single"

cd "$work"
sbatch --wait --array=1-"$parts" "$root/scripts/slurm/ingest-array.sbatch" "$work/parts" "${flags[@]}"
for log in "$work"/dvs-ingest-part-*.out; do echo "$(basename "$log"): $(cat "$log")"; done
"$DVS_INGEST" merge "$work"/parts/part-* --output "$work/out" --no-progress

digest() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
if ! diff <(digest "$work/single") <(digest "$work/out") >"$work/diff.txt"; then
    echo "FAILED: the merged dataset differs from the single-process run:"
    cat "$work/diff.txt"
    exit 1
fi
files=$(digest "$work/out" | wc -l)
echo "PASSED: sbatch --wait --array=1-$parts + merge == single-process run (sha256 of all $files files; $(( $(date +%s) - started )) s)"
