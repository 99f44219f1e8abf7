#!/bin/bash
# Runs deploy/slurm/sweep.sbatch and merge.sbatch on a real, one-node Slurm cluster started on
# this machine, and checks that the merged rows equal an unsharded run of the same SPEC, byte
# for byte. Needs root and apt (Debian/Ubuntu: installs slurm-wlm and munge); no systemd, no
# cgroups: munged, slurmctld and slurmd are started by hand from a configuration generated in a
# temporary directory, and stopped at the end. Not part of CI (it installs packages).
#
#   deploy/slurm/local-cluster-test.sh [path/to/loisim]     # default: target/debug/loisim
#
# Also parses deploy/k8s/sweep-job.yaml (Python's yaml module, when there is one): a parse
# check only, no cluster runs it here.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LOISIM=$(realpath "${1:-$ROOT/target/debug/loisim}")
SHARDS=${SHARDS:-3}
[ -x "$LOISIM" ] || { echo "error: no loisim binary at $LOISIM (cargo build -p loisim-cli)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "error: run as root (it installs packages and starts daemons)" >&2; exit 2; }

say() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*"; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
say "$(slurmctld -V)"

TMP=$(mktemp -d /tmp/loisim-slurm.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$rc" != 0 ]; then
        say "FAILED; logs in $TMP"
        tail -n 20 "$TMP"/*.log 2>/dev/null || true
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

# munge: a key of our own and a socket in the temporary directory.
mkdir -p "$TMP/munge"
dd if=/dev/urandom of="$TMP/munge/munge.key" bs=1024 count=1 status=none
chmod 755 "$TMP/munge"
chmod 400 "$TMP/munge/munge.key"
munged --force -F --key-file="$TMP/munge/munge.key" --socket="$TMP/munge/munge.socket" \
    --pid-file="$TMP/munge/munged.pid" --log-file="$TMP/munged.log" --seed-file="$TMP/munge/seed" &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$TMP/munge/munge.socket" ] && break; sleep 0.1; done

HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2))
mkdir -p "$TMP/state" "$TMP/spool"
cat > "$TMP/slurm.conf" <<CONF
ClusterName=loisim-test
SlurmctldHost=$HOST
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$TMP/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/slurmctld.log
SlurmdLogFile=$TMP/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
MinJobAge=3600
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
cp "$TMP/slurm.conf" "$TMP/slurm.conf.used"
export SLURM_CONF=$TMP/slurm.conf

slurmctld -D -i -f "$SLURM_CONF" > "$TMP/slurmctld.out" 2>&1 &
PIDS+=($!)
sleep 2
slurmd -D -f "$SLURM_CONF" -N "$HOST" > "$TMP/slurmd.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 60); do
    state=$(sinfo -h -N -o %T 2>/dev/null | head -n1 || true)
    [ "$state" = idle ] && break
    sleep 1
done
[ "$state" = idle ] || { echo "error: the node did not come up (state: ${state:-none})" >&2; exit 1; }
say "slurm is up: node $HOST ($CPUS CPUs) idle"

# A small SPEC: 2 sparsities x 2 widths x 2 synop latencies (8 points, 4 simulations).
WORK="$TMP/work"
mkdir -p "$WORK"
chmod 777 "$WORK"
cat > "$WORK/spec.toml" <<'SPEC'
name = "slurm test"
layers = 1
tokens = 8

[axes]
sparsity = [0.9, 0]
width = [0.0625, 0.125]
"ops.synop.latency_ns" = [0.5, 1.5]
SPEC
OUT="$WORK/out"

bash -n "$ROOT/deploy/slurm/sweep.sbatch" && bash -n "$ROOT/deploy/slurm/merge.sbatch"
cd "$WORK"
ARRAY=$(sbatch --parsable --array=0-$((SHARDS - 1)) --cpus-per-task=1 --mem-per-cpu=1G \
    --chdir="$WORK" --export=ALL,LOISIM="$LOISIM",SPEC="$WORK/spec.toml",OUT="$OUT" \
    "$ROOT/deploy/slurm/sweep.sbatch")
MERGE=$(sbatch --parsable --dependency=afterok:"$ARRAY" --mem=1G --chdir="$WORK" \
    --export=ALL,LOISIM="$LOISIM",OUT="$OUT" "$ROOT/deploy/slurm/merge.sbatch")
say "submitted array job $ARRAY ($SHARDS shards) and merge job $MERGE (afterok:$ARRAY)"

START=$SECONDS
while :; do
    left=$(squeue -h -o %i 2>/dev/null | wc -l)
    [ "$left" = 0 ] && break
    if [ $((SECONDS - START)) -gt 900 ]; then
        echo "error: jobs still queued after 900 s" >&2
        squeue >&2
        exit 1
    fi
    sleep 2
done
for j in $(seq 0 $((SHARDS - 1))); do
    st=$(scontrol -o show job "${ARRAY}_$j" | grep -o 'JobState=[A-Z_]*' | head -n1)
    say "array task $j: $st"
done
mst=$(scontrol -o show job "$MERGE" | grep -o 'JobState=[A-Z_]*')
say "merge job: $mst"
[ "$mst" = JobState=COMPLETED ] || { cat "$WORK"/loisim-sweep-*.out >&2; exit 1; }
cat "$WORK"/loisim-sweep-merge-*.out

say "unsharded run of the same SPEC"
"$LOISIM" sweep run "$WORK/spec.toml" --out "$WORK/whole" --quiet
if diff -r "$WORK/whole" "$OUT/merged" >/dev/null; then
    say "OK: $OUT/merged equals the unsharded run, byte for byte ($(ls "$OUT/merged/points" | wc -l) points, $(find "$OUT/merged" -type f | wc -l) files)"
else
    diff -r "$WORK/whole" "$OUT/merged" | head -n 20 >&2
    echo "error: the merged directory differs from the unsharded run" >&2
    exit 1
fi
cat "$OUT/merged/rows.csv" | cut -d, -f1-9

if python3 -c 'import yaml' 2>/dev/null; then
    python3 - "$ROOT/deploy/k8s/sweep-job.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
job = next(d for d in docs if d["metadata"]["name"] == "loisim-sweep")
assert job["spec"]["completionMode"] == "Indexed", job["spec"]
c = job["spec"]["template"]["spec"]["containers"][0]
shards = next(e["value"] for e in c["env"] if e["name"] == "SHARDS")
assert int(shards) == job["spec"]["completions"], (shards, job["spec"]["completions"])
assert "JOB_COMPLETION_INDEX" in " ".join(c["args"])
print(f"k8s YAML parses: {kinds}; Indexed, {shards} shards")
PY
else
    say "no Python yaml module: deploy/k8s/sweep-job.yaml not parsed"
fi
say "done in $SECONDS s"
