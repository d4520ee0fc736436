"""Pooling: naive references, first and second derivatives, PyTorch's tie and zero rules, errors."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests import references as ref
from tinygrad_cnn.testing import strategies as tst

per_device = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
SMALL = {"max_batch": 1, "max_channels": 2, "max_size": 5}


def _args(case):
    return {k: v for k, v in case.items() if k != "input_shape"}


# ---------------------------------------------------------------------- max pooling


@per_device
@given(case=tst.pool_geometries("max"), data=st.data())
def test_max_pool2d_matches_naive_reference(device, case, data):
    x = data.draw(tst.float_arrays(case["input_shape"], distinct=True))
    out, idx = F.max_pool2d(tc.Tensor(x, device=device), return_indices=True, **_args(case))
    expected, expected_idx = ref.max_pool2d(x, **_args(case))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(idx.numpy(), expected_idx)
    assert idx.dtype == np.int64
    values_only = F.max_pool2d(tc.Tensor(x, device=device), **_args(case))  # no offsets kept
    np.testing.assert_array_equal(values_only.numpy(), out.numpy())


@given(case=tst.pool_geometries("max"), data=st.data())
def test_max_pool2d_gradcheck(case, data):
    x = data.draw(tst.float_arrays(case["input_shape"], distinct=True))
    assert tc.gradcheck(lambda x: F.max_pool2d(x, **_args(case)), (x,))


@given(case=tst.pool_geometries("max", **SMALL), data=st.data())
def test_max_pool2d_gradgradcheck(case, data):
    x = data.draw(tst.float_arrays(case["input_shape"], distinct=True))
    assert tc.gradgradcheck(lambda x: F.max_pool2d(x, **_args(case)), (x,))


def test_max_pool2d_gradient_goes_to_the_first_maximum():
    x = np.array([[[[1.0, 5.0, 5.0, 0.0],
                    [5.0, 2.0, 3.0, 5.0],
                    [7.0, 7.0, 0.0, 0.0],
                    [7.0, 7.0, 0.0, 0.0]]]])
    xt = tc.Tensor(x, requires_grad=True)
    out, idx = F.max_pool2d(xt, 2, return_indices=True)
    out.backward(tc.Tensor(np.array([[[[1.0, 2.0], [3.0, 4.0]]]])))
    np.testing.assert_array_equal(idx.numpy(), [[[[1, 2], [8, 10]]]])
    np.testing.assert_array_equal(xt.grad.numpy(), [[[[0, 1, 2, 0],
                                                      [0, 0, 0, 0],
                                                      [3, 0, 4, 0],
                                                      [0, 0, 0, 0]]]])


def _plant(data, x, value):
    """x with ``value`` at a drawn share (a third, half, most or all) of its elements: windows
    without it, with it once, several times, or nothing else."""
    share = data.draw(st.sampled_from([0.3, 0.5, 0.9, 1.0]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    return np.where(rng.uniform(size=x.shape) < share, value, x).astype(x.dtype)


def _scatter_by_index(grad_out, idx, input_shape):
    """The gradient max pooling sends back: each output's gradient added at its flat index."""
    n_batch, chans, h, w = input_shape
    grad = np.zeros((n_batch, chans, h * w))
    np.add.at(grad, (np.arange(n_batch)[:, None, None], np.arange(chans)[None, :, None],
                     idx.reshape(n_batch, chans, -1)), grad_out.reshape(n_batch, chans, -1))
    return grad.reshape(input_shape)


