"""The GPU's code path end to end, without a GPU: the layer, loss, optimizer and model tests run
with the fake CuPy as the default device and our CUDA kernels on the host runner.

``TINYGRAD_CNN_FAKE_GPU=1 TINYGRAD_CNN_DEVICE=gpu TINYGRAD_CNN_HOST_KERNELS=1`` makes every op
take the path it takes on a GPU (device arrays that refuse to be NumPy arrays, and the CUDA
kernels, compiled by g++ and run on the CPU; convolutions take im2col, as the fake has no cuDNN).
The whole suite passes that way too (docs/gpu.md, "Testing on a GPU"); CI runs these files of it,
about 30 s.
"""

import os
import subprocess
import sys

import pytest

from tests.conftest import HOST_KERNELS_ENV
from tests.cuda_host import COMPILER, NO_COMPILER_REASON

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = ["test_models.py", "test_layers.py", "test_losses.py", "test_optim.py", "test_pool.py",
         "test_conv.py", "test_activations.py"]


@pytest.mark.cpu_only("runs the GPU path on the fake CuPy, in a subprocess")
@pytest.mark.skipif(COMPILER is None, reason=NO_COMPILER_REASON)
def test_layer_loss_optimizer_and_model_tests_pass_on_the_gpu_path():
    env = {**os.environ, "TINYGRAD_CNN_FAKE_GPU": "1", "TINYGRAD_CNN_DEVICE": "gpu",
           HOST_KERNELS_ENV: "1", "HYPOTHESIS_PROFILE": "ci", "PYTHONPATH": ROOT}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         *[os.path.join(ROOT, "tests", f) for f in FILES]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary, summary
