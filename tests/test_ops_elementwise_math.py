"""More elementwise math (ops/elementwise_math.py): forward against NumPy, float64 gradients and
second gradients on Hypothesis inputs, values and gradients against PyTorch when installed,
dtype rules and the operators // and %."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tests import core_references as ref
from tinygrad_cnn.testing import strategies as tst

SMALL = tst.array_shapes(min_dims=0, max_dims=3, max_side=3)
TINY = tst.array_shapes(min_dims=0, max_dims=2, max_side=3)

# name (tc.<name>, Tensor.<name>, torch.<name>), NumPy reference, value range, kinks to avoid
FLOAT_UNARY = [
    ("reciprocal", lambda x: 1.0 / x, (-3, 3), (0.0,)),
    ("rsqrt", lambda x: 1.0 / np.sqrt(x), (0.2, 3), ()),
    ("exp2", lambda x: 2.0**x, (-3, 3), ()),
    ("log2", lambda x: np.log(x) / np.log(2.0), (0.2, 3), ()),
    ("log10", lambda x: np.log(x) / np.log(10.0), (0.2, 3), ()),
    ("log1p", lambda x: np.log(1.0 + x), (-0.8, 3), ()),
    ("expm1", lambda x: np.exp(x) - 1.0, (-3, 3), ()),
    ("sin", np.sin, (-4, 4), ()),
    ("cos", np.cos, (-4, 4), ()),
]
UNARY_IDS = [u[0] for u in FLOAT_UNARY]


@pytest.mark.parametrize("name,reference,bounds,avoid", FLOAT_UNARY, ids=UNARY_IDS)
@given(data=st.data())
def test_float_unary_forward_and_gradients(name, reference, bounds, avoid, data):
    x = data.draw(tst.float_arrays(SMALL, min_value=bounds[0], max_value=bounds[1], avoid=avoid,
                                   margin=0.3))
    out = getattr(tc, name)(tc.Tensor(x))
    assert out.dtype == np.float64 and out.shape == x.shape
    np.testing.assert_allclose(out.numpy(), reference(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(getattr(tc.Tensor(x), name)().numpy(), out.numpy())
    small = data.draw(tst.float_arrays(TINY, min_value=bounds[0], max_value=bounds[1],
                                       avoid=avoid, margin=0.3))
    ref.check_grads(getattr(tc, name), (small,))


@pytest.mark.parametrize("name,reference,bounds,avoid", FLOAT_UNARY, ids=UNARY_IDS)
def test_float_unary_against_pytorch(name, reference, bounds, avoid):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).uniform(bounds[0], bounds[1], 30)
    x = x[np.all([np.abs(x - k) > 0.3 for k in avoid], axis=0)] if avoid else x
    upstream = np.random.default_rng(2).standard_normal(x.shape)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 2e-6)):
        ours = tc.Tensor(x.astype(dtype), requires_grad=True)
        out = getattr(tc, name)(ours)
        out.backward(tc.Tensor(upstream.astype(dtype)))
        theirs = torch.tensor(x.astype(dtype), requires_grad=True)
        expected = getattr(torch, name)(theirs)
        expected.backward(torch.tensor(upstream.astype(dtype)))
        assert out.dtype == dtype
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=tol, atol=tol)
    for dtype in ("int64", "uint8", "bool"):     # the one promotion rule: float32
        values = [True, False] if dtype == "bool" else [1, 2]
        our_dtype = tc.bool_ if dtype == "bool" else getattr(tc, dtype)
        ours = getattr(tc, name)(tc.tensor(values, dtype=our_dtype))
        theirs = getattr(torch, name)(torch.tensor(values, dtype=getattr(torch, dtype)))
        assert ours.dtype == np.float32 and theirs.dtype == torch.float32
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


# ---------------------------------------------------------------- piecewise constant

STEPS = [("floor", np.floor), ("ceil", np.ceil), ("trunc", np.trunc), ("round", np.round),
         ("sign", np.sign)]
HALF_INTEGERS = tuple(k / 2 for k in range(-8, 9))


@pytest.mark.parametrize("name,reference", STEPS, ids=[s[0] for s in STEPS])
@given(data=st.data())
def test_step_functions_forward_and_zero_gradient(name, reference, data):
    x = data.draw(tst.float_arrays(SMALL, avoid=HALF_INTEGERS, margin=0.05))
    t = tc.Tensor(x, requires_grad=True)
    out = getattr(tc, name)(t)
    np.testing.assert_array_equal(out.numpy(), reference(x))
    np.testing.assert_array_equal(getattr(t, name)().numpy(), reference(x))
    upstream = np.random.default_rng(0).standard_normal(x.shape)
    out.backward(tc.Tensor(upstream))
    np.testing.assert_array_equal(t.grad.numpy(), np.zeros_like(x))   # as PyTorch
    small = data.draw(tst.float_arrays(TINY, avoid=HALF_INTEGERS, margin=0.05))
    ref.check_grads(getattr(tc, name), (small,))


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round", "sign"])
def test_step_functions_against_pytorch(name):
    torch = pytest.importorskip("torch")
    x = np.array([-2.5, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, 2.7, -3.2, np.inf, -np.inf])
    for dtype in (np.float64, np.float32):
        ours = tc.Tensor(x.astype(dtype), requires_grad=True)
        theirs = torch.tensor(x.astype(dtype), requires_grad=True)
        out, expected = getattr(tc, name)(ours), getattr(torch, name)(theirs)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out.numpy(), expected.detach().numpy())
        out.sum().backward()
        expected.sum().backward()
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    for dtype in ("int64", "int32", "uint8"):        # integers keep their dtype
        values = [0, 3, 7] if dtype == "uint8" else [-3, 0, 7]
        out = getattr(tc, name)(tc.tensor(values, dtype=getattr(tc, dtype)))
        expected = getattr(torch, name)(torch.tensor(values, dtype=getattr(torch, dtype)))
        assert str(out.dtype) == str(expected.dtype).removeprefix("torch.")
        assert out.tolist() == expected.tolist()
    b = [True, False]
    if name == "sign":
        assert tc.sign(tc.tensor(b)).tolist() == torch.sign(torch.tensor(b)).tolist()
        assert tc.sign(tc.tensor(b)).dtype == np.bool_
    else:
        with pytest.raises(TypeError, match=f"{name}: not defined for a bool tensor"):
            getattr(tc, name)(tc.tensor(b))


def test_round_decimals_against_pytorch():
    x = np.array([1.2345, -2.5551, 0.125, 1234.5678])
    for decimals in (-2, -1, 0, 1, 2, 3):
        np.testing.assert_allclose(tc.round(tc.Tensor(x), decimals=decimals).numpy(),
                                   np.round(x, decimals), rtol=1e-12)
    with pytest.raises(TypeError, match="decimals must be an int"):
        tc.round(tc.Tensor(x), decimals=1.5)
    torch = pytest.importorskip("torch")
    for decimals in (-1, 0, 2):
        np.testing.assert_allclose(tc.Tensor(x).round(decimals=decimals).numpy(),
                                   torch.round(torch.tensor(x), decimals=decimals).numpy(),
                                   rtol=1e-12)


# ---------------------------------------------------------------- remainders


def _python_remainder(a, b):
    """Python's % on floats, one element at a time: the sign of the divisor."""
    return np.vectorize(lambda u, v: u % v)(a, b).astype(np.float64)