@per_device
@given(case=tst.pool_geometries("max"), data=st.data())
def test_max_pool2d_nan_windows_give_nan_and_point_at_their_last_nan(device, case, data):
    x = _plant(data, data.draw(tst.float_arrays(case["input_shape"], distinct=True)), np.nan)
    xt = tc.Tensor(x, device=device, requires_grad=True)
    out, idx = F.max_pool2d(xt, return_indices=True, **_args(case))
    expected, expected_idx = ref.max_pool2d(x, **_args(case))
    np.testing.assert_array_equal(out.numpy(), expected)  # NaN where the reference has NaN
    np.testing.assert_array_equal(idx.numpy(), expected_idx)
    g = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(tc.Tensor(g, device=device))
    # sums of several windows' gradients: equal up to the order of the additions
    np.testing.assert_allclose(xt.grad.numpy(), _scatter_by_index(g, expected_idx, x.shape),
                               rtol=0, atol=1e-12)


def test_max_pool2d_nan_rule_by_hand():
    x = np.array([[[[1.0, np.nan, 3.0, 5.0],
                    [np.nan, 2.0, 4.0, 0.0]]]])
    out, idx = F.max_pool2d(tc.Tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), [[[[np.nan, 5.0]]]])
    np.testing.assert_array_equal(idx.numpy(), [[[[4, 3]]]])  # the last NaN, at (1, 0)


@per_device
@given(case=tst.pool_geometries("max"), data=st.data())
def test_max_pool2d_all_neg_inf_windows_point_at_their_first_input_element(device, case, data):
    # -inf is also the padding value: such a window must still point at an input element
    x = _plant(data, data.draw(tst.float_arrays(case["input_shape"], distinct=True)), -np.inf)
    xt = tc.Tensor(x, device=device, requires_grad=True)
    out, idx = F.max_pool2d(xt, return_indices=True, **_args(case))
    expected, expected_idx = ref.max_pool2d(x, **_args(case))
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(idx.numpy(), expected_idx)
    g = np.random.default_rng(2).standard_normal(out.shape)
    out.backward(tc.Tensor(g, device=device))
    np.testing.assert_allclose(xt.grad.numpy(), _scatter_by_index(g, expected_idx, x.shape),
                               rtol=0, atol=1e-12)


def _int_arrays(data, shape, dtype):
    """Integers of ``dtype`` with ties, the smallest value planted at a drawn share."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    low = 0 if np.iinfo(dtype).min == 0 else -50
    return _plant(data, rng.integers(low, low + 100, size=shape).astype(dtype),
                  np.iinfo(dtype).min)


@per_device
@given(case=tst.pool_geometries("max"),
       dtype=st.sampled_from([np.int8, np.uint8, np.int32, np.int64]), data=st.data())
def test_max_pool2d_integer_input(device, case, dtype, data):
    x = _int_arrays(data, case["input_shape"], dtype)
    out, idx = F.max_pool2d(tc.Tensor(x, device=device), return_indices=True, **_args(case))
    expected, expected_idx = ref.max_pool2d(x.astype(np.float64), **_args(case))  # exact
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(idx.numpy(), expected_idx)


def test_max_pool2d_all_neg_inf_window_by_hand():
    """The audit's case; the indices and gradient are PyTorch's."""
    x = np.full((1, 1, 3, 3), -np.inf)
    x[0, 0, 2, 2] = 1.0
    xt = tc.Tensor(x, requires_grad=True)
    out, idx = F.max_pool2d(xt, 3, stride=1, padding=1, return_indices=True)
    out.backward(tc.Tensor(np.ones(out.shape)))
    np.testing.assert_array_equal(idx.numpy(), [[[[0, 0, 1], [0, 8, 8], [3, 8, 8]]]])
    np.testing.assert_array_equal(xt.grad.numpy(), [[[[3, 1, 0], [1, 0, 0], [0, 0, 4]]]])


def test_max_pool2d_overlapping_windows_add_up():
    """A maximum shared by overlapping windows receives every window's gradient."""
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 9.0
    xt = tc.Tensor(x, requires_grad=True)
    out = F.max_pool2d(xt, 2, stride=1)
    out.backward(tc.Tensor(np.array([[[[1.0, 2.0], [3.0, 4.0]]]])))
    assert xt.grad.numpy()[0, 0, 1, 1] == 10.0
    assert xt.grad.numpy().sum() == 10.0


