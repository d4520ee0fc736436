"""conv2d / conv_transpose2d / their gradients through cuDNN (tinygrad_cnn/cuda/cudnn_conv.py).

On a GPU with ``nvidia-cudnn-frontend`` installed, the cuDNN path's values and gradients must
match the im2col path's (``TINYGRAD_CNN_CUDNN=0``) on Hypothesis geometries (strides, every kind
of padding, dilation, groups, depthwise), in float32 and float64, and PyTorch's where it is
installed. Without them those tests skip with the reason; the switches and the padding arithmetic
are checked everywhere.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests.conftest import CUDA_SKIP_REASON
from tinygrad_cnn.cuda import cudnn_conv
from tinygrad_cnn.ops.windows import Axis
from tinygrad_cnn.testing import strategies as tst

CUDNN_SKIP_REASON = CUDA_SKIP_REASON or (
    None if tc.backends.cudnn.is_available()
    else f"nvidia-cudnn-frontend is not usable: {cudnn_conv.unavailable_reason()}")
needs_cudnn = [pytest.mark.gpu,
               pytest.mark.skipif(CUDNN_SKIP_REASON is not None,
                                  reason=f"no cuDNN: {CUDNN_SKIP_REASON}")]
few = settings(deadline=None)


def _run(fn, arrays, seed=1):
    """fn's output and every input's gradient for a random upstream gradient, on the GPU."""
    tensors = [tc.Tensor(a, device="gpu", requires_grad=True) for a in arrays]
    out = fn(*tensors)
    g = np.random.default_rng(seed).standard_normal(out.shape).astype(arrays[0].dtype)
    out.backward(tc.Tensor(g, device="gpu"))
    return [out.numpy()] + [t.grad.numpy() for t in tensors]


def _both_paths(fn, arrays):
    """(cuDNN's results, the im2col path's)."""
    got = _run(fn, arrays)
    try:
        tc.backends.cudnn.enabled = False
        expected = _run(fn, arrays)
    finally:
        tc.backends.cudnn.enabled = True
    return got, expected


def _tol(dtype, terms):
    """float32: a sum of ``terms`` products in another order; float64: to rounding."""
    eps = np.finfo(dtype).eps
    return {"rtol": 50 * eps * np.sqrt(terms), "atol": 50 * eps * np.sqrt(terms)}


def _arrays(rng, shapes, dtype):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(geo=tst.conv2d_geometries(max_batch=3, max_channels=6, max_size=9, max_kernel=4),
       bias=st.booleans(), seed=st.integers(0, 2**31 - 1))
@few
def test_conv2d_through_cudnn_matches_the_im2col_path(dtype, geo, bias, seed):
    kwargs = {k: geo[k] for k in ("stride", "padding", "dilation", "groups")}
    rng = np.random.default_rng(seed)
    shapes = [geo["input_shape"], geo["weight_shape"]] + ([geo["weight_shape"][:1]] if bias
                                                          else [])
    got, expected = _both_paths(lambda x, w, *b: F.conv2d(x, w, *b, **kwargs),
                                _arrays(rng, shapes, dtype))
    terms = int(np.prod(geo["weight_shape"][1:])) * geo["input_shape"][0] * 81
    for name, g, e in zip(("out", "grad x", "grad w", "grad b"), got, expected, strict=False):
        np.testing.assert_allclose(g, e, **_tol(dtype, terms), err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(geo=tst.conv_transpose2d_geometries(max_batch=3, max_channels=6, max_size=6),
       seed=st.integers(0, 2**31 - 1))
@few
def test_conv_transpose2d_through_cudnn_matches_the_im2col_path(dtype, geo, seed):
    kwargs = {k: geo[k] for k in ("stride", "padding", "output_padding", "dilation", "groups")}
    rng = np.random.default_rng(seed)
    got, expected = _both_paths(lambda x, w: F.conv_transpose2d(x, w, **kwargs),
                                _arrays(rng, [geo["input_shape"], geo["weight_shape"]], dtype))
    terms = int(np.prod(geo["weight_shape"])) * geo["input_shape"][0] * 36
    for name, g, e in zip(("out", "grad x", "grad w"), got, expected, strict=True):
        np.testing.assert_allclose(g, e, **_tol(dtype, terms), err_msg=name)


def test_large_convs_take_the_cudnn_path_and_match_pytorch():
    """Above AUTOTUNE_MACS (engines timed) and below it (the heuristics' choice), with stride."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA device here")
    torch.backends.cudnn.allow_tf32 = False
    rng = np.random.default_rng(0)
    for x_shape, w_shape, stride in (((16, 64, 28, 28), (128, 64, 3, 3), 2),
                                     ((4, 8, 12, 12), (16, 8, 3, 3), 1)):
        x, w = _arrays(rng, [x_shape, w_shape], np.float32)
        before = len(cudnn_conv._plans)
        got, expected = _both_paths(lambda x, w, s=stride: F.conv2d(x, w, stride=s, padding=1),
                                    [x, w])
        assert len(cudnn_conv._plans) == before + 3, "fprop, dgrad and wgrad plans"
        assert all(p is not None for p in list(cudnn_conv._plans.values())[before:])
        xt = torch.tensor(x, device="cuda", requires_grad=True)
        wt = torch.tensor(w, device="cuda", requires_grad=True)
        out = torch.nn.functional.conv2d(xt, wt, stride=stride, padding=1)
        out.backward(torch.tensor(np.random.default_rng(1).standard_normal(tuple(out.shape))
                                  .astype(np.float32), device="cuda"))
        theirs = [out.detach().cpu().numpy(), xt.grad.cpu().numpy(), wt.grad.cpu().numpy()]
        for name, g, e, t in zip(("out", "grad x", "grad w"), got, expected, theirs,
                                 strict=True):
            # float32 sums of up to 16*28*28 products: relative to the tensor's scale
            scale = float(np.abs(t).max())
            np.testing.assert_allclose(g, t, rtol=1e-5, atol=3e-5 * scale,
                                       err_msg=f"{name} vs PyTorch")
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=3e-5 * scale,
                                       err_msg=f"{name} vs im2col")


