"""Elementwise ops: forward against NumPy, gradients in float64, broadcasting, dtype rules."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tests import core_references as ref
from tinygrad_cnn.testing import strategies as tst

SMALL = tst.array_shapes(min_dims=0, max_dims=3, max_side=3)
TINY = tst.array_shapes(min_dims=0, max_dims=2, max_side=3)

# name, function, NumPy reference, value range, kinks to avoid
UNARY = [
    ("neg", lambda x: -x, np.negative, (-3, 3), ()),
    ("exp", tc.exp, np.exp, (-3, 3), ()),
    ("log", tc.log, np.log, (0.2, 3), ()),
    ("sqrt", tc.sqrt, np.sqrt, (0.2, 3), ()),
    ("abs", tc.abs, np.abs, (-3, 3), (0.0,)),
    ("tanh", tc.tanh, np.tanh, (-3, 3), ()),
    ("sigmoid", tc.sigmoid, ref.sigmoid, (-3, 3), ()),
    ("relu", tc.relu, lambda x: np.maximum(x, 0), (-3, 3), (0.0,)),
    ("leaky_relu", lambda x: tc.leaky_relu(x, 0.1), lambda x: ref.leaky_relu(x, 0.1), (-3, 3),
     (0.0,)),
    ("clamp", lambda x: tc.clamp(x, -1.0, 0.5), lambda x: np.clip(x, -1.0, 0.5), (-3, 3),
     (-1.0, 0.5)),
    ("clamp_min", lambda x: x.clamp(min=-0.5), lambda x: np.maximum(x, -0.5), (-3, 3), (-0.5,)),
    ("clip_max", lambda x: x.clip(max=0.5), lambda x: np.minimum(x, 0.5), (-3, 3), (0.5,)),
    ("pow_int", lambda x: x**3, lambda x: x**3, (-3, 3), ()),
    ("pow_frac", lambda x: x**1.5, lambda x: x**1.5, (0.2, 3), ()),
    ("pow_neg", lambda x: x ** -2.0, lambda x: x ** -2.0, (0.3, 3), ()),
    ("rpow", lambda x: 2.0**x, lambda x: 2.0**x, (-3, 3), ()),
    ("rsub", lambda x: 1.5 - x, lambda x: 1.5 - x, (-3, 3), ()),
    ("rdiv", lambda x: 2.0 / x, lambda x: 2.0 / x, (0.3, 3), ()),
    ("scalar_mul", lambda x: x * -0.7 + 0.1, lambda x: x * -0.7 + 0.1, (-3, 3), ()),
]

# name, function, reference, range of a, range of b, kinks of b
BINARY = [
    ("add", lambda a, b: a + b, np.add, (-3, 3), (-3, 3), ()),
    ("sub", lambda a, b: a - b, np.subtract, (-3, 3), (-3, 3), ()),
    ("mul", lambda a, b: a * b, np.multiply, (-3, 3), (-3, 3), ()),
    ("div", lambda a, b: a / b, np.divide, (-3, 3), (-3, 3), (0.0,)),
    ("pow", lambda a, b: a**b, np.power, (0.3, 3), (-2, 2), ()),
    ("maximum", tc.maximum, np.maximum, (-3, 3), (-3, 3), ()),
    ("minimum", tc.minimum, np.minimum, (-3, 3), (-3, 3), ()),
]


@pytest.mark.parametrize("name,fn,reference,bounds,avoid", UNARY, ids=[u[0] for u in UNARY])
@given(data=st.data())
def test_unary_forward_and_gradients(name, fn, reference, bounds, avoid, data):
    x = data.draw(tst.float_arrays(SMALL, min_value=bounds[0], max_value=bounds[1], avoid=avoid,
                                   margin=0.05))
    out = fn(tc.Tensor(x))
    assert out.dtype == np.float64 and out.shape == x.shape
    np.testing.assert_allclose(out.numpy(), reference(x), rtol=1e-12, atol=1e-12)
    small = data.draw(tst.float_arrays(TINY, min_value=bounds[0], max_value=bounds[1],
                                       avoid=avoid, margin=0.05))
    ref.check_grads(fn, (small,))


@pytest.mark.parametrize("name,fn,reference,a_range,b_range,avoid", BINARY,
                         ids=[b[0] for b in BINARY])
@given(shapes=tst.broadcastable_shapes(max_dims=3, max_side=3), data=st.data())
def test_binary_broadcasting_forward_and_gradients(name, fn, reference, a_range, b_range, avoid,
                                                   shapes, data):
    sa, sb = shapes
    a = data.draw(tst.float_arrays(sa, min_value=a_range[0], max_value=a_range[1]))
    b = data.draw(tst.float_arrays(sb, min_value=b_range[0], max_value=b_range[1], avoid=avoid,
                                   margin=0.3))
    if name in ("maximum", "minimum"):  # no ties between a and b: one distinct draw, split
        both = data.draw(tst.float_arrays((a.size + b.size,), distinct=True, margin=0.05))
        a, b = both[: a.size].reshape(sa), both[a.size :].reshape(sb)
    out = fn(tc.Tensor(a), tc.Tensor(b))
    expected = reference(a, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    # the gradients are summed back to each input's own shape
    ref.check_grads(fn, (a, b), twice=a.size * b.size <= 36)


@given(shapes=tst.broadcastable_shapes(max_dims=2, max_side=3), data=st.data())
def test_broadcast_gradient_is_summed_back(shapes, data):
    sa, sb = shapes
    a = tc.Tensor(data.draw(tst.float_arrays(sa)), requires_grad=True)
    b = tc.Tensor(data.draw(tst.float_arrays(sb)), requires_grad=True)
    out = a * b
    upstream = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(upstream)
    # d(sum(g * a * b))/da = g * b summed over the dims that broadcasting added or stretched
    expected_a = ref.sum_to_shape(upstream * np.broadcast_to(b.numpy(), out.shape), sa)
    expected_b = ref.sum_to_shape(upstream * np.broadcast_to(a.numpy(), out.shape), sb)
    assert a.grad.shape == sa and b.grad.shape == sb
    np.testing.assert_allclose(b.grad.numpy(), expected_b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), expected_a, rtol=1e-12, atol=1e-12)


@given(shapes=tst.broadcastable_shapes(max_dims=2, max_side=3), data=st.data())
def test_where_forward_and_gradients(shapes, data):
    sa, sb = shapes
    a = data.draw(tst.float_arrays(sa))
    b = data.draw(tst.float_arrays(sb))
    cond = np.random.default_rng(data.draw(st.integers(0, 100))).random(sa) > 0.5
    out = tc.where(tc.Tensor(cond), tc.Tensor(a), tc.Tensor(b))
    np.testing.assert_allclose(out.numpy(), np.where(cond, a, b))
    ref.check_grads(lambda a, b: tc.where(tc.Tensor(cond), a, b), (a, b))


def test_where_with_python_numbers():
    x = tc.Tensor(np.array([-1.0, 2.0]), requires_grad=True)
    y = tc.where(x > 0, x, 0.0)
    np.testing.assert_array_equal(y.numpy(), [0.0, 2.0])
    y.backward(tc.Tensor(np.array([3.0, 5.0])))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 5.0])


def test_maximum_tie_shares_gradient_like_pytorch():
    a = tc.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = tc.Tensor(np.array([1.0, 0.0]), requires_grad=True)
    tc.maximum(a, b).backward(tc.Tensor(np.array([2.0, 2.0])))
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 0.0])


def test_abs_and_relu_gradient_at_zero_is_zero():
    x = tc.Tensor(np.zeros(3), requires_grad=True)
    (x.abs() + x.relu()).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3))


def test_sigmoid_does_not_overflow():
    x = tc.Tensor(np.array([-1000.0, 0.0, 1000.0], dtype=np.float32))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = tc.sigmoid(x).numpy()
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0])


def test_reflected_operators_with_scalars_and_arrays():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    t = tc.Tensor(a)
    cases = [
        (2 + t, 2 + a), (t + 2, a + 2), (2 - t, 2 - a), (2 * t, 2 * a), (2 / t, 2 / a),
        (2**t, 2**a), (-t, -a), (a + t, a + a), (a - t, a - a), (t - a, a - a),
        (a * t, a * a), (a / t, a / a), (a @ t, a @ a), (t @ a, a @ a),
    ]
    for out, expected in cases:
        assert isinstance(out, tc.Tensor)
        np.testing.assert_allclose(out.numpy(), expected)


def test_dtype_rules():
    f32 = tc.Tensor([1.0, 2.0])
    f64 = tc.Tensor(np.array([1.0, 2.0]))
    ints = tc.Tensor([1, 2])
    assert f32.dtype == np.float32 and f64.dtype == np.float64 and ints.dtype == np.int64
    assert (f32 * 2.5).dtype == np.float32  # a Python float does not promote float32
    assert (2.5 - f32).dtype == np.float32
    assert (f64 * 2.5).dtype == np.float64
    assert (f32 * np.float64(2.5)).dtype == np.float32
    assert (ints * 2).dtype == np.int64
    assert (ints * 2.5).dtype == np.float32  # int tensor with a Python float: default float
    assert (ints / ints).dtype == np.float32
    assert (f32 + f64).dtype == np.float64  # two tensors: NumPy's promotion
    assert (f32 ** 2).dtype == np.float32
    # a float tensor next to an integer or bool one keeps its dtype (PyTorch; NumPy says float64)
    assert (ints + f32).dtype == np.float32 and (f32 * ints).dtype == np.float32
    assert (ints - f64).dtype == np.float64
    assert (tc.Tensor([True, False]) * f32).dtype == np.float32
    np.testing.assert_array_equal((ints + f32).numpy(), [2.0, 4.0])


def test_integer_powers_follow_pytorch():
    ints = tc.Tensor([4, 9])
    assert (ints ** 2).dtype == np.int64
    np.testing.assert_array_equal((ints ** 2).numpy(), [16, 81])
    half = ints ** 0.5  # a fractional power of an integer tensor: float32
    assert half.dtype == np.float32
    np.testing.assert_array_equal(half.numpy(), [2.0, 3.0])
    assert (ints ** tc.Tensor([0.5, 2.0])).dtype == np.float32
    np.testing.assert_array_equal((ints ** tc.Tensor([0, 1])).numpy(), [1, 9])
    with pytest.raises(ValueError, match=r"integer tensor \(int64\) to a negative integer power "
                                         r"\(-1\).*cast it to float"):
        ints ** -1
    with pytest.raises(ValueError, match=r"negative integer powers \(exponent int64 holds "
                                         r"values < 0\)"):
        ints ** tc.Tensor([1, -2])
    np.testing.assert_allclose((ints.float() ** -1).numpy(), [0.25, 1 / 9], rtol=1e-7)


def test_float32_gradients_stay_float32():
    x = tc.randn(3, requires_grad=True)
    w = tc.Tensor(np.ones(3), requires_grad=True)  # float64
    (x * w).sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64


def test_comparisons_are_not_differentiable(device):
    a = tc.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    b = tc.tensor([2.0, 2.0], device=device)
    for out, expected in [
        (a < b, [[True, False], [False, False]]), (a <= b, [[True, True], [False, False]]),
        (a > b, [[False, False], [True, True]]), (a >= b, [[False, True], [True, True]]),
        (a == b, [[False, True], [False, False]]), (a != b, [[True, False], [True, True]]),
        (a > 2.5, [[False, False], [True, True]]), (tc.eq(a, 1.0), [[True, False], [False, False]]),
    ]:
        assert out.dtype == np.bool_ and not out.requires_grad and out.grad_fn is None
        np.testing.assert_array_equal(out.numpy(), expected)
    m = (a > 1.5) & ~(a > 3.5) | (a == 1.0)
    np.testing.assert_array_equal(m.numpy(), [[True, True], [True, False]])


def test_ops_on_device(device):
    x = tc.tensor(np.array([[0.5, -1.0], [2.0, 0.1]]), device=device, requires_grad=True)
    y = (x.exp() * x.sigmoid() + x.abs().sqrt() - x.tanh() / 2).relu() ** 2
    y.sum().backward()
    assert y.device == x.device == x.grad.device == tc.backend.normalize_device(device)
    assert tc.gradcheck(lambda t: (t.exp() * t.sigmoid() + t.abs().sqrt()).relu() ** 2, (x,))


def test_cast_is_differentiable():
    x = tc.Tensor(np.array([1.5, -2.0]), requires_grad=True)
    y = x.float()
    assert y.dtype == np.float32 and y.requires_grad
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    z = tc.Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    (z.double() * tc.Tensor(np.array([0.5, -1.0]))).sum().backward()
    assert z.grad.dtype == np.float32
    np.testing.assert_array_equal(z.grad.numpy(), [0.5, -1.0])


def test_broadcast_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        tc.ones(2, 3) + tc.ones(4)
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(2,\)"):
        tc.ones(2, 3) * np.ones(2)
    with pytest.raises(ValueError, match=r"where: shapes \(2,\) and \(3,\) and \(3,\)"):
        tc.where(tc.ones(2) > 0, tc.ones(3), tc.ones(3))
    with pytest.raises(ValueError, match=r"less: shapes \(2,\) and \(3,\)"):
        _ = tc.ones(2) < tc.ones(3)


def test_clamp_bad_bounds():
    with pytest.raises(ValueError, match="at least one of min and max"):
        tc.clamp(tc.ones(2))


# ---------------------------------------------------------------- issue 9, bugs 4 to 7


def test_clamp_with_min_above_max_gives_max_like_pytorch():
    x = tc.Tensor(np.array([-3.0, 1.5, 4.0, 9.0]), requires_grad=True)
    out = tc.clamp(x, 6.0, 2.0)
    np.testing.assert_array_equal(out.numpy(), [2.0, 2.0, 2.0, 2.0])
    out.backward(tc.Tensor(np.ones(4)))
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(4))   # nothing is inside [6, 2]
    assert tc.clip(tc.tensor([1, 5, 10]), 6, 2).tolist() == [2, 2, 2]
    torch = pytest.importorskip("torch")
    for values, lo, hi in (([-3.0, 1.5, 4.0, 9.0], 6.0, 2.0), ([1, 5, 10], 6, 2),
                           ([1, 5, 10], 0.5, None)):
        ours = tc.clamp(tc.tensor(values), lo, hi)
        theirs = torch.clamp(torch.tensor(values), lo, hi)
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# x, p, PyTorch's (x**p, d/dx, d/dp): every edge at x = 0, p = 0 and x < 0
POW_EDGES = [
    (0.0, 0.0, (1.0, 0.0, 0.0)), (0.0, 1.0, (0.0, 1.0, 0.0)), (0.0, 2.0, (0.0, 0.0, 0.0)),
    (0.0, 0.5, (0.0, np.inf, 0.0)), (0.0, -1.0, (np.inf, -np.inf, -np.inf)),
    (0.0, -0.5, (np.inf, -np.inf, -np.inf)), (-0.0, -1.0, (-np.inf, -np.inf, np.inf)),
    (2.0, 0.0, (1.0, 0.0, np.log(2.0))), (-2.0, 2.0, (4.0, -4.0, np.nan)),
    (-2.0, -1.0, (-0.5, -0.25, np.nan)),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("x,p,expected", POW_EDGES)
def test_pow_gradients_at_the_edges_match_pytorch(x, p, expected):
    xt = tc.Tensor(np.array(x), requires_grad=True)
    pt = tc.Tensor(np.array(p), requires_grad=True)
    y = xt**pt
    y.backward()
    np.testing.assert_array_equal([y.item(), xt.grad.item(), pt.grad.item()], expected)
    scalar_exponent = tc.Tensor(np.array(x), requires_grad=True)
    (scalar_exponent**p).backward()                        # the exponent a Python number
    np.testing.assert_array_equal(scalar_exponent.grad.item(), expected[1])
    if x >= 0:
        scalar_base = tc.Tensor(np.array(p), requires_grad=True)
        (x**scalar_base).backward()                        # the base a Python number
        np.testing.assert_array_equal(scalar_base.grad.item(), expected[2])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_pow_edges_against_pytorch():
    torch = pytest.importorskip("torch")
    xs = np.array([0.0, -0.0, 0.0, 0.0, 0.0, 2.0, -2.0, -2.0, 1.5, 0.0])
    ps = np.array([0.0, -1.0, 1.0, 2.0, -0.5, 0.0, 2.0, -1.0, 0.5, 0.5])
    ours_x, ours_p = tc.Tensor(xs, requires_grad=True), tc.Tensor(ps, requires_grad=True)
    (ours_x**ours_p).sum().backward()
    theirs_x = torch.tensor(xs, requires_grad=True)
    theirs_p = torch.tensor(ps, requires_grad=True)
    (theirs_x**theirs_p).sum().backward()
    np.testing.assert_array_equal(ours_x.grad.numpy(), theirs_x.grad.numpy())
    np.testing.assert_array_equal(ours_p.grad.numpy(), theirs_p.grad.numpy())


def test_pow_second_derivative_at_zero_exponent_is_finite():
    """The masked entries use stand-ins: no NaN leaks into the second derivative."""
    x = tc.Tensor(np.array([0.0, 1.5]), requires_grad=True)
    p = tc.Tensor(np.array([0.0, 0.0]), requires_grad=True)
    (gx,) = tc.grad((x**p).sum(), (x,), create_graph=True)
    ggx, ggp = tc.grad(gx.sum(), (x, p))
    assert np.isfinite(ggx.numpy()).all() and np.isfinite(ggp.numpy()).all()
    # d/dx is the constant 0 where p == 0 (PyTorch's mask), so its derivatives are 0 too
    # (PyTorch's own second derivative is NaN at x = 0 there: 0 * inf leaks through its mask)
    np.testing.assert_array_equal(ggx.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(ggp.numpy(), [0.0, 0.0])
    x = tc.Tensor(np.array([0.0, 1.5]), requires_grad=True)
    p = tc.Tensor(np.array([2.0, 0.5]), requires_grad=True)
    (gx,) = tc.grad((x**p).sum(), (x,), create_graph=True)
    ggx, ggp = tc.grad(gx.sum(), (x, p))
    np.testing.assert_allclose(ggx.numpy(), [2.0, -0.25 * 1.5**-1.5], rtol=1e-12)
    np.testing.assert_allclose(ggp.numpy(), [0.0, 1.5**-0.5 * (1 + 0.5 * np.log(1.5))],
                               rtol=1e-12)


FLOAT_VALUED = [("exp", tc.exp), ("log", tc.log), ("sqrt", tc.sqrt), ("tanh", tc.tanh),
                ("sigmoid", tc.sigmoid)]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name,fn", FLOAT_VALUED, ids=[f[0] for f in FLOAT_VALUED])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool_"])
def test_float_valued_ops_give_float32_on_integer_and_bool_inputs(name, fn, dtype):
    values = [True, False, True] if dtype == "bool_" else [0, 1, 7]
    out = fn(tc.tensor(values, dtype=getattr(tc, dtype)))
    assert out.dtype == np.float32
    expected = getattr(np, name)(np.array(values, dtype=np.float64)) if name != "sigmoid" \
        else 1 / (1 + np.exp(-np.array(values, dtype=np.float64)))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    torch = pytest.importorskip("torch")
    theirs = getattr(torch, name)(torch.tensor(values, dtype=getattr(torch, dtype.rstrip("_"))))
    assert theirs.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), theirs.numpy(), rtol=1e-6)


def test_shape_errors_are_value_and_runtime_errors():
    for bad in (lambda: tc.ones(2, 3) @ tc.ones(2, 3), lambda: tc.ones(6).reshape(4, 2),
                lambda: tc.ones(6).view(5), lambda: tc.ones(2, 3).permute(0, 0),
                lambda: tc.ones(2, 3) + tc.ones(4), lambda: tc.ones(3).expand(2, 4),
                lambda: tc.cat([tc.ones(2, 3), tc.ones(2, 4)]),
                lambda: tc.stack([tc.ones(2), tc.ones(3)]),
                lambda: tc.nn.functional.linear(tc.ones(2, 3), tc.ones(4, 5))):
        with pytest.raises(tc.ShapeError) as caught:
            bad()
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, RuntimeError)
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(2, 3\) and \(2, 3\)"):
        tc.ones(2, 3) @ tc.ones(2, 3)       # a PyTorch user's except RuntimeError keeps working


def test_layer_shape_errors_are_shape_errors():
    nn = tc.nn
    for bad in (lambda: nn.Linear(3, 4)(tc.ones(2, 5)), lambda: nn.Linear(3, 4)(tc.ones(())),
                lambda: nn.Conv2d(3, 4, 3)(tc.ones(1, 2, 5, 5)),
                lambda: nn.Conv2d(3, 4, 3)(tc.ones(3, 5, 5, 1, 1)),
                lambda: nn.BatchNorm2d(3)(tc.ones(2, 4, 3, 3)),
                lambda: nn.Linear(3, 4).load_state_dict({"weight": np.zeros((4, 2)),
                                                         "bias": np.zeros(4)}),
                lambda: nn.functional.batch_norm(tc.ones(2, 3), tc.zeros(4), tc.ones(4))):
        with pytest.raises(tc.ShapeError) as caught:
            bad()
        assert isinstance(caught.value, RuntimeError) and isinstance(caught.value, ValueError)



def test_softmax_of_integers_is_the_default_float():
    # issue 9, bug 5: softmax/log_softmax of an int tensor gave float64
    x = tc.tensor([[1, 2, 3], [0, 0, 0]])
    for fn in (tc.softmax, tc.log_softmax):
        out = fn(x, 1)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.numpy(), fn(x.float(), 1).numpy(), rtol=1e-6)


@pytest.mark.parametrize("call", [
    lambda: tc.nn.functional.conv2d(tc.zeros(1, 3, 4, 4), tc.zeros(2, 2, 3, 3)),
    lambda: tc.nn.functional.conv2d(tc.zeros(1, 2, 4, 4), tc.zeros(2, 2, 3, 3), tc.zeros(3)),
    lambda: tc.nn.functional.conv_transpose2d(tc.zeros(1, 3, 4, 4), tc.zeros(2, 2, 3, 3)),
    lambda: tc.nn.functional.mse_loss(tc.zeros(2, 3), tc.zeros(3, 2)),
    lambda: tc.nn.functional.cross_entropy(tc.zeros(2, 3), tc.tensor([0, 1, 2])),
    lambda: tc.nn.functional.cross_entropy(tc.zeros(2, 3), tc.tensor([0, 1]),
                                           weight=tc.ones(4)),
    lambda: tc.nn.functional.cross_entropy(tc.zeros(2, 3), tc.zeros(2, 4)),
])
def test_conv_and_loss_shape_errors_are_shape_errors(call):
    # issue 9, bug 7: users' `except RuntimeError` (PyTorch's class) keeps working
    with pytest.raises(tc.ShapeError) as info:
        call()
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)