def test_max_pool2d_tiled_fast_path_and_float32():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 8, 6)).astype(np.float32)
    out = F.max_pool2d(tc.Tensor(x), (2, 3))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), x.reshape(2, 3, 4, 2, 2, 3).max(axis=(3, 5)))


# ---------------------------------------------------------------------- average pooling


divisor_overrides = st.one_of(st.none(), st.integers(1, 10))


@per_device
@given(case=tst.pool_geometries("avg"), divisor=divisor_overrides, data=st.data())
def test_avg_pool2d_matches_naive_reference(device, case, divisor, data):
    x = data.draw(tst.float_arrays(case["input_shape"]))
    out = F.avg_pool2d(tc.Tensor(x, device=device), divisor_override=divisor, **_args(case))
    expected = ref.avg_pool2d(x, divisor_override=divisor, **_args(case))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-10)


@given(case=tst.pool_geometries("avg"), divisor=divisor_overrides, data=st.data())
def test_avg_pool2d_gradcheck(case, divisor, data):
    x = data.draw(tst.float_arrays(case["input_shape"]))
    assert tc.gradcheck(lambda x: F.avg_pool2d(x, divisor_override=divisor, **_args(case)), (x,))


@given(case=tst.pool_geometries("avg", **SMALL), divisor=divisor_overrides, data=st.data())
def test_avg_pool2d_gradgradcheck(case, divisor, data):
    x = data.draw(tst.float_arrays(case["input_shape"]))
    assert tc.gradgradcheck(lambda x: F.avg_pool2d(x, divisor_override=divisor, **_args(case)),
                            (x,))


def test_avg_pool2d_divisor_override():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out = F.avg_pool2d(tc.Tensor(x), 2, divisor_override=3)
    np.testing.assert_allclose(out.numpy(), ref.avg_pool2d(x, 2, divisor_override=3))
    assert tc.gradgradcheck(lambda x: F.avg_pool2d(x, 3, 1, 1, divisor_override=2), (x,))


# ---------------------------------------------------------------------- Lp pooling


@per_device
@given(case=tst.pool_geometries("lp"), p=st.sampled_from([1, 2, 3, 1.5]), data=st.data())
def test_lp_pool2d_matches_naive_reference(device, case, p, data):
    x = data.draw(tst.float_arrays(case["input_shape"], min_value=0.1, max_value=3.0))
    args = {k: case[k] for k in ("kernel_size", "stride", "ceil_mode")}
    out = F.lp_pool2d(tc.Tensor(x, device=device), p, **args)
    expected = ref.lp_pool2d(x, p, **args)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-10)


@given(case=tst.pool_geometries("lp", **SMALL), p=st.sampled_from([1, 1.5, 2, 3]),
       data=st.data())
def test_lp_pool2d_gradcheck_and_gradgradcheck(case, p, data):
    # signed inputs for p = 1 (a window sum) and p = 2 (x**2 is smooth, sums of squares stay
    # positive away from 0); kept off 0 by 0.1 so no window's sum is near the root's kink
    x = data.draw(tst.float_arrays(case["input_shape"], avoid=(0.0,), margin=0.1))
    args = {k: case[k] for k in ("kernel_size", "stride", "ceil_mode")}
    if p in (1.5, 3):
        # x**1.5 is NaN below 0 and its second derivative 0.75 / sqrt(x) blows up at 0; sums of
        # cubes must stay positive for the cube root: so positive inputs, at least 0.1
        x = np.abs(x)
    assert tc.gradcheck(lambda x: F.lp_pool2d(x, p, **args), (x,))
    assert tc.gradgradcheck(lambda x: F.lp_pool2d(x, p, **args), (x,))


