#!/bin/bash
# One device call that checks the GPU path end to end, sized for a 15-minute device budget
# (adapted from ../shared/gpu-check.sh; see docs/gpu.md "Testing on a GPU"). From the repo root:
#   bash scripts/gpu-check.sh          (on the device tool: timeout_s about 480)
# Differences from the shared script: the whole-suite run lists skips (-rs) and counts the
# cpu_only ones, runs the CPU-GPU parity test first, and has a little more time.
set -u
export PYTHONUNBUFFERED=1 HYPOTHESIS_PROFILE=ci PYTHONPATH=$PWD
OUT=${OUT:-/tmp/gpu-check}; mkdir -p "$OUT"
{
  nvidia-smi -L; python3 --version
  python3 -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)"
  timeout 60 python3 -m tinygrad_cnn info
  timeout 90 python3 -m tinygrad_cnn gradcheck --device gpu; echo "gradcheck exit $?"
} > "$OUT/info.log" 2>&1; tail -n 4 "$OUT/info.log"
echo "== CPU-GPU parity"
timeout 90 python3 -m pytest -q -p no:cacheprovider -o addopts="-rs" tests/test_device_parity.py \
  > "$OUT/parity.log" 2>&1; echo "exit $?" >> "$OUT/parity.log"; tail -n 2 "$OUT/parity.log"
echo "== tests marked gpu"
timeout 150 python3 -m pytest -m gpu -q -n 8 -p no:cacheprovider -o addopts="-rs" tests \
  > "$OUT/gpu_tests.log" 2>&1; echo "exit $?" >> "$OUT/gpu_tests.log"; tail -n 3 "$OUT/gpu_tests.log"
echo "== the whole suite with the GPU as default device"
TINYGRAD_CNN_DEVICE=gpu timeout 200 python3 -m pytest -q -n 12 -p no:cacheprovider \
  -o addopts="-rs" --tb=line tests > "$OUT/suite_on_gpu.log" 2>&1
echo "exit $?" >> "$OUT/suite_on_gpu.log"
grep -E "^(FAILED|ERROR)" "$OUT/suite_on_gpu.log" | head -n 20
awk -F'[][]' '/^SKIPPED.*cpu_only \(/ {n += $2} END {print "cpu_only skips:", n + 0}' \
  "$OUT/suite_on_gpu.log"; tail -n 2 "$OUT/suite_on_gpu.log"
echo "== main job on the GPU"
( time timeout 90 python3 -m tinygrad_cnn train --device gpu ) > "$OUT/train_gpu.log" 2>&1
tail -n 4 "$OUT/train_gpu.log"
if [ -f benchmarks/gpu.py ]; then
  echo "== benchmarks/gpu.py"
  timeout 150 python3 benchmarks/gpu.py > "$OUT/bench_gpu.log" 2>&1; tail -n 20 "$OUT/bench_gpu.log"
fi
