"""nn.utils.clip_grad_norm_ / clip_grad_value_ against NumPy (and PyTorch when installed)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.nn.utils import clip_grad_norm_, clip_grad_value_, get_total_norm
from tinygrad_cnn.testing import strategies as tst


def params_with_grads(grads, device="cpu"):
    params = []
    for g in grads:
        p = tc.Tensor(np.zeros_like(g), requires_grad=True, device=device)
        if g is not None:
            p.grad = tc.Tensor(g, device=device)
        params.append(p)
    return params


def numpy_total_norm(grads, norm_type):
    flat = np.concatenate([g.ravel() for g in grads])
    if norm_type == math.inf:
        return np.abs(flat).max()
    if norm_type == -math.inf:
        return np.abs(flat).min()
    return (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)


grad_lists = st.lists(tst.float_arrays(tst.array_shapes(max_dims=3, max_side=4)), min_size=1,
                      max_size=4)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf, -math.inf])
@given(grads=grad_lists, max_norm=st.floats(0.01, 20.0))
def test_clip_grad_norm_matches_numpy(norm_type, grads, max_norm):
    params = params_with_grads(grads)
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    expected_total = numpy_total_norm(grads, norm_type)
    assert isinstance(total, tc.Tensor) and total.shape == ()
    np.testing.assert_allclose(total.item(), expected_total, rtol=1e-12)
    coef = min(1.0, max_norm / (expected_total + 1e-6))
    for p, g in zip(params, grads, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-12, atol=1e-15)


def test_clipped_norm_is_max_norm_and_small_grads_are_untouched():
    grads = [np.array([3.0, 4.0]), np.array([[12.0]])]  # joint 2-norm 13
    params = params_with_grads(grads)
    total = clip_grad_norm_(params, 1.0)
    assert total.item() == pytest.approx(13.0, rel=1e-15)
    new_norm = numpy_total_norm([p.grad.numpy() for p in params], 2.0)
    assert new_norm == pytest.approx(1.0, rel=1e-6)
    params = params_with_grads(grads)
    clip_grad_norm_(params, 100.0)
    for p, g in zip(params, grads, strict=True):
        np.testing.assert_array_equal(p.grad.numpy(), g)


def test_skips_params_without_grad_accepts_a_single_tensor_and_never_writes_old_grads():
    grads = [np.array([1.0, -2.0, 2.0]), None]
    a, b = params_with_grads([grads[0], np.zeros(2)])
    b.grad = None
    old = a.grad.data
    total = clip_grad_norm_(iter([a, b]), 0.5)
    assert total.item() == pytest.approx(3.0)
    assert b.grad is None
    np.testing.assert_array_equal(old, grads[0])  # a new array was assigned to a.grad
    np.testing.assert_allclose(a.grad.numpy(), grads[0] * 0.5 / (3.0 + 1e-6))
    single = params_with_grads([np.array([6.0, 8.0])])[0]
    assert clip_grad_norm_(single, 5.0).item() == pytest.approx(10.0)
    assert clip_grad_norm_([b], 1.0).item() == 0.0  # no gradients at all


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf * 0 and nan, as expected
def test_nonfinite_norm():
    params = params_with_grads([np.array([1.0, np.inf]), np.array([2.0])])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 .* non-finite"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(params[0].grad.numpy(), [1.0, np.inf])  # left as it was
    total = clip_grad_norm_(params, 1.0)
    assert math.isinf(total.item())
    params = params_with_grads([np.array([1.0, np.nan])])
    with pytest.raises(RuntimeError, match=r"non-finite \(nan\)"):
        clip_grad_norm_(params, 1.0, norm_type="inf", error_if_nonfinite=True)


def test_dtype_and_device_are_kept(device):
    grads = [np.array([3.0, 4.0], dtype=np.float32), np.array([[1.0, 2.0]], dtype=np.float32)]
    params = params_with_grads(grads, device)
    total = clip_grad_norm_(params, 1.0)
    assert total.dtype == np.float32 and total.device == device
    for p in params:
        assert p.grad.dtype == np.float32 and p.grad.device == device
    np.testing.assert_allclose(total.item(), np.sqrt(30.0), rtol=1e-6)
    assert get_total_norm([p.grad for p in params]).item() == pytest.approx(1.0, rel=1e-5)
    clip_grad_value_(params, 0.1)
    for p in params:
        assert p.grad.dtype == np.float32 and p.grad.device == device


@given(grads=grad_lists, clip=st.floats(0.0, 3.0))
def test_clip_grad_value_matches_numpy(grads, clip):
    params = params_with_grads(grads)
    olds = [p.grad.data for p in params]
    clip_grad_value_(params, clip)
    for p, g, old in zip(params, grads, olds, strict=True):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -clip, clip))
        np.testing.assert_array_equal(old, g)


def test_invalid_arguments():
    params = params_with_grads([np.ones(3)])
    with pytest.raises(ValueError, match=r"max_norm=-1\.0"):
        clip_grad_norm_(params, -1.0)
    with pytest.raises(ValueError, match="max_norm='1'"):
        clip_grad_norm_(params, "1")
    with pytest.raises(ValueError, match=r"clip_value=-0\.5"):
        clip_grad_value_(params, -0.5)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, 0.0])
def test_matches_pytorch(norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=(5,)), np.zeros(2)]
    params = params_with_grads(grads)
    total = clip_grad_norm_(params, 0.7, norm_type=norm_type)
    tparams = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for tp, g in zip(tparams, grads, strict=True):
        tp.grad = torch.tensor(g)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, 0.7, norm_type=norm_type)
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-12)
    for p, tp in zip(params, tparams, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12, atol=1e-15)
    torch.nn.utils.clip_grad_value_(tparams, 0.05)
    clip_grad_value_(params, 0.05)
    for p, tp in zip(params, tparams, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12, atol=1e-15)