def test_lp_pool2d_all_zero_window_has_zero_finite_gradient():
    x = np.ones((1, 1, 4, 4))
    x[0, 0, :2, :2] = 0.0
    xt = tc.Tensor(x, requires_grad=True)
    out = F.lp_pool2d(xt, 2, 2)
    assert out.numpy()[0, 0, 0, 0] == 0.0
    (gx,) = tc.grad(out, (xt,), tc.Tensor(np.full(out.shape, 0.7)), create_graph=True)
    assert np.isfinite(gx.numpy()).all()
    np.testing.assert_array_equal(gx.numpy()[0, 0, :2, :2], 0.0)
    np.testing.assert_allclose(gx.numpy()[0, 0, 2:, 2:], 0.7 * 1 / 2)  # x / ||window||
    (ggx,) = tc.grad(gx.sum(), (xt,))
    assert np.isfinite(ggx.numpy()).all()


# ---------------------------------------------------------------------- adaptive pooling


@st.composite
def adaptive_cases(draw, divisible=False):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    out_h, out_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if divisible:
        h, w = out_h * draw(st.integers(1, 3)), out_w * draw(st.integers(1, 3))
    else:
        h, w = draw(st.integers(out_h, 8)), draw(st.integers(out_w, 8))
    size = draw(st.sampled_from([(out_h, out_w), (out_h, None)]))
    return (n, c, h, w), size


@given(case=adaptive_cases(), data=st.data())
def test_adaptive_avg_pool2d(case, data):
    shape, size = case
    x = data.draw(tst.float_arrays(shape))
    full_size = (size[0], shape[3] if size[1] is None else size[1])
    out = F.adaptive_avg_pool2d(tc.Tensor(x), size)
    np.testing.assert_allclose(out.numpy(), ref.adaptive_avg_pool2d(x, full_size), atol=1e-10)
    assert tc.gradcheck(lambda x: F.adaptive_avg_pool2d(x, size), (x,))
    assert tc.gradgradcheck(lambda x: F.adaptive_avg_pool2d(x, size), (x,), fast_mode=True)


def test_global_average_pooling():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4))
    np.testing.assert_allclose(F.adaptive_avg_pool2d(tc.Tensor(x), 1).numpy(),
                               x.mean(axis=(2, 3), keepdims=True), atol=1e-12)


