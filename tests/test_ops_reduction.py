"""Reductions, softmax/log_softmax and argmax: forward against NumPy, gradients in float64."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tests import core_references as ref
from tinygrad_cnn.testing import strategies as tst


@st.composite
def array_and_dims(draw, max_dims=3, max_side=3, distinct=False):
    """A float64 array and a dim spec: None, an int or a tuple of ints (negatives allowed)."""
    shape = draw(tst.array_shapes(min_dims=1, max_dims=max_dims, max_side=max_side))
    x = draw(tst.float_arrays(shape, distinct=distinct))
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        dim = None
    elif kind == "int":
        dim = draw(st.integers(-ndim, ndim - 1))
    else:
        dims = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
        dim = tuple(d - ndim if draw(st.booleans()) else d for d in dims)
    return x, dim, draw(st.booleans())


# name, method call, NumPy reference(x, axis, keepdims), needs distinct values
REDUCTIONS = [
    ("sum", lambda t, d, k: t.sum(d, k), lambda x, a, k: np.sum(x, a, keepdims=k), False),
    ("mean", lambda t, d, k: t.mean(d, k), lambda x, a, k: np.mean(x, a, keepdims=k), False),
    ("amax", lambda t, d, k: t.amax(d, k), lambda x, a, k: np.max(x, a, keepdims=k), True),
    ("amin", lambda t, d, k: tc.amin(t, d, k), lambda x, a, k: np.min(x, a, keepdims=k), True),
    ("var", lambda t, d, k: t.var(d, k, unbiased=False),
     lambda x, a, k: np.var(x, a, keepdims=k), False),
    ("std", lambda t, d, k: tc.std(t, d, k, correction=0),
     lambda x, a, k: np.std(x, a, keepdims=k), False),
    ("logsumexp", lambda t, d, k: t.logsumexp(d, k),
     lambda x, a, k: ref.logsumexp(x, a, keepdims=k), False),
]


@pytest.mark.parametrize("name,fn,reference,distinct", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@given(data=st.data())
def test_reduction_forward_and_gradients(name, fn, reference, distinct, data):
    x, dim, keepdim = data.draw(array_and_dims(distinct=distinct))
    if name == "std":  # std is not differentiable where every value is equal (sqrt at 0)
        x = x + np.arange(x.size).reshape(x.shape) * 0.1
    out = fn(tc.Tensor(x), dim, keepdim)
    expected = reference(x, ref.dims_for(x.ndim, dim), keepdim)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    small, sdim, skeep = data.draw(array_and_dims(max_dims=2, distinct=distinct))
    if name == "std":
        # sqrt is not differentiable at 0: every reduced group needs two different values
        reduced = np.ones(small.shape).sum(axis=ref.dims_for(small.ndim, sdim))
        assume(np.min(reduced) > 1)
        small = small + np.arange(small.size).reshape(small.shape) * 0.1
    ref.check_grads(lambda t: fn(t, sdim, skeep), (small,))


@given(x=tst.float_arrays(tst.array_shapes(max_dims=3, max_side=4)), data=st.data())
def test_var_std_default_is_unbiased(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    t = tc.Tensor(x)
    if x.shape[dim] > 1:
        np.testing.assert_allclose(t.var(dim).numpy(), np.var(x, dim, ddof=1), rtol=1e-12)
        np.testing.assert_allclose(t.std(dim, keepdim=True).numpy(),
                                   np.std(x, dim, ddof=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(t.var(dim, correction=0).numpy(), np.var(x, dim), rtol=1e-12,
                               atol=1e-15)


def test_var_of_one_element_is_nan_like_pytorch():
    with np.errstate(invalid="ignore"):
        assert np.isnan(tc.tensor([3.0]).var().item())


@given(data=st.data())
def test_max_min_with_int_dim_return_values_and_indices(data):
    x, _, keepdim = data.draw(array_and_dims(distinct=True))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    values, indices = tc.Tensor(x).max(dim, keepdim)
    np.testing.assert_array_equal(values.numpy(), np.max(x, dim, keepdims=keepdim))
    np.testing.assert_array_equal(indices.numpy(), np.argmax(x, dim, keepdims=keepdim))
    assert indices.dtype == np.int64 and not indices.requires_grad
    result = tc.Tensor(x).min(dim=dim, keepdim=keepdim)
    np.testing.assert_array_equal(result.values.numpy(), np.min(x, dim, keepdims=keepdim))
    np.testing.assert_array_equal(result.indices.numpy(), np.argmin(x, dim, keepdims=keepdim))
    assert tc.gradcheck(lambda t: t.max(dim, keepdim).values, (x,))
    # no dim: one number
    assert tc.Tensor(x).max().shape == () and tc.Tensor(x).max().item() == x.max()


def test_tied_maxima_share_the_gradient():
    # documented deviation from PyTorch's max(dim): ties share the gradient (amax semantics)
    x = tc.Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    values, indices = x.max(1)
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    values.backward(tc.Tensor(np.array([4.0, 5.0])))
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 2.0, 2.0], [5.0, 0.0, 0.0]])


@given(data=st.data())
def test_argmax_argmin(data):
    x, _, keepdim = data.draw(array_and_dims(distinct=True))
    dim = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    t = tc.Tensor(x)
    if dim is None:
        assert t.argmax().item() == np.argmax(x) and tc.argmin(t).item() == np.argmin(x)
    else:
        np.testing.assert_array_equal(t.argmax(dim, keepdim).numpy(),
                                      np.argmax(x, dim, keepdims=keepdim))
        np.testing.assert_array_equal(t.argmin(dim, keepdim).numpy(),
                                      np.argmin(x, dim, keepdims=keepdim))


@pytest.mark.parametrize("fn,reference", [(tc.softmax, ref.softmax),
                                          (tc.log_softmax, ref.log_softmax)],
                         ids=["softmax", "log_softmax"])
@given(x=tst.float_arrays(tst.array_shapes(max_dims=3, max_side=3), min_value=-5, max_value=5),
       data=st.data())
def test_softmax_forward_and_gradients(fn, reference, x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    np.testing.assert_allclose(fn(tc.Tensor(x), dim).numpy(), reference(x, dim), rtol=1e-12,
                               atol=1e-14)
    small = x.reshape(-1)[:6].reshape(-1, 2) if x.size >= 6 else x
    sdim = data.draw(st.integers(-small.ndim, small.ndim - 1))
    ref.check_grads(lambda t: fn(t, sdim), (small,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_stable_for_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0, 1e4 - 1.0], [-1e4, -1e4 + 2.0, -1e4, -1e4]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = tc.softmax(tc.Tensor(logits), dim=1).numpy()
        logp = tc.Tensor(logits).log_softmax(1).numpy()
    expected = ref.log_softmax(logits.astype(np.float64), 1)
    assert np.all(np.isfinite(logp)) and p.dtype == dtype
    np.testing.assert_allclose(logp, expected, rtol=1e-6)
    np.testing.assert_allclose(p, np.exp(expected), rtol=1e-6, atol=1e-30)
    t = tc.Tensor(logits, requires_grad=True)
    (t.log_softmax(1) * tc.Tensor(np.arange(8.0).reshape(2, 4))).sum().backward()
    assert np.all(np.isfinite(t.grad.numpy()))
    assert np.isfinite(tc.logsumexp(tc.Tensor(logits), 1).numpy()).all()


def test_reduction_on_device(device):
    x = tc.tensor(np.array([[1.0, 5.0, 2.0], [4.0, 0.0, 3.0]]), device=device, requires_grad=True)
    y = x.sum(0) + x.mean(-1, keepdim=True) + x.amax(1, keepdim=True) + x.logsumexp(1, True)
    y.sum().backward()
    assert x.grad.device == tc.backend.normalize_device(device)
    assert x.argmax(1).tolist() == [1, 0] and x.max(dim=0).indices.tolist() == [1, 0, 1]
    assert tc.gradcheck(lambda t: t.var(1) + t.softmax(0).sum(1), (x,))


def test_bad_dims_name_the_problem():
    x = tc.ones(2, 3)
    with pytest.raises(IndexError, match=r"sum: dim 2 is out of range for a tensor with 2 dim"):
        x.sum(2)
    with pytest.raises(IndexError, match=r"dim -3 is out of range .* \(expected -2\.\.1\)"):
        x.mean(-3)
    with pytest.raises(ValueError, match=r"amax: dim \(1, -1\) names the same dimension twice"):
        x.amax((1, -1))
    with pytest.raises(TypeError, match="sum: dim must be an int, a tuple of ints or None, got"):
        x.sum("a")
    with pytest.raises(TypeError, match="mean: dim must be an int, got 'a'"):
        x.mean((0, "a"))
    with pytest.raises(IndexError, match="log_softmax: dim 5"):
        x.log_softmax(5)
    with pytest.raises(ValueError, match=r"amax: cannot reduce over dim 0 of size 0"):
        tc.zeros(0, 3).amax(0)
    with pytest.raises(TypeError, match="mean: needs a floating-point tensor, got int64"):
        tc.tensor([1, 2]).mean()


# ---------------------------------------------------------------- 0-d tensors (issue 9, bug 2)

ZERO_D_REDUCTIONS = ["sum", "mean", "amax", "amin", "logsumexp", "max", "min"]


@pytest.mark.parametrize("name", ZERO_D_REDUCTIONS)
@pytest.mark.parametrize("dim", [0, -1, (0,), (-1,)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions_of_a_0d_tensor_over_dim_0_or_minus_1(name, dim, keepdim):
    """PyTorch accepts dim 0 / -1 on a 0-d tensor and reduces over nothing (one element)."""
    x = tc.Tensor(np.array(1.5), requires_grad=True)
    out = getattr(tc, name)(x, dim, keepdim)
    values = out.values if isinstance(dim, int) and name in ("max", "min") else out
    assert values.shape == ()
    np.testing.assert_allclose(values.numpy(), 1.5, rtol=1e-12)
    values.backward(tc.Tensor(np.array(0.7)))
    np.testing.assert_allclose(x.grad.numpy(), 0.7, rtol=1e-12)
    if isinstance(dim, int) and name in ("max", "min"):
        assert out.indices.item() == 0


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("dim", [0, -1])
def test_var_std_of_a_0d_tensor(name, dim):
    x = tc.Tensor(np.array(1.5))
    assert np.isnan(getattr(tc, name)(x, dim).item())           # n - 1 = 0, as in PyTorch
    assert getattr(tc, name)(x, dim, correction=0).item() == 0.0


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_of_a_0d_tensor(name):
    x = tc.Tensor(np.array(1.5))
    for dim in (0, -1):
        assert getattr(tc, name)(x, dim).item() == 0
        assert getattr(tc, name)(x, dim, keepdim=True).shape == ()


def test_0d_reductions_against_pytorch():
    torch = pytest.importorskip("torch")
    for name in ZERO_D_REDUCTIONS + ["var", "std"]:
        for dim in (0, -1):
            ours = getattr(tc, name)(tc.Tensor(np.array(-0.25)), dim)
            theirs = getattr(torch, name)(torch.tensor(-0.25, dtype=torch.float64), dim)
            ours = ours.values if name in ("max", "min") else ours
            theirs = theirs.values if name in ("max", "min") else theirs
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- minima computed directly (bug 3)


def test_min_of_integers_is_exact():
    """-max(-x) overflows for the most negative int and wraps for unsigned ints."""
    x = tc.tensor([0, -(2**31)], dtype=tc.int32)
    assert tc.min(x).item() == -(2**31) and tc.amin(x).item() == -(2**31)
    assert tc.min(x, 0).values.item() == -(2**31)
    u = tc.tensor([3, 0, 200], dtype=tc.uint8)
    assert tc.min(u).item() == 0 and tc.min(u).dtype == np.uint8
    assert tc.minimum(u, tc.tensor([1, 1, 1], dtype=tc.uint8)).tolist() == [1, 0, 1]
    big = tc.tensor([0, -(2**31)], dtype=tc.int32)
    assert tc.minimum(big, tc.tensor([0, 0], dtype=tc.int32)).tolist() == [0, -(2**31)]


def test_min_of_bool_tensors():
    b = tc.tensor([True, False, True])
    assert tc.min(b).item() is False and tc.min(b).dtype == np.bool_
    assert tc.amin(b, 0).item() is False
    assert tc.min(tc.tensor([True, True])).item() is True
    assert tc.minimum(b, tc.tensor([True, True, False])).tolist() == [True, False, False]
    assert b.min().item() is False and b.max().item() is True


def test_integer_and_bool_minima_against_pytorch():
    torch = pytest.importorskip("torch")
    cases = [([0, -(2**31), 5], tc.int32, torch.int32), ([3, 0, 200], tc.uint8, torch.uint8),
             ([True, False], tc.bool_, torch.bool), ([7, -3, 2**40], tc.int64, torch.int64)]
    for values, ours_dtype, their_dtype in cases:
        ours, theirs = tc.tensor(values, dtype=ours_dtype), torch.tensor(values, dtype=their_dtype)
        assert tc.min(ours).item() == torch.min(theirs).item()
        assert tc.amin(ours, 0).item() == torch.amin(theirs, 0).item()
        flipped_ours, flipped_theirs = tc.tensor(values[::-1], dtype=ours_dtype), theirs.flip(0)
        assert (tc.minimum(ours, flipped_ours).tolist()
                == torch.minimum(theirs, flipped_theirs).tolist())


@given(data=st.data())
def test_amin_gradient_ties_share_like_amax(data):
    x = data.draw(tst.float_arrays(tst.array_shapes(min_dims=1, max_dims=2, max_side=3),
                                   distinct=True))
    ref.check_grads(lambda v: tc.amin(v, -1), (x,))
    tied = np.array([1.0, -2.0, -2.0, 3.0])
    t = tc.Tensor(tied, requires_grad=True)
    tc.amin(t).backward()
    np.testing.assert_array_equal(t.grad.numpy(), [0.0, 0.5, 0.5, 0.0])


@pytest.mark.parametrize("name,value", [("softmax", 1.0), ("log_softmax", 0.0)])
@pytest.mark.parametrize("dim", [0, -1])
def test_softmax_of_a_0d_tensor(name, value, dim):
    """One element along the dim: softmax 1, log_softmax 0, gradient 0 (as PyTorch)."""
    x = tc.Tensor(np.array(1.5), requires_grad=True)
    out = getattr(tc, name)(x, dim)
    assert out.shape == () and out.item() == value
    out.backward(tc.Tensor(np.array(0.7)))
    assert x.grad.item() == 0.0
    assert tc.gradgradcheck(lambda v: getattr(tc, name)(v, dim), (np.array(0.3),))


def test_sum_of_integers_and_bools_is_int64_as_pytorch(device):
    """NumPy sums unsigned integers in uint64 (and int8 in int64): PyTorch's rule is int64 for
    every integer and bool dtype, so uint8 image sums do not come back unsigned."""
    for dtype in (tc.uint8, tc.int8, tc.int16, tc.int32, tc.int64, tc.bool_):
        x = tc.tensor([[1, 0, 1], [1, 1, 0]], dtype=dtype, device=device)
        assert x.sum().dtype == np.int64 and x.sum().item() == 4, dtype
        assert x.sum(1).dtype == np.int64 and x.sum(1).tolist() == [2, 2], dtype
    big = tc.tensor([200, 100], dtype=tc.uint8, device=device)
    assert big.sum().item() == 300  # no uint8 wrap
    assert tc.ones(3, dtype=tc.float32, device=device).sum().dtype == np.float32
