"""cumsum, cumprod, prod: forward against loop references, float64 gradients (zeros included),
dtype rules, errors, and PyTorch as an optional oracle."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tests import core_references as ref
from tests import references_ops as rops
from tinygrad_cnn.testing import strategies as tst

SHAPES = tst.array_shapes(min_dims=1, max_dims=3, max_side=4)
SMALL = tst.array_shapes(min_dims=1, max_dims=3, max_side=3)


@st.composite
def array_and_dim(draw, shapes=SHAPES, **kwargs):
    x = draw(tst.float_arrays(shapes, **kwargs))
    return x, draw(st.integers(-x.ndim, x.ndim - 1))


def _with_zeros(draw, x):
    """x with a drawn set of entries set to exactly 0 (one or more)."""
    mask = np.array(draw(st.lists(st.booleans(), min_size=x.size, max_size=x.size)))
    mask[draw(st.integers(0, x.size - 1))] = True
    return np.where(mask.reshape(x.shape), 0.0, x)


@given(case=array_and_dim())
def test_cumsum_cumprod_forward_and_methods(case):
    x, dim = case
    axis = dim % x.ndim
    np.testing.assert_allclose(tc.cumsum(tc.Tensor(x), dim).numpy(), rops.cumulate(x, axis, "sum"),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tc.Tensor(x).cumprod(dim).numpy(),
                               rops.cumulate(x, axis, "prod"), rtol=1e-12, atol=1e-12)


@given(case=array_and_dim(SMALL))
def test_cumsum_gradients(case):
    x, dim = case
    ref.check_grads(lambda t: t.cumsum(dim), (x,))


@given(case=array_and_dim(SMALL, avoid=(0.0,), margin=0.2))
def test_cumprod_gradients_without_zeros(case):
    x, dim = case
    ref.check_grads(lambda t: tc.cumprod(t, dim), (x,))


@given(case=array_and_dim(SMALL, avoid=(0.0,), margin=0.2), data=st.data())
def test_cumprod_gradients_at_zeros(case, data):
    """Exact zeros take the division-free path; the numeric Jacobian (which perturbs the zero
    away) must agree with it, and so must the second derivatives."""
    x, dim = case
    x = _with_zeros(data.draw, x)
    ref.check_grads(lambda t: tc.cumprod(t, dim), (x,))


@given(x=tst.float_arrays(SMALL, avoid=(0.0,), margin=0.2), data=st.data())
def test_prod_forward_and_gradients(x, data):
    kind = data.draw(st.sampled_from(["none", "int", "tuple"]))
    keepdim = data.draw(st.booleans())
    if kind == "none":
        dim, axes = None, tuple(range(x.ndim))
    elif kind == "int":
        dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
        axes = (dim % x.ndim,)
    else:
        axes = tuple(sorted(data.draw(st.sets(st.integers(0, x.ndim - 1), min_size=1))))
        dim = axes
    expected = rops.product(x, axes)
    if keepdim and dim is not None:
        expected = expected.reshape([1 if i in axes else n for i, n in enumerate(x.shape)])
    out = tc.prod(tc.Tensor(x), dim, keepdim) if dim is not None else tc.Tensor(x).prod()
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    if data.draw(st.booleans()):
        x = _with_zeros(data.draw, x)   # one zero: the others' product; two: zero gradient
    ref.check_grads(lambda t: t.prod(dim, keepdim) if dim is not None else t.prod(), (x,))


@pytest.mark.parametrize("dtype", [tc.bool_, tc.uint8, tc.int8, tc.int32, tc.int64])
def test_integer_inputs_accumulate_in_int64(dtype):
    x = tc.tensor(np.array([[1, 0, 1], [1, 1, 1]]).astype(dtype))
    for out in (x.cumsum(1), x.cumprod(0), x.prod(), tc.prod(x, 1)):
        assert out.dtype == np.int64
    np.testing.assert_array_equal(x.cumsum(1).numpy(), [[1, 1, 2], [1, 2, 3]])
    big = tc.tensor(np.array([200, 100], dtype=np.uint8))
    assert big.cumsum(0).tolist() == [200, 300]   # no uint8 wrap-around
    assert big.prod().item() == 20000


@pytest.mark.parametrize("dtype", [tc.float16, tc.float32, tc.float64])
def test_float_inputs_keep_their_dtype_and_dtype_argument_converts(dtype):
    x = tc.tensor(np.array([1.5, 2.0, 3.0], dtype=dtype))
    assert x.cumsum(0).dtype == dtype and x.cumprod(0).dtype == dtype and x.prod().dtype == dtype
    assert tc.cumsum(x, 0, dtype=tc.float64).dtype == np.float64
    assert tc.tensor([1, 2]).prod(dtype=tc.float32).dtype == np.float32


def test_zero_dim_and_empty():
    s = tc.tensor(3.0, requires_grad=True)
    assert tc.cumsum(s, 0).shape == () and tc.cumprod(s, -1).item() == 3.0
    assert tc.prod(s, 0).item() == 3.0 and s.prod().item() == 3.0
    e = tc.zeros((0, 3))
    assert e.cumsum(0).shape == (0, 3)
    np.testing.assert_array_equal(e.prod(0).numpy(), np.ones(3))
    assert tc.ones((2, 0)).prod(1).tolist() == [1.0, 1.0]


def test_errors_name_the_dim():
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        tc.zeros((2, 3)).cumsum(2)
    with pytest.raises(IndexError, match="dim -3 is out of range"):
        tc.cumprod(tc.zeros((2, 3)), -3)
    with pytest.raises(IndexError, match="dim 5"):
        tc.zeros((2,)).prod(5)


def test_double_backward_of_cumprod_with_zero_matches_hessian():
    # y = prod of cumprod's last entry; d2y/dx0 dx1 at x = (0, 2, 3) is 2*3 = 6... and prod's
    # second derivative through the zero path: checked against the exact formula
    x = tc.tensor([0.0, 2.0, 3.0], dtype=tc.float64, requires_grad=True)
    (g,) = tc.grad(tc.cumprod(x, 0)[-1], (x,), create_graph=True)
    np.testing.assert_allclose(g.numpy(), [6.0, 0.0, 0.0])
    (h0,) = tc.grad(g[0], (x,))
    np.testing.assert_allclose(h0.numpy(), [0.0, 3.0, 2.0])


def test_pytorch_cross_check():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, (3, 4)) * rng.choice([-1, 1], (3, 4))
    z = x.copy()
    z[1, 2] = 0.0
    z[0, 0] = 0.0
    for a in (x, z):
        rops.compare_with_torch(torch, lambda t: t.cumsum(1), lambda t: t.cumsum(1), [a])
        rops.compare_with_torch(torch, lambda t: t.cumprod(-1), lambda t: t.cumprod(-1), [a])
        rops.compare_with_torch(torch, lambda t: t.cumprod(0), lambda t: t.cumprod(0), [a])
        rops.compare_with_torch(torch, lambda t: t.prod(), lambda t: t.prod(), [a])
        rops.compare_with_torch(torch, lambda t: t.prod(1, True), lambda t: t.prod(1, True), [a])
    for dtype in ("bool", "uint8", "int32"):
        a = np.array([[1, 0, 1], [1, 1, 1]]).astype(dtype)
        assert tc.tensor(a).cumsum(1).tolist() == torch.tensor(a).cumsum(1).tolist()
        assert str(tc.tensor(a).prod().dtype) == str(torch.tensor(a).prod().dtype)[6:]


@given(x=st.lists(st.integers(-2, 2), min_size=1, max_size=12).map(np.array), data=st.data())
def test_cumprod_first_order_path_matches_the_create_graph_path(x, data):
    """With zeros, plain backward takes an O(n) form and create_graph=True a division-free
    O(n^2) form (whose own derivatives are right); both must give the same gradient, for any
    number and position of zeros."""
    x = np.stack([x.astype(float), x[::-1].astype(float)])
    dim = data.draw(st.integers(-2, 1))
    up = tc.Tensor(np.random.default_rng(x.size).standard_normal(x.shape))
    t = tc.Tensor(x, requires_grad=True)
    t.cumprod(dim).backward(up)
    s = tc.Tensor(x, requires_grad=True)
    (g,) = tc.grad(s.cumprod(dim), (s,), up, create_graph=True)
    np.testing.assert_allclose(t.grad.numpy(), g.numpy(), rtol=1e-12, atol=1e-12)