@given(case=adaptive_cases(divisible=True), data=st.data())
def test_adaptive_max_pool2d(case, data):
    shape, size = case
    x = data.draw(tst.float_arrays(shape, distinct=True))
    full_size = (size[0], shape[3] if size[1] is None else size[1])
    out, idx = F.adaptive_max_pool2d(tc.Tensor(x), size, return_indices=True)
    expected, expected_idx = ref.adaptive_max_pool2d(x, full_size, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(idx.numpy(), expected_idx)
    assert tc.gradcheck(lambda x: F.adaptive_max_pool2d(x, size), (x,))
    assert tc.gradgradcheck(lambda x: F.adaptive_max_pool2d(x, size), (x,), fast_mode=True)


# ---------------------------------------------------------------------- errors


def test_pool_errors_name_the_numbers():
    x = tc.zeros((1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"max_pool2d: expected a 4-D input .* got shape "
                                         r"\(2, 5, 5\)"):
        F.max_pool2d(tc.zeros((2, 5, 5)), 2)
    with pytest.raises(ValueError, match="padding 2 is more than half the kernel size 3 "
                                         r"\(at most 1\)"):
        F.max_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match="padding 2 is more than half the kernel size 3"):
        F.avg_pool2d(x, 3, padding=(0, 2))
    with pytest.raises(ValueError, match=r"kernel \(6, dilation 1, reaching 6\) is larger than "
                                         r"the padded input height 5"):
        F.max_pool2d(x, (6, 2))
    with pytest.raises(ValueError, match="stride must be positive, got 0"):
        F.avg_pool2d(x, 2, stride=0)
    with pytest.raises(ValueError, match=r"dilation must be positive, got \(0, 1\)"):
        F.max_pool2d(x, 2, dilation=(0, 1))
    with pytest.raises(ValueError, match="padding must be non-negative, got -1"):
        F.max_pool2d(x, 2, padding=-1)
    with pytest.raises(ValueError, match="norm_type must be a positive finite number, got 0"):
        F.lp_pool2d(x, 0, 2)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair of ints"):
        F.max_pool2d(x, "2")
    with pytest.raises(NotImplementedError, match="output size 2x3 must divide the input size "
                                                  "5x5"):
        F.adaptive_max_pool2d(x, (2, 3))
    with pytest.raises(ValueError, match=r"output_size must be positive ints \(or None\), "
                                         r"got \(0, 1\)"):
        F.adaptive_avg_pool2d(x, (0, 1))
    with pytest.raises(TypeError, match="avg_pool2d: expected floating-point input, got int64"):
        F.avg_pool2d(tc.Tensor(np.zeros((1, 1, 2, 2), dtype=np.int64)), 2)


def test_pool_argument_types_name_the_argument():
    x = tc.zeros((1, 2, 4, 4))
    flags = tc.Tensor(np.zeros((1, 1, 2, 2), dtype=bool))
    with pytest.raises(TypeError, match="max_pool2d: expected a floating-point or integer "
                                        "input, got bool"):
        F.max_pool2d(flags, 2)
    with pytest.raises(TypeError, match="adaptive_max_pool2d: expected a floating-point or "
                                        "integer input, got bool"):
        F.adaptive_max_pool2d(flags, 1)
    for pool in (lambda **kw: F.max_pool2d(x, 2, **kw), lambda **kw: F.avg_pool2d(x, 2, **kw),
                 lambda **kw: F.lp_pool2d(x, 2, 2, **kw)):
        with pytest.raises(TypeError, match="pool2d: ceil_mode must be a bool, got 'yes'"):
            pool(ceil_mode="yes")
        with pytest.raises(TypeError, match="ceil_mode must be a bool, got 1"):
            pool(ceil_mode=1)
    with pytest.raises(TypeError, match="max_pool2d: return_indices must be a bool, got 1"):
        F.max_pool2d(x, 2, return_indices=1)
    with pytest.raises(TypeError, match="adaptive_max_pool2d: return_indices must be a bool, "
                                        "got 'yes'"):
        F.adaptive_max_pool2d(x, 2, return_indices="yes")
    with pytest.raises(TypeError, match="avg_pool2d: count_include_pad must be a bool, got 0"):
        F.avg_pool2d(x, 2, count_include_pad=0)
    for bad in (1.5, "2", True):
        with pytest.raises(TypeError, match=rf"avg_pool2d: divisor_override must be an int "
                                            rf"\(or None\), got {bad!r}"):
            F.avg_pool2d(x, 2, divisor_override=bad)
    with pytest.raises(ValueError, match="divisor_override must be positive, got 0"):
        F.avg_pool2d(x, 2, divisor_override=0)
    for bad in ("2", True, None):
        with pytest.raises(TypeError, match=f"lp_pool2d: norm_type must be a number, got {bad!r}"):
            F.lp_pool2d(x, bad, 2)
    with pytest.raises(ValueError, match="norm_type must be a positive finite number, got inf"):
        F.lp_pool2d(x, float("inf"), 2)
    for bad in (1.0, (1.0, 1), (1, 2, 3), "1", (True, 1)):
        with pytest.raises(TypeError, match=r"adaptive_avg_pool2d: output_size must be an int or "
                                            r"a pair of ints \(or None\), got "):
            F.adaptive_avg_pool2d(x, bad)
    with pytest.raises(TypeError, match=r"adaptive_max_pool2d: output_size .* got 2.0"):
        F.adaptive_max_pool2d(x, 2.0)


def test_pools_accept_numpy_numbers():
    x = np.random.default_rng(4).uniform(0.1, 2.0, size=(1, 2, 4, 4))
    xt = tc.Tensor(x)
    np.testing.assert_array_equal(F.lp_pool2d(xt, np.int64(2), 2).numpy(),
                                  F.lp_pool2d(xt, 2, 2).numpy())
    np.testing.assert_array_equal(F.lp_pool2d(xt, np.float32(1.5), 2).numpy(),
                                  F.lp_pool2d(xt, 1.5, 2).numpy())
    np.testing.assert_allclose(F.avg_pool2d(xt, 2, divisor_override=np.int64(3)).numpy(),
                               ref.avg_pool2d(x, 2, divisor_override=3), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(F.adaptive_avg_pool2d(xt, np.int64(2)).numpy(),
                                  F.adaptive_avg_pool2d(xt, 2).numpy())
    np.testing.assert_array_equal(F.adaptive_max_pool2d(xt, (np.int32(2), None)).numpy(),
                                  ref.adaptive_max_pool2d(x, (2, 4)))
    # a NumPy stride (it was compared with () and raised NumPy's "truth value" error)
    np.testing.assert_array_equal(F.max_pool2d(xt, 2, np.int64(1)).numpy(),
                                  ref.max_pool2d(x, 2, 1)[0])
    np.testing.assert_array_equal(F.avg_pool2d(xt, 2, ()).numpy(), F.avg_pool2d(xt, 2).numpy())


# ---------------------------------------------------------------------- PyTorch cross-check


def _max_pool2d_matches_pytorch(torch, x, case):
    """Values and indices equal PyTorch's exactly, and the input gradient of a random upstream
    gradient does to 1e-12 (windows sharing a maximum may add in another order)."""
    args = _args(case)
    targs = {**args, "stride": args["stride"] or args["kernel_size"]}
    xt, tx = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, idx = F.max_pool2d(xt, return_indices=True, **args)
    tout, tidx = torch.nn.functional.max_pool2d(tx, return_indices=True, **targs)
    np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(tc.Tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=0, atol=1e-12)


@given(case=tst.pool_geometries("max"), data=st.data())
def test_max_pool2d_matches_pytorch(case, data):
    torch = pytest.importorskip("torch")
    x = data.draw(tst.float_arrays(case["input_shape"], distinct=True))
    _max_pool2d_matches_pytorch(torch, x, case)


@given(case=tst.pool_geometries("max"), data=st.data())
def test_max_pool2d_nan_rule_matches_pytorch(case, data):
    torch = pytest.importorskip("torch")
    x = _plant(data, data.draw(tst.float_arrays(case["input_shape"], distinct=True)), np.nan)
    _max_pool2d_matches_pytorch(torch, x, case)


@given(case=tst.pool_geometries("avg"), divisor=divisor_overrides, data=st.data())
def test_avg_pool2d_matches_pytorch(case, divisor, data):
    torch = pytest.importorskip("torch")
    x = data.draw(tst.float_arrays(case["input_shape"]))
    args = {**_args(case), "divisor_override": divisor}
    targs = {**args, "stride": args["stride"] or args["kernel_size"]}
    xt, tx = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.avg_pool2d(xt, **args)
    tout = torch.nn.functional.avg_pool2d(tx, **targs)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), atol=1e-12)
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(tc.Tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), atol=1e-12)


