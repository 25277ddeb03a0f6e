#!/usr/bin/env bash
# On a GPU host with no network: what the host has, what drivers/host reports for it, and a GPU
# task run end to end through a real dstackd. Needs .scratch/gpu/app from scripts/gpu/build.js
# (and .scratch/gpu/node.xz, a node binary, used when the host has no Node 20+). Writes the raw
# tool outputs and every result under $OUT (default .scratch/gpu/out).
#   scripts/gpu/check.sh [GPU_NAME]      GPU_NAME: what the task asks for (default H100)
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/.scratch/gpu/out}
GPU=${1:-H100}
APP=$PWD/.scratch/gpu/app
mkdir -p "$OUT"
step () { echo; echo "=== $*"; }

step host
{ uname -a; cat /etc/os-release 2>/dev/null | head -4; nproc; free -g; df -h . /tmp; id; echo "HOME=${HOME:-}"; } 2>&1 | tee "$OUT/host.txt"
grep -m1 'model name' /proc/cpuinfo
ls -la /dev/nvidia* /dev/dxg /dev/kfd /dev/accel /dev/tenstorrent 2>&1 | tee "$OUT/devices.txt"
cat /sys/module/nvidia/version > "$OUT/sys-module-nvidia-version.txt" 2>&1; cat "$OUT/sys-module-nvidia-version.txt"
ls /usr/bin /usr/local/bin 2>/dev/null | grep -i smi
which python3 docker nvidia-container-cli 2>&1; python3 --version 2>&1
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.is_available())' 2>&1 | tail -1

step nvidia-smi
nvidia-smi 2>&1 | tee "$OUT/nvidia-smi.txt"
nvidia-smi -L > "$OUT/nvidia-smi-L.txt" 2>&1; cat "$OUT/nvidia-smi-L.txt"
# Exactly what drivers/host/inventory.ts (NVIDIA_SMI_ARGS) runs, bytes as printed:
nvidia-smi --query-gpu=name,memory.total,uuid,driver_version --format=csv,noheader,nounits > "$OUT/nvidia-smi-query.csv" 2> "$OUT/nvidia-smi-query.err"
echo "exit $?"; od -c "$OUT/nvidia-smi-query.csv" | head -8
nvidia-smi --query-gpu=name,memory.total,uuid,driver_version,pci.bus_id,compute_cap,memory.used,mig.mode.current --format=csv > "$OUT/nvidia-smi-query-units.csv" 2>&1; cat "$OUT/nvidia-smi-query-units.csv"
nvidia-smi -q > "$OUT/nvidia-smi-q.txt" 2>&1; head -40 "$OUT/nvidia-smi-q.txt" | grep -iE 'driver|cuda|product|mig' 

step node
NODE=$(command -v node || true)
if [ -z "$NODE" ] || ! "$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "no Node 20+ here ($NODE); using the carried one"
  mkdir -p /tmp/nodebin && xz -dc .scratch/gpu/node.xz > /tmp/nodebin/node && chmod +x /tmp/nodebin/node
  NODE=/tmp/nodebin/node
fi
export PATH=$(dirname "$NODE"):$PATH
echo "$NODE $("$NODE" --version)"

step inventory
# Outside the repository, so that nothing resolves from a node_modules above.
rm -rf /tmp/dstackd-app && cp -r "$APP" /tmp/dstackd-app && APP=/tmp/dstackd-app
(cd /tmp && "$NODE" "$APP/dist/inventory.js" /tmp) > "$OUT/inventory.json" 2>&1; cat "$OUT/inventory.json"

step "drivers/host tests on this host"
(cd /tmp && "$NODE" "$APP/dist/host.test.js") > "$OUT/host-test.txt" 2>&1; echo "exit $?" >> "$OUT/host-test.txt"; sed 's/\x1b\[[0-9;]*m//g' "$OUT/host-test.txt"

step daemon
export HOME=/tmp/dstack-home DSTACK_URL=/tmp/dstackd-data/api.sock
mkdir -p "$HOME" /tmp/dstack-task
rm -rf /tmp/dstackd-data
(cd /tmp && exec "$NODE" "$APP/dist/dstackd.js" run --data-dir /tmp/dstackd-data > "$OUT/dstackd.log" 2>&1) &
DAEMON=$!
for _ in $(seq 50); do [ -S /tmp/dstackd-data/api.sock ] && break; sleep 0.2; done
cat "$OUT/dstackd.log"
dstack () { (cd /tmp/dstack-task && timeout 120 "$NODE" "$APP/dist/dstack.js" "$@"); }
cat > /tmp/dstack-task/gpu-task.yml <<YAML
type: task
name: gpu-smoke
resources:
  gpu: $GPU:1
  disk: 10GB..
commands:
  - nvidia-smi -L
  - nvidia-smi --query-gpu=name,memory.total,utilization.gpu --format=csv
  - echo CUDA_VISIBLE_DEVICES=\${CUDA_VISIBLE_DEVICES-unset} NVIDIA_VISIBLE_DEVICES=\${NVIDIA_VISIBLE_DEVICES-unset}
  - python3 -c 'import ctypes; c=ctypes.CDLL("libcuda.so.1"); n=ctypes.c_int(); print("cuInit", c.cuInit(0), "cuDeviceGetCount", c.cuDeviceGetCount(ctypes.byref(n)), "devices", n.value)'
  - python3 -c 'import torch; x=torch.randn(8192,8192,device="cuda",dtype=torch.bfloat16); x@x; torch.cuda.synchronize(); import time; t=time.time(); [x@x for _ in range(50)]; torch.cuda.synchronize(); dt=time.time()-t; print(torch.cuda.get_device_name(0), "bf16 matmul TFLOPS", round(50*2*8192**3/dt/1e12))' || echo "no torch here"
YAML
cp /tmp/dstack-task/gpu-task.yml "$OUT/gpu-task.yml"
step "dstack offer --gpu $GPU --json"; dstack offer --gpu "$GPU" --json 2>&1 | tee "$OUT/offer-gpu.json"
step "dstack offer --gpu A100 --json (must be empty)"; dstack offer --gpu A100 --json 2>&1 | tee "$OUT/offer-a100.json" | head -30
step "dstack apply"; dstack apply -f gpu-task.yml -y 2>&1 | tee "$OUT/apply.txt"
step "dstack ps -v"; dstack ps -v 2>&1 | tee "$OUT/ps.txt"
step "dstack logs"; dstack logs gpu-smoke 2>&1 | tee "$OUT/logs.txt"
step "dstack fleet --json"; dstack fleet --json 2>&1 | tee "$OUT/fleet.json"
kill "$DAEMON" 2>/dev/null; wait "$DAEMON" 2>/dev/null
step "dstackd log"; cat "$OUT/dstackd.log"
# The device tool brings back only a few files: one archive of them all as well.
tar -C "$OUT" -czf /tmp/gpu-check.tgz . && mv /tmp/gpu-check.tgz "$OUT/all.tgz"
