"""Batch norm's GPU kernels (tinygrad_cnn/cuda/batchnorm.py) against the generic array path of
ops/normalization.py: on the CPU through the g++ host runner (tests/cuda_host.py), on a GPU
against ``TINYGRAD_CNN_CUDA_KERNELS=0``; and a float64 gradient check through the kernels.

The kernel path sums each channel's rows in another order than the generic path (a product with
ones instead of einsum, float64 sums in another order), so the two agree to rounding, not bit
for bit: the mean rounded to the input's dtype may differ by an ulp of max|x|, and normalising
divides that by the channel's standard deviation. The bound below is 64 eps of each output's
scale times that amplification, max(1, max|x| / min std).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.cuda as cuda
import tinygrad_cnn.nn.functional as F
from tests.conftest import CUDA_SKIP_REASON, needs_generic_path
from tests.cuda_host import COMPILER, NO_COMPILER_REASON, on_host

pytestmark = pytest.mark.skipif(COMPILER is None, reason=NO_COMPILER_REASON)

BN_KERNELS = {"tc_bn_mean", "tc_bn_center", "tc_bn_variance", "tc_bn_running", "tc_bn_invstd",
              "tc_bn_normalize", "tc_bn_grad_product", "tc_bn_grad_sums", "tc_bn_grad_input"}


def train_step(x, w, b, g, running, device="cpu", momentum=0.1):
    """batch_norm in training mode and its backward: [y, x.grad, w.grad, b.grad, running_mean,
    running_var] as NumPy arrays (None where an input is absent)."""
    dtype = x.dtype
    xt = tc.tensor(x, device=device, requires_grad=True)
    wt = None if w is None else tc.tensor(w, device=device, requires_grad=True)
    bt = None if b is None else tc.tensor(b, device=device, requires_grad=True)
    rm = rv = None
    if running:
        rm = tc.tensor(np.linspace(-1, 1, x.shape[1]).astype(dtype), device=device)
        rv = tc.tensor(np.linspace(0.5, 2, x.shape[1]).astype(dtype), device=device)
    y = F.batch_norm(xt, rm, rv, wt, bt, training=True, momentum=momentum)
    y.backward(tc.tensor(g, device=device))
    return [None if t is None else t.numpy() for t in
            (y, xt.grad, None if wt is None else wt.grad, None if bt is None else bt.grad, rm, rv)]


def assert_close(got, expected, x):
    """Each of ``got`` within rounding of ``expected`` (see the module docstring)."""
    per_channel = np.moveaxis(x.astype(np.float64), 1, 0).reshape(x.shape[1], -1)
    amplification = max(1.0, np.abs(x).max() / per_channel.std(axis=1).min())
    for a, e in zip(got, expected, strict=True):
        assert (a is None) == (e is None)
        if e is None:
            continue
        assert a.shape == e.shape and a.dtype == e.dtype
        scale = max(1.0, float(np.max(np.abs(e), initial=0.0)))
        np.testing.assert_allclose(a, e, rtol=0,
                                   atol=64 * np.finfo(x.dtype).eps * scale * amplification)


@st.composite
def batches(draw):
    n = draw(st.integers(1, 5))
    c = draw(st.integers(1, 4))
    spatial = draw(st.lists(st.integers(1, 7), max_size=2))
    if n * int(np.prod(spatial)) < 2:    # training needs more than one value per channel
        n = 2
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    offset = draw(st.sampled_from([0.0, 3.0, -50.0]))   # a mean far from 0: the shift matters
    shape = (n, c, *spatial)
    x = (rng.standard_normal(shape) * draw(st.sampled_from([0.1, 1.0, 4.0])) + offset)
    w = rng.standard_normal(c) if draw(st.booleans()) else None
    b = rng.standard_normal(c) if draw(st.booleans()) else None
    g = rng.standard_normal(shape) + 0.5
    x, w, b, g = (None if a is None else np.asarray(a, dtype=dtype) for a in (x, w, b, g))
    return x, w, b, g, draw(st.booleans())


@needs_generic_path
@given(batch=batches())
def test_kernels_match_the_generic_path(batch):
    x, w, b, g, running = batch
    expected = train_step(x, w, b, g, running)
    got, launches = on_host(train_step, x, w, b, g, running)
    assert_close(got, expected, x)
    used = {"tc_bn_mean", "tc_bn_center", "tc_bn_variance", "tc_bn_invstd", "tc_bn_normalize",
            "tc_bn_grad_product", "tc_bn_grad_sums", "tc_bn_grad_input"} | (
        {"tc_bn_running"} if running else set())
    assert {name for name in launches if name.startswith("tc_bn_")} == used
    assert launches.count("tc_bn_normalize") == 1 and launches.count("tc_bn_grad_input") == 1


def test_a_far_off_float32_batch_keeps_float32_accuracy():
    # values 1000 + 0.01 N(0, 1): the mean rounded to float32 is off by up to 3e-5, which the
    # shift carries; without it (in the variance or in sum(g x_hat)) the batch variance was
    # 4e-5 and the weight gradient 0.09-0.15 (relative) from float64, with it about 2 eps
    rng = np.random.default_rng(3)
    x = (1000 + 1e-2 * rng.standard_normal((4, 2, 6, 6))).astype(np.float32)
    w, b = np.ones(2, np.float32), np.zeros(2, np.float32)
    g = (rng.standard_normal(x.shape) + 0.5).astype(np.float32)
    (_, _, grad_w, grad_b, mean, var), launches = on_host(train_step, x, w, b, g, True, "cpu",
                                                          1.0)  # momentum 1: the batch's
    assert "tc_bn_grad_sums" in launches
    exact, grad = x.astype(np.float64), g.astype(np.float64)
    m, v = exact.mean(axis=(0, 2, 3)), exact.var(axis=(0, 2, 3))
    count = exact[:, 0].size
    x_hat = (exact - m[:, None, None]) / np.sqrt(v[:, None, None] + 1e-5)
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(mean, m, rtol=0, atol=2 * np.spacing(np.float32(1000)))
    np.testing.assert_allclose(var, v * count / (count - 1), rtol=16 * eps)
    np.testing.assert_allclose(grad_w, (grad * x_hat).sum(axis=(0, 2, 3)), rtol=16 * eps)
    np.testing.assert_allclose(grad_b, grad.sum(axis=(0, 2, 3)), rtol=16 * eps)


def eval_step(x, w, b, requires_grad, no_grad):
    """batch_norm in evaluation mode (running statistics) as NumPy, and x's gradient or None."""
    dtype = x.dtype
    c = x.shape[1]
    rm = tc.tensor(np.linspace(-1, 1, c).astype(dtype))
    rv = tc.tensor(np.linspace(0.5, 2, c).astype(dtype))
    xt = tc.tensor(x, requires_grad=requires_grad)
    wt = None if w is None else tc.tensor(w)
    bt = None if b is None else tc.tensor(b)
    if no_grad:
        with tc.no_grad():
            return F.batch_norm(xt, rm, rv, wt, bt, training=False).numpy(), None
    y = F.batch_norm(xt, rm, rv, wt, bt, training=False)
    if requires_grad:
        y.sum().backward()
    return y.numpy(), None if xt.grad is None else xt.grad.numpy()


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
@needs_generic_path
@given(batch=batches(), no_grad=st.booleans())
def test_evaluation_takes_two_launches(batch, no_grad):
    x, w, b, _, _ = batch
    (expected, _), ((got, _), launches) = eval_step(x, w, b, False, no_grad), on_host(
        eval_step, x, w, b, False, no_grad)
    assert [n for n in launches if n.startswith("tc_bn_")] == ["tc_bn_invstd", "tc_bn_normalize"]
    assert_close([got], [expected], x)


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
def test_evaluation_with_a_gradient_runs_the_kernels_and_differentiates_twice():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((3, 2, 4)), rng.standard_normal(2)
    (y, grad), launches = on_host(eval_step, x, w, None, True, False)
    assert [n for n in launches if n.startswith("tc_bn_")] == ["tc_bn_invstd", "tc_bn_normalize"]
    scale = w / np.sqrt(np.linspace(0.5, 2, 2) + 1e-5)
    np.testing.assert_allclose(y, (x - np.linspace(-1, 1, 2)[:, None]) * scale[:, None],
                               rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(grad, np.broadcast_to(scale[None, :, None], x.shape), rtol=1e-13)
    mean, var = tc.tensor(np.linspace(-1, 1, 2)), tc.tensor(np.linspace(0.5, 2, 2))

    def fn(x, w, b):
        return F.batch_norm(x, mean, var, w, b, training=False) ** 2  # curved: a 2nd derivative

    inputs = [tc.tensor(a, requires_grad=True) for a in (x, w, rng.standard_normal(2))]
    (first, second), launches = on_host(
        lambda: (tc.gradcheck(fn, inputs), tc.gradgradcheck(fn, inputs)))
    assert first and second and "tc_bn_normalize" in launches


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
def test_the_layer_counts_its_batches_with_a_kernel():
    from tinygrad_cnn import nn

    layer = nn.BatchNorm2d(3)
    x = tc.tensor(np.random.default_rng(6).standard_normal((2, 3, 4, 4)))
    _, launches = on_host(lambda: (layer(x), layer(x)))
    assert launches.count("tc_bn_count") == 2 and int(layer.num_batches_tracked.item()) == 2
    layer(x)                                          # NumPy's in-place add outside the runner
    assert int(layer.num_batches_tracked.item()) == 3
    layer.eval()
    _, launches = on_host(layer, x)
    assert "tc_bn_count" not in launches and int(layer.num_batches_tracked.item()) == 3


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 5, 5), (3, 2, 4)])
def test_float64_gradients_through_the_kernels_pass_gradcheck(shape):
    rng = np.random.default_rng(7)
    inputs = [tc.tensor(rng.standard_normal(s) + 2, dtype=tc.float64, requires_grad=True)
              for s in (shape, shape[1:2], shape[1:2])]

    def fn(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)

    assert on_host(tc.gradcheck, fn, inputs)[0]