@given(case=tst.pool_geometries("max"), data=st.data())
def test_max_pool2d_all_neg_inf_windows_match_pytorch(case, data):
    torch = pytest.importorskip("torch")
    x = _plant(data, data.draw(tst.float_arrays(case["input_shape"], distinct=True)), -np.inf)
    _max_pool2d_matches_pytorch(torch, x, case)


@given(case=tst.pool_geometries("max"),
       dtype=st.sampled_from([np.int8, np.uint8, np.int32, np.int64]), data=st.data())
def test_max_pool2d_integer_input_matches_pytorch(case, dtype, data):
    torch = pytest.importorskip("torch")
    x = _int_arrays(data, case["input_shape"], dtype)
    args = _args(case)
    targs = {**args, "stride": args["stride"] or args["kernel_size"]}
    out, idx = F.max_pool2d(tc.Tensor(x), return_indices=True, **args)
    tout, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **targs)
    np.testing.assert_array_equal(out.numpy(), tout.numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


@given(case=tst.pool_geometries("lp"), p=st.sampled_from([1, 1.5, 2, 3]), data=st.data())
def test_lp_pool2d_matches_pytorch(case, p, data):
    # without ceil_mode: PyTorch scales a window cut off by the border by KH*KW / its size
    torch = pytest.importorskip("torch")
    x = data.draw(tst.float_arrays(case["input_shape"], min_value=0.1, max_value=3.0))
    stride = case["stride"] or case["kernel_size"]
    xt, tx = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.lp_pool2d(xt, p, case["kernel_size"], case["stride"])
    tout = torch.nn.functional.lp_pool2d(tx, p, case["kernel_size"], stride)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(tc.Tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@given(case=adaptive_cases(), data=st.data())
def test_adaptive_avg_pool2d_matches_pytorch(case, data):
    torch = pytest.importorskip("torch")
    shape, size = case
    x = data.draw(tst.float_arrays(shape))
    xt, tx = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.adaptive_avg_pool2d(xt, size)
    tout = torch.nn.functional.adaptive_avg_pool2d(tx, size)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=0, atol=1e-12)
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(tc.Tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=0, atol=1e-12)


@given(case=adaptive_cases(divisible=True), data=st.data())
def test_adaptive_max_pool2d_matches_pytorch(case, data):
    torch = pytest.importorskip("torch")
    shape, size = case
    x = data.draw(tst.float_arrays(shape, distinct=True))
    xt, tx = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, idx = F.adaptive_max_pool2d(xt, size, return_indices=True)
    tout, tidx = torch.nn.functional.adaptive_max_pool2d(tx, size, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(tc.Tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_array_equal(xt.grad.numpy(), tx.grad.numpy())


def test_lp_and_adaptive_pools_match_pytorch():
    torch = pytest.importorskip("torch")
    x = np.abs(np.random.default_rng(0).standard_normal((2, 3, 6, 7))) + 0.1
    tx = torch.tensor(x)
    np.testing.assert_allclose(F.lp_pool2d(tc.Tensor(x), 2, (2, 3), stride=(2, 1)).numpy(),
                               torch.nn.functional.lp_pool2d(tx, 2, (2, 3), (2, 1)).numpy(),
                               atol=1e-12)
    for size in (1, (3, 2), (4, 5), (2, None)):
        np.testing.assert_allclose(
            F.adaptive_avg_pool2d(tc.Tensor(x), size).numpy(),
            torch.nn.functional.adaptive_avg_pool2d(tx, size).numpy(), atol=1e-12)
    np.testing.assert_array_equal(
        F.adaptive_max_pool2d(tc.Tensor(x), (3, 7)).numpy(),
        torch.nn.functional.adaptive_max_pool2d(tx, (3, 7)).numpy())


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_ceil_mode_window_larger_than_the_input_as_pytorch(name):
    # PyTorch's rule: with ceil_mode a window may run past the input's end if it starts inside,
    # so a 2x2 input, kernel 3, stride 2 gives one output (SqueezeNet's pools on small images)
    x = np.random.default_rng(3).standard_normal((2, 3, 2, 2))
    fn = getattr(F, name)
    out = fn(tc.tensor(x), 3, 2, ceil_mode=True).numpy()
    expected = x.max(axis=(2, 3)) if name == "max_pool2d" else x.mean(axis=(2, 3))
    np.testing.assert_allclose(out[:, :, 0, 0], expected, rtol=1e-12)
    assert tc.gradcheck(lambda t: fn(t, 3, 2, ceil_mode=True), (x,))
    with pytest.raises(ValueError, match="larger than the padded input"):
        fn(tc.tensor(x), 3, 2)  # floor mode: no window fits