def _c_fmod(a, b):
    import math  # noqa: PLC0415
    return np.vectorize(math.fmod)(a, b).astype(np.float64)


REMAINDERS = [
    ("remainder", lambda a, b: a % b, _python_remainder, np.floor),
    ("fmod", tc.fmod, _c_fmod, np.trunc),
    ("floor_divide", lambda a, b: a // b, lambda a, b: np.vectorize(lambda u, v: u // v)(a, b)
     .astype(np.float64), None),
]


@pytest.mark.parametrize("name,fn,reference,rounding", REMAINDERS, ids=[r[0] for r in REMAINDERS])
@given(shapes=tst.broadcastable_shapes(max_dims=2, max_side=3), data=st.data())
def test_remainders_forward_and_gradients(name, fn, reference, rounding, shapes, data):
    sa, sb = shapes
    a = data.draw(tst.float_arrays(sa, min_value=-5, max_value=5))
    b = data.draw(tst.float_arrays(sb, min_value=-2, max_value=2, avoid=(0.0,), margin=0.4))
    q = a / b
    assume(np.all(np.abs(q - np.round(q)) > 1e-3))     # off the jumps
    out = fn(tc.Tensor(a), tc.Tensor(b))
    np.testing.assert_allclose(out.numpy(), reference(a, b), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(getattr(tc, name)(tc.Tensor(a), tc.Tensor(b)).numpy(),
                               out.numpy(), rtol=0, atol=0)
    ta, tb = tc.Tensor(a, requires_grad=True), tc.Tensor(b, requires_grad=True)
    upstream = np.random.default_rng(0).standard_normal(out.shape)
    fn(ta, tb).backward(tc.Tensor(upstream))
    if rounding is None:                                        # floor_divide: piecewise constant
        expected_a, expected_b = np.zeros_like(upstream), np.zeros_like(upstream)
    else:
        expected_a, expected_b = upstream, -upstream * rounding(a / b)
    np.testing.assert_allclose(ta.grad.numpy(), ref.sum_to_shape(expected_a, sa), rtol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), ref.sum_to_shape(expected_b, sb), rtol=1e-12)
    ref.check_grads(fn, (a, b))


