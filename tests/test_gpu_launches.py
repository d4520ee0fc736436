"""benchmarks/gpu_launches.py: what one GPU training step launches and compiles, counted on the CPU.

The counts guard the GPU path's host cost without a GPU: a change that adds launches or CuPy
kernels to the LeNet-5, article-CNN, MLP or BatchNorm-CNN step fails here. Bounds are the counts
measured when the test was written (27 November 2026; bn_cnn 28 November); lower them when a
change brings them down.
"""

import os
import subprocess
import sys

import pytest

from tests.cuda_host import COMPILER, NO_COMPILER_REASON

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_launches.py")

# workload: (launches, CuPy kernels per step, device-to-host syncs, CuPy kernels compiled).
# LeNet-5 went from 52 to 53 launches when its five bias-gradient sums and the backward's seed
# (six CuPy kernels, three to compile) became seven cuBLAS products and a host copy.
# bn_cnn (28 November): 174 launches, 126 of them CuPy kernels of 25 kinds to compile, before
# batch norm's, dropout's and the counters' kernels.
BOUNDS = {"lenet5": (53, 0, 1, 0), "article_cnn": (23, 0, 1, 0), "mlp": (20, 0, 1, 0),
          "bn_cnn": (68, 0, 1, 0)}
# the zoo's models (benchmarks/gpu_launches.py's ZOO): 1,485, 3,915 and 178 launches (1,226,
# 3,363 and 121 CuPy kernels; 26, 33 and 26 to compile) on 27 November, before batch norm's,
# ReLU6's and dropout's kernels
# SqueezeNet 1.1 and U-Net (28 November): 307 and 382 launches (40 and 45 CuPy kernels, 3 and 25
# to compile) before cat's kernel, ConvTranspose2d's own bias and the fused per-pixel
# cross-entropy
ZOO_BOUNDS = {"resnet18": (465, 0, 1, 0), "mobilenet_v2": (1148, 0, 1, 0),
              "digits_cnn": (76, 0, 1, 0), "squeezenet1_1": (315, 0, 1, 0),
              "unet": (365, 0, 1, 0)}


def _rows(*args):
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_CNN_DEVICE"}
    done = subprocess.run([sys.executable, SCRIPT, *args], env={**env, "PYTHONPATH": ROOT},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    header, rows = None, {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "workload":
            header = cells
        elif header and len(cells) == len(header) and cells[0] in {**BOUNDS, **ZOO_BOUNDS}:
            rows[cells[0]] = dict(zip(header[1:], map(int, cells[1:]), strict=True))
    return rows, done.stdout


def _assert_within(rows, bounds, out):
    assert set(rows) == set(bounds), out
    for name, (launches, cupy, syncs, compiled) in bounds.items():
        row = rows[name]
        assert row["launches"] <= launches, (name, row)
        assert row["CuPy kernels"] <= cupy, (name, row)
        assert row["device-to-host syncs"] <= syncs, (name, row)
        assert row["CuPy kernels compiled"] <= compiled, (name, row)
        assert row["ours"] > 0 and row["cuBLAS"] > 0, (name, row)  # the count sees the kernels


@pytest.mark.cpu_only("counts the GPU path on the fake CuPy and the host runner")
@pytest.mark.skipif(COMPILER is None, reason=NO_COMPILER_REASON)
def test_train_steps_stay_within_their_launch_and_compile_counts():
    rows, out = _rows("--list")
    _assert_within(rows, BOUNDS, out)
    assert rows["lenet5"]["cuDNN"] == 5  # 2 forward, 1 input gradient, 2 weight gradients
    assert "tc_softmax_xent_forward" in out  # --list names our kernels


@pytest.mark.cpu_only("counts the GPU path on the fake CuPy and the host runner")
@pytest.mark.skipif(COMPILER is None, reason=NO_COMPILER_REASON)
def test_zoo_models_stay_within_their_launch_and_compile_counts():
    rows, out = _rows("--only", *ZOO_BOUNDS)
    _assert_within(rows, ZOO_BOUNDS, out)
    assert rows["resnet18"]["cuDNN"] == 59  # 20 convs: 20 forward, 19 input and 20 weight grads


def test_the_classifier_tells_views_kernels_and_transfers_apart():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import numpy as np
    from gpu_launches import classify

    a = np.ones((4, 3), np.float32)
    assert classify("reshape", [a], a.reshape(12)) == (None, None)           # a view
    assert classify("getitem", [a], a[0, 0]) == (None, None)                 # basic indexing
    assert classify("matmul", [a, a.T], a @ a.T)[0] == "cublas"
    assert classify("device_to_host", [], None)[0] == "transfer"
    kind, key = classify("add", [a, np.ones(3, np.float32)], a + 1)
    assert kind == "cupy" and key == ("add", ("<f4", "<f4"), "<f4", 2)       # (4, 3) + (3,)
    assert classify("add", [a, a], a + a)[1][3] == 1                         # merged to 1-D
    kind, key = classify("sum", [a], a.sum(0))
    assert kind == "cupy" and key[3] == ((2,), 1)                            # a reduction
    assert classify("iadd", [a, a], None)[0] == "cupy"                       # in place
