#!/bin/bash
# One device call that checks the GPU path end to end, sized for a 15-minute device budget
# (adapted from ../shared/gpu-check.sh; see docs/gpu.md "Testing on a GPU"). From the repo root:
#   bash scripts/gpu-check.sh [host]   (on the device tool: timeout_s about 320; 205 s on an H200
#   on 28 November with 2,730 tests, the suite's step 130 s of it)
# If .whl/ holds the nvidia-cudnn-frontend wheel (carry [".whl"]), it is installed first, so the
# cuDNN convolution path is what runs; docs/gpu.md says how to fetch that wheel.
# Order: the self-check, the compiles of a cold first step and the benchmark first, then the whole suite with the GPU as default
# device (it includes every gpu-marked test and the CPU-GPU parity test; -v names each result as
# it comes, Hypothesis does not shrink, and it stops at 150 failures so their tracebacks print),
# then the main job. With "host", also a cProfile of warm train steps (where their host time
# goes). Every log lands in $OUT. For a shorter call: BENCH_ARGS (e.g. "--only conv3x3
# --no-cold-start"), SUITE_TIMEOUT (seconds, default 220), SKIP_TRAIN=1.
set -u
export PYTHONUNBUFFERED=1 HYPOTHESIS_PROFILE=ci PYTHONPATH=$PWD
# the device runs commands as root, where Open MPI's mpiexec refuses to start without these
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=${OUT:-/tmp/gpu-check}; mkdir -p "$OUT"
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=$PWD:/tmp/site
fi
{
  nvidia-smi -L; python3 --version
  python3 -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)"
  python3 -c "import tinygrad_cnn as tc; from tinygrad_cnn.cuda import cudnn_conv as c
print('cudnn', tc.backends.cudnn.version(), c.unavailable_reason())"
  timeout 60 python3 -m tinygrad_cnn info
  timeout 90 python3 -m tinygrad_cnn gradcheck --device gpu; echo "gradcheck exit $?"
} > "$OUT/info.log" 2>&1; tail -n 3 "$OUT/info.log"
echo "== where a cold first step goes (each compile named)"
timeout 60 python3 benchmarks/gpu_first_step.py > "$OUT/first_step.log" 2>&1; head -n 30 "$OUT/first_step.log"
echo "== benchmarks/gpu.py"
timeout 150 python3 benchmarks/gpu.py ${BENCH_ARGS:-} > "$OUT/bench_gpu.log" 2>&1; tail -n 14 "$OUT/bench_gpu.log"
if [ "${1:-}" = host ]; then
  echo "== host time of warm train steps"
  timeout 40 python3 benchmarks/gpu_profile.py --host --only lenet5 article_cnn --steps 50 \
    --top 45 > "$OUT/host_profile.log" 2>&1; echo "exit $?"
fi
echo "== the whole suite with the GPU as default device"
TINYGRAD_CNN_DEVICE=gpu HYPOTHESIS_PROFILE=gpu-check timeout ${SUITE_TIMEOUT:-220} python3 -m pytest -v -n 15 \
  -p no:cacheprovider -p no:benchmark -o addopts="-rs" --tb=short --maxfail=150 --durations=25 \
  tests > "$OUT/suite_on_gpu.log" 2>&1
echo "exit $?" >> "$OUT/suite_on_gpu.log"
grep -E "(FAILED|ERROR) tests" "$OUT/suite_on_gpu.log" | sed 's/.*\(FAILED\|ERROR\) /\1 /' \
  | cut -c1-150 | sort -u | head -n 30
awk -F'[][]' '/^SKIPPED.*cpu_only \(/ {n += $2} END {print "cpu_only skips:", n + 0}' \
  "$OUT/suite_on_gpu.log"; tail -n 2 "$OUT/suite_on_gpu.log"
[ -n "${SKIP_TRAIN:-}" ] && exit 0
echo "== main job on the GPU"
( time timeout 60 python3 -m tinygrad_cnn train --device gpu ) > "$OUT/train_gpu.log" 2>&1
tail -n 5 "$OUT/train_gpu.log"