def test_backward_through_cudnn_is_deterministic_when_asked():
    rng = np.random.default_rng(0)
    x, w = _arrays(rng, [(32, 32, 32, 32), (64, 32, 3, 3)], np.float32)
    with tc.backends.cudnn.deterministic_engines():
        first = _run(lambda x, w: F.conv2d(x, w, padding=1), [x, w])
        second = _run(lambda x, w: F.conv2d(x, w, padding=1), [x, w])
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_default_engines_agree_with_the_deterministic_ones_in_float32():
    """PyTorch's default: engines with atomic adds are allowed; their sums differ only in the
    last bits from the deterministic engines' (and from run to run)."""
    rng = np.random.default_rng(1)
    x, w = _arrays(rng, [(32, 32, 32, 32), (64, 32, 3, 3)], np.float32)
    previous, tc.backends.cudnn.deterministic = tc.backends.cudnn.deterministic, False
    try:  # the tests' conftest turns it on for the session
        got = _run(lambda x, w: F.conv2d(x, w, padding=1), [x, w])
    finally:
        tc.backends.cudnn.deterministic = previous
    with tc.backends.cudnn.deterministic_engines():
        expected = _run(lambda x, w: F.conv2d(x, w, padding=1), [x, w])
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=3e-5 * float(np.abs(e).max()))


def test_gradcheck_in_float64_through_cudnn():
    rng = np.random.default_rng(0)
    x = tc.Tensor(rng.standard_normal((2, 4, 7, 6)), device="gpu", requires_grad=True)
    w = tc.Tensor(rng.standard_normal((6, 2, 3, 2)), device="gpu", requires_grad=True)
    assert tc.gradcheck(lambda x, w: F.conv2d(x, w, stride=2, padding=1, dilation=(1, 2),
                                              groups=2), (x, w))
    assert tc.gradgradcheck(lambda x, w: F.conv2d(x, w, padding=1, groups=2), (x, w))


def test_switching_cudnn_off_takes_the_im2col_path():
    rng = np.random.default_rng(0)
    x, w = _arrays(rng, [(2, 3, 9, 9), (5, 3, 3, 3)], np.float32)
    try:
        tc.backends.cudnn.enabled = False
        before = dict(cudnn_conv._plans)
        F.conv2d(tc.Tensor(x, device="gpu"), tc.Tensor(w, device="gpu"), padding=2)
        assert cudnn_conv._plans == before
    finally:
        tc.backends.cudnn.enabled = True


for _test in (test_conv2d_through_cudnn_matches_the_im2col_path,
              test_conv_transpose2d_through_cudnn_matches_the_im2col_path,
              test_large_convs_take_the_cudnn_path_and_match_pytorch,
              test_backward_through_cudnn_is_deterministic_when_asked,
              test_the_default_engines_agree_with_the_deterministic_ones_in_float32,
              test_gradcheck_in_float64_through_cudnn,
              test_switching_cudnn_off_takes_the_im2col_path):
    for _mark in needs_cudnn:
        _mark(_test)


# ---------------------------------------------------------------------- anywhere


@given(size=st.integers(1, 30), kernel=st.integers(1, 7), stride=st.integers(1, 4),
       dilation=st.integers(1, 3), pad=st.tuples(st.integers(0, 6), st.integers(0, 6)))
def test_the_padding_given_to_cudnn_reproduces_the_output_size(size, kernel, stride, dilation,
                                                               pad):
    effective = dilation * (kernel - 1) + 1
    if size + pad[0] + pad[1] < effective:
        return  # no window fits: not a valid convolution
    out = (size + pad[0] + pad[1] - effective) // stride + 1
    symmetric = cudnn_conv._pads(Axis(size, kernel, stride, dilation, pad[0], out))
    if symmetric is None:  # asymmetric: the im2col path takes it
        assert (size + 2 * pad[0] - effective) // stride + 1 != out
    else:
        assert symmetric == pad[0] and (size + 2 * symmetric - effective) // stride + 1 == out
    if pad[0] == pad[1]:
        assert symmetric == pad[0]


def test_cudnn_is_never_tried_on_numpy_arrays():
    assert not cudnn_conv.usable(np, np.dtype(np.float32))


def test_the_cudnn_switches_take_booleans_only():
    assert tc.backends.cudnn.enabled is True
    with pytest.raises(TypeError, match="cudnn.enabled must be True or False, got 0"):
        tc.backends.cudnn.enabled = 0
    assert isinstance(tc.backends.cudnn.is_available(), bool)
    version = tc.backends.cudnn.version()
    assert version is None or version > 8000