def test_remainder_operators_with_numbers_and_integers():
    ints = tc.tensor([5, -5, 7, -7])
    assert (ints % 3).tolist() == [2, 1, 1, 2] and (ints % 3).dtype == np.int64
    assert (ints // 2).tolist() == [2, -3, 3, -4] and (ints // 2).dtype == np.int64
    assert (7 // tc.tensor([2, -2])).tolist() == [3, -4]           # reflected
    assert (7 % tc.tensor([2, -2])).tolist() == [1, -1]
    assert tc.fmod(ints, 3).tolist() == [2, -2, 1, -1]
    assert (ints % 2.5).dtype == np.float32                         # a float operand: float32
    np.testing.assert_array_equal((7.5 % tc.Tensor(np.array([2.0, -2.0]))).numpy(), [1.5, -0.5])
    np.testing.assert_array_equal(tc.remainder(tc.Tensor(np.array([5.0])), 0.0).isnan().numpy(),
                                  [True])
    for op in (lambda: ints % 0, lambda: ints // tc.tensor([1, 0, 1, 1]), lambda: tc.fmod(ints, 0)):
        with pytest.raises(ZeroDivisionError, match="integer division by zero"):
            op()
    with pytest.raises(ValueError, match=r"remainder: shapes \(4,\) and \(3,\)"):
        ints % tc.tensor([1, 2, 3])


def test_remainders_against_pytorch():
    torch = pytest.importorskip("torch")
    a = np.array([5.5, -5.5, 7.0, -7.25, 0.0, 3.0])
    b = np.array([2.0, 2.0, -3.0, -3.0, 1.5, 0.75])
    for name in ("remainder", "fmod"):
        ours_a, ours_b = tc.Tensor(a, requires_grad=True), tc.Tensor(b, requires_grad=True)
        out = getattr(tc, name)(ours_a, ours_b)
        out.sum().backward()
        theirs_a = torch.tensor(a, requires_grad=True)
        theirs_b = torch.tensor(b, requires_grad=True)
        expected = getattr(torch, name)(theirs_a, theirs_b)
        expected.sum().backward()
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours_a.grad.numpy(), theirs_a.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours_b.grad.numpy(), theirs_b.grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(tc.floor_divide(tc.Tensor(a), tc.Tensor(b)).numpy(),
                                  torch.floor_divide(torch.tensor(a), torch.tensor(b)).numpy())
    ia, ib = [7, -7, 7, -7, 0], [2, 2, -2, -2, 3]
    for name in ("remainder", "fmod", "floor_divide"):
        assert (getattr(tc, name)(tc.tensor(ia), tc.tensor(ib)).tolist()
                == getattr(torch, name)(torch.tensor(ia), torch.tensor(ib)).tolist())


# ---------------------------------------------------------------- isinf, isclose


def test_isinf_and_isclose():
    x = np.array([1.0, np.inf, -np.inf, np.nan, 0.0])
    np.testing.assert_array_equal(tc.isinf(tc.Tensor(x)).numpy(), np.isinf(x))
    np.testing.assert_array_equal(tc.Tensor(x).isinf().numpy(), np.isinf(x))
    assert tc.isinf(tc.tensor([1, 2])).tolist() == [False, False]
    a = np.array([1.0, 1.0 + 1e-6, 1.0 + 1e-4, np.nan, np.inf])
    b = np.array([1.0, 1.0, 1.0, np.nan, np.inf])
    expected = [abs(u - v) <= 1e-8 + 1e-5 * abs(v) or u == v for u, v in zip(a, b, strict=True)]
    np.testing.assert_array_equal(tc.isclose(tc.Tensor(a), tc.Tensor(b)).numpy(), expected)
    np.testing.assert_array_equal(tc.Tensor(a).isclose(tc.Tensor(b), equal_nan=True).numpy(),
                                  [True, True, False, True, True])
    np.testing.assert_array_equal(tc.isclose(tc.Tensor(a), 1.0, rtol=0, atol=1e-3).numpy(),
                                  [True, True, True, False, False])
    for bad, message in (({"rtol": -1e-5}, "rtol must be non-negative, got -1e-05"),
                         ({"atol": float("nan")}, "atol must be non-negative, got nan")):
        with pytest.raises(ValueError, match=f"isclose: {message}"):  # as PyTorch refuses them
            tc.isclose(tc.Tensor(a), tc.Tensor(b), **bad)
    torch = pytest.importorskip("torch")
    for kwargs in ({}, {"equal_nan": True}, {"rtol": 0.0, "atol": 1e-5}):
        np.testing.assert_array_equal(
            tc.isclose(tc.Tensor(a), tc.Tensor(b), **kwargs).numpy(),
            torch.isclose(torch.tensor(a), torch.tensor(b), **kwargs).numpy())
    np.testing.assert_array_equal(tc.isinf(tc.Tensor(x)).numpy(), torch.isinf(torch.tensor(x)))


# ---------------------------------------------------------------- lerp, logaddexp


@given(shapes=tst.broadcastable_shapes(max_dims=2, max_side=3), data=st.data())
def test_lerp_forward_and_gradients(shapes, data):
    sa, sb = shapes
    start = data.draw(tst.float_arrays(sa))
    end = data.draw(tst.float_arrays(sb))
    weight = data.draw(tst.float_arrays(sb, min_value=0, max_value=1))
    out = tc.lerp(tc.Tensor(start), tc.Tensor(end), tc.Tensor(weight))
    np.testing.assert_allclose(out.numpy(), start + weight * (end - start), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(tc.Tensor(start).lerp(tc.Tensor(end), 0.3).numpy(),
                               start + 0.3 * (end - start), rtol=1e-12, atol=1e-12)
    ref.check_grads(tc.lerp, (start, end, weight))
    ref.check_grads(lambda s, e: tc.lerp(s, e, 0.75), (start, end))


@given(shapes=tst.broadcastable_shapes(max_dims=2, max_side=3), data=st.data())
def test_logaddexp_forward_and_gradients(shapes, data):
    sa, sb = shapes
    a = data.draw(tst.float_arrays(sa, min_value=-5, max_value=5))
    b = data.draw(tst.float_arrays(sb, min_value=-5, max_value=5))
    out = tc.logaddexp(tc.Tensor(a), tc.Tensor(b))
    np.testing.assert_allclose(out.numpy(), np.log(np.exp(a) + np.exp(b)), rtol=1e-12)
    ref.check_grads(tc.logaddexp, (a, b))


def test_logaddexp_is_stable_and_promotes():
    big = tc.logaddexp(tc.Tensor(np.array([1000.0, -1000.0])), tc.Tensor(np.array([1000.0, -1e4])))
    np.testing.assert_allclose(big.numpy(), [1000.0 + np.log(2.0), -1000.0], rtol=1e-12)
    assert tc.logaddexp(tc.tensor([1, 2]), tc.tensor([0, 0])).dtype == np.float32
    assert tc.Tensor(np.array([0.0])).logaddexp(tc.Tensor(np.array([0.0]))).item() == np.log(2.0)


def test_lerp_and_logaddexp_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a, b, w = rng.standard_normal((2, 3)), rng.standard_normal(3), rng.uniform(0, 1, (2, 3))
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-6)):
        ours = [tc.Tensor(v.astype(dtype), requires_grad=True) for v in (a, b, w)]
        theirs = [torch.tensor(v.astype(dtype), requires_grad=True) for v in (a, b, w)]
        for our_fn, their_fn, k in ((tc.lerp, torch.lerp, 3), (tc.logaddexp, torch.logaddexp, 2)):
            for t in ours + theirs:
                t.grad = None
            out, expected = our_fn(*ours[:k]), their_fn(*theirs[:k])
            assert out.dtype == dtype
            np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=tol, atol=tol)
            out.sum().backward()
            expected.sum().backward()
            for o, t in zip(ours[:k], theirs[:k], strict=True):
                np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)
    with pytest.raises(TypeError, match="lerp: end must be a floating-point tensor"):
        tc.lerp(tc.Tensor(a), tc.tensor([1, 2, 3]), 0.5)