@needs_generic_path
def test_what_the_kernels_do_not_take_keeps_the_generic_path(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    g = rng.standard_normal((4, 3, 5)).astype(np.float32)
    w = np.ones(3, np.float64)                       # another dtype than x's
    _, launches = on_host(train_step, x, w, None, g, True)
    assert not {"tc_bn_normalize", "tc_bn_grad_input"} & set(launches)
    tc.backends.cuda.matmul.allow_tf32 = True        # float32 row sums would round to TF32
    try:
        _, launches = on_host(train_step, x, None, None, g, True)
    finally:
        tc.backends.cuda.matmul.allow_tf32 = False
    assert not BN_KERNELS & set(launches)
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    _, launches = on_host(train_step, x, None, None, g, True)
    assert not launches


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
@needs_generic_path
def test_running_statistics_of_another_dtype_take_the_generic_update():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    rm, rv = tc.zeros(3, dtype=tc.float64), tc.ones(3, dtype=tc.float64)

    def step():
        F.batch_norm(tc.tensor(x), rm, rv, training=True)
        return rm.numpy().copy(), rv.numpy().copy()

    (mean, var), launches = on_host(step)
    assert "tc_bn_running" not in launches and "tc_bn_normalize" in launches
    np.testing.assert_allclose(mean, 0.1 * x.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(var, 0.9 + 0.1 * x.var(axis=0, ddof=1), rtol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_kernels_match_the_generic_cupy_path(dtype, monkeypatch):
    rng = np.random.default_rng(2)
    shape = (32, 16, 14, 14)
    x = (rng.standard_normal(shape) + 3).astype(dtype)
    w, b = rng.standard_normal(16).astype(dtype), rng.standard_normal(16).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    got = train_step(x, w, b, g, True, device="gpu")
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    expected = train_step(x, w, b, g, True, device="gpu")
    assert_close(got, expected, x)
