"""benchmarks/gpu.py: its --dry-run (tiny sizes on the CPU) runs every code path and prints the
table; without a GPU a real run says why and exits 0."""

import os
import subprocess
import sys

import pytest

from tests.conftest import GPU_SKIP_REASON

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu.py")
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import gpu as gpu_benchmark  # noqa: E402


def _run(*args):
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, SCRIPT, *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_dry_run_prints_a_row_per_workload_and_the_cold_start():
    done = _run("--dry-run")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "DRY RUN on the CPU" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "ms" not in line[:12]]
    for description in gpu_benchmark.WORKLOADS.values():
        row = next((r for r in rows if r.startswith(f"| {description} |")), None)
        assert row is not None, f"no row for {description!r} in:\n{out}"
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 11
        assert all(float(c) > 0 for c in cells[1:6])  # our five timings
    assert "with an empty kernel cache" in out and "with it warm" in out
    assert "; convolutions through cuDNN." in out or "; convolutions by im2col (no cuDNN: " in out


def test_child_processes_keep_the_pythonpath_entries_already_there(monkeypatch):
    # the cold-start children once ran with PYTHONPATH=ROOT alone: the cuDNN frontend installed
    # beside the project (scripts/gpu-check.sh) was gone, and they timed the im2col path
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/opt/site", "", "/x"]))
    env = gpu_benchmark.child_env(CUPY_CACHE_DIR="/tmp/cache")
    assert env["PYTHONPATH"].split(os.pathsep) == [gpu_benchmark.ROOT, "/opt/site", "/x"]
    assert env["CUPY_CACHE_DIR"] == "/tmp/cache" and env["PATH"] == os.environ["PATH"]


def test_dry_run_sizes_are_small_and_real_sizes_are_the_issues():
    assert gpu_benchmark.spec("conv3x3_56", dry=False) == {
        "batch": 128, "input": (64, 56, 56), "weight": (64, 64, 3, 3),
        "kwargs": {"stride": 1, "padding": 1}}
    assert gpu_benchmark.spec("conv3x3s2_56", dry=False)["weight"] == (256, 128, 3, 3)
    assert gpu_benchmark.spec("lenet5", dry=False)["batch"] == 64
    for name in gpu_benchmark.WORKLOADS:
        small = gpu_benchmark.spec(name, dry=True)
        assert small["batch"] == 2 and all(s <= 784 for s in small["input"])


def test_bad_arguments_are_refused_with_the_flag():
    done = _run("--dry-run", "--repeats", "0")
    assert done.returncode == 2 and "--repeats must be >= 1" in done.stderr
    done = _run("--only", "resnet")
    assert done.returncode == 2 and "invalid choice: 'resnet'" in done.stderr


@pytest.mark.skipif(GPU_SKIP_REASON is None, reason="a GPU is usable here, so the run is real")
def test_without_a_gpu_it_says_why_and_exits_0():
    done = _run("--no-cold-start")
    assert done.returncode == 0, done.stderr
    assert "no GPU, nothing measured" in done.stdout and GPU_SKIP_REASON in done.stdout


@pytest.mark.skipif(GPU_SKIP_REASON is None, reason="a GPU is usable here, so the run is real")
def test_the_kernel_profile_without_a_gpu_says_why_and_exits_0():
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu_profile.py"),
                           "--only", "lenet5", "--host"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "gpu_profile: no GPU" in done.stdout and GPU_SKIP_REASON in done.stdout


@pytest.mark.skipif(GPU_SKIP_REASON is None, reason="a GPU is usable here, so the run is real")
def test_the_first_step_breakdown_without_a_gpu_says_why_and_exits_0():
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu_first_step.py")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "gpu_first_step.py: no GPU" in done.stdout and GPU_SKIP_REASON in done.stdout


@pytest.mark.skipif(GPU_SKIP_REASON is None, reason="a GPU is usable here, so the run is real")
def test_the_cudnn_engine_timings_without_a_gpu_say_why_and_exit_0():
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable,
                           os.path.join(ROOT, "benchmarks", "gpu_cudnn_engines.py")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "gpu_cudnn_engines.py: no GPU" in done.stdout and GPU_SKIP_REASON in done.stdout