def test_elementwise_math_on_device(device):
    """Every op here on each device: same values as on the CPU, gradients on the device."""
    host = np.array([[0.7, -1.3], [2.2, 0.4]])
    x = tc.tensor(host, device=device, requires_grad=True)
    y = tc.tensor(np.array([[1.5, -0.6], [0.9, 2.5]]), device=device, requires_grad=True)
    pos = x.abs() + 0.5
    out = (x.floor() + x.ceil() + x.round(decimals=1) + x.trunc() + x.sign() + x % y
           + tc.fmod(x, y) + x // y + pos.reciprocal() + pos.rsqrt() + x.exp2() + pos.log2()
           + pos.log10() + pos.log1p() + x.expm1() + x.sin() + x.cos() + x.logaddexp(y)
           + x.lerp(y, 0.3))
    out.sum().backward()
    assert out.device == x.grad.device == y.grad.device == tc.backend.normalize_device(device)
    with tc.no_grad():
        cpu_x, cpu_y = tc.Tensor(host), tc.Tensor(y.numpy())
        cpu_pos = cpu_x.abs() + 0.5
        expected = (cpu_x.floor() + cpu_x.ceil() + cpu_x.round(decimals=1) + cpu_x.trunc()
                    + cpu_x.sign() + cpu_x % cpu_y + tc.fmod(cpu_x, cpu_y) + cpu_x // cpu_y
                    + cpu_pos.reciprocal() + cpu_pos.rsqrt() + cpu_x.exp2() + cpu_pos.log2()
                    + cpu_pos.log10() + cpu_pos.log1p() + cpu_x.expm1() + cpu_x.sin()
                    + cpu_x.cos() + cpu_x.logaddexp(cpu_y) + cpu_x.lerp(cpu_y, 0.3))
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12)
    assert tc.isinf(x).device == tc.isclose(x, y).device == out.device
    assert tc.gradcheck(lambda a, b: (a % b + a.sin() * b.logaddexp(a)).sum(), (x, y))
