"""tc.backends: the TF32 switches under PyTorch's names, and their effect on GPU products."""

import os
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_cnn as tc
from tests.conftest import CUDA_SKIP_REASON


@pytest.fixture(autouse=True)
def _restore_switches():
    matmul, cudnn = tc.backends.cuda.matmul.allow_tf32, tc.backends.cudnn.allow_tf32
    yield
    tc.backends.cuda.matmul.allow_tf32 = matmul
    tc.backends.cudnn.allow_tf32 = cudnn


def _fresh_process_switches(env):
    code = ("import tinygrad_cnn as tc; "
            "print(tc.backends.cuda.matmul.allow_tf32, tc.backends.cudnn.allow_tf32, "
            "tc.backends.cudnn.deterministic)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**{k: v for k, v in os.environ.items() if k != "CUPY_TF32"}, **env,
           "PYTHONPATH": root}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.split()


def test_defaults_are_off_and_cupys_own_switch_sets_the_initial_value():
    """TF32 off on both switches; cuDNN deterministic False, as PyTorch's (the tests' conftest
    turns it on for this process)."""
    assert _fresh_process_switches({}) == ["False", "False", "False"]
    assert _fresh_process_switches({"CUPY_TF32": "1"}) == ["True", "False", "False"]
    assert _fresh_process_switches({"CUPY_TF32": "0"}) == ["False", "False", "False"]


def test_set_and_get_each_switch():
    tc.backends.cuda.matmul.allow_tf32 = True
    assert tc.backends.cuda.matmul.allow_tf32 is True
    assert tc.get_float32_matmul_precision() == "high"
    tc.backends.cuda.matmul.allow_tf32 = False
    assert tc.backends.cuda.matmul.allow_tf32 is False
    assert tc.get_float32_matmul_precision() == "highest"
    tc.backends.cudnn.allow_tf32 = True
    assert tc.backends.cudnn.allow_tf32 is True
    assert tc.backends.cuda.matmul.allow_tf32 is False  # independent switches
    tc.backends.cudnn.allow_tf32 = False
    assert tc.backends.cudnn.allow_tf32 is False


def test_float32_matmul_precision_spelling():
    for precision, tf32 in (("high", True), ("highest", False), ("medium", True)):
        tc.set_float32_matmul_precision(precision)
        assert tc.backends.cuda.matmul.allow_tf32 is tf32
    with pytest.raises(ValueError, match="'highest', 'high', 'medium', got 'low'"):
        tc.set_float32_matmul_precision("low")


def test_repr_names_the_switch_and_its_value():
    tc.backends.cuda.matmul.allow_tf32 = True
    assert repr(tc.backends.cuda.matmul) == "tc.backends.cuda.matmul(allow_tf32=True)"
    tc.backends.cuda.matmul.allow_tf32 = False
    assert repr(tc.backends.cuda.matmul) == "tc.backends.cuda.matmul(allow_tf32=False)"


def test_bad_values_and_names_are_refused():
    with pytest.raises(TypeError, match="allow_tf32 must be True or False, got 'yes'"):
        tc.backends.cuda.matmul.allow_tf32 = "yes"
    with pytest.raises(TypeError, match="cudnn.allow_tf32 must be True or False, got 1"):
        tc.backends.cudnn.allow_tf32 = 1
    with pytest.raises(AttributeError, match="no switch 'allow_fp16'.*'allow_tf32'"):
        tc.backends.cuda.matmul.allow_fp16 = True
    assert tc.backends.cuda.matmul.allow_tf32 is False and tc.backends.cudnn.allow_tf32 is False


def test_cpu_products_are_exact_float32_whatever_the_switch():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 300)).astype(np.float32)
    b = rng.standard_normal((300, 32)).astype(np.float32)
    tc.backends.cuda.matmul.allow_tf32 = True
    out = (tc.tensor(a, device="cpu") @ tc.tensor(b, device="cpu")).numpy()
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
def test_tf32_changes_a_large_float32_gpu_matmul_and_off_matches_float64():
    cp = tc.backend.require_gpu()
    if int(cp.cuda.Device().compute_capability) < 80:
        pytest.skip("TF32 needs compute capability 8.0 (Ampere) or newer")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, 1024)).astype(np.float32)
    b = rng.standard_normal((1024, 1024)).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(exact).max()
    x, y = tc.tensor(a, device="gpu"), tc.tensor(b, device="gpu")
    tc.backends.cuda.matmul.allow_tf32 = False
    off = (x @ y).numpy()
    tc.backends.cuda.matmul.allow_tf32 = True
    on = (x @ y).numpy()
    tc.backends.cuda.matmul.allow_tf32 = False
    again = (x @ y).numpy()
    assert np.abs(off - exact).max() / scale < 1e-5
    assert np.abs(again - exact).max() / scale < 1e-5
    # TF32 keeps 10 mantissa bits: errors near 1e-4 of the scale, far above float32's
    assert np.abs(on - exact).max() / scale > 1e-5
    assert np.abs(on - exact).max() / scale < 1e-2
