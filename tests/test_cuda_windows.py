"""The CUDA kernels of conv2d, conv_transpose2d, F.unfold/F.fold and the pools (tinygrad_cnn/cuda/
windows.py, cuda/pool.py) against the generic NumPy path.

On the CPU the kernels run through tests/cuda_host.py's HostRunner (the same CUDA C, compiled by
g++, one thread walking every work item): each op's values and gradients on its kernel path must
equal its NumPy path's on Hypothesis geometries, in float32 and float64, and the kernel path must
pass gradcheck. On a GPU the CuPy kernel path is compared with the generic CuPy path
(TINYGRAD_CNN_CUDA_KERNELS=0).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests.conftest import CUDA_SKIP_REASON
from tests.cuda_host import COMPILER, NO_COMPILER_REASON, HostRunner
from tinygrad_cnn import cuda
from tinygrad_cnn.cuda import cudnn_conv
from tinygrad_cnn.ops import windows
from tinygrad_cnn.testing import strategies as tst

needs_compiler = pytest.mark.skipif(COMPILER is None, reason=NO_COMPILER_REASON)
# the host runner runs the kernels on NumPy arrays: these tests are about the CPU on purpose
on_cpu = pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")


def host(test):
    """A test of the kernel path on the CPU (HostRunner): needs g++, and the CPU as the default
    device (the tests' tensors are NumPy arrays)."""
    return needs_compiler(on_cpu(test))


# one runner for the module: each kernel's source is compiled once per dtype
RUNNER = HostRunner() if COMPILER is not None else None
DTYPES = st.sampled_from([np.float32, np.float64])
SMALL_CONV = {"max_batch": 1, "max_channels": 2, "max_size": 4, "max_kernel": 2}
SMALL_POOL = {"max_batch": 1, "max_channels": 2, "max_size": 5}
few = settings(deadline=None)  # the profile sets the number of examples


def _tol(dtype):
    """float32 sums of up to a few dozen terms in another order; float64 to rounding."""
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


def _run(fn, arrays, seed=0):
    """fn's output and the gradients of every input for a random upstream gradient."""
    tensors = [tc.Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out = out[0] if isinstance(out, tuple) else out
    g = np.random.default_rng(seed).standard_normal(out.shape).astype(arrays[0].dtype)
    out.backward(tc.Tensor(g))
    return [out.numpy()] + [t.grad.numpy() for t in tensors]


def _on_kernels(fn, *args, **kwargs):
    """fn(*args, **kwargs) with the ops on their CUDA-kernel path, run on the CPU; the result and
    the names of the kernels launched."""
    RUNNER.launches.clear()
    with cuda.running_on_host(RUNNER):
        result = fn(*args, **kwargs)
    return result, list(RUNNER.launches)


def _assert_paths_agree(fn, arrays, dtype, **kwargs):
    """Values and gradients of fn on the NumPy path and on the kernel path are equal."""
    expected = _run(fn, arrays, **kwargs)
    got, launches = _on_kernels(_run, fn, arrays, **kwargs)
    assert launches, "no kernel was launched: the kernel path was not taken"
    for e, g in zip(expected, got, strict=True):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, equal_nan=True, **_tol(dtype))
    return launches


def _conv_args(case):
    return {k: case[k] for k in ("stride", "padding", "dilation", "groups")}


def _args(case):
    return {k: v for k, v in case.items() if k != "input_shape"}


# ---------------------------------------------------------------------- convolution


@host
@few
@given(case=tst.conv2d_geometries(), dtype=DTYPES, data=st.data())
def test_conv2d_kernel_path_matches_numpy(case, dtype, data):
    x = data.draw(tst.float_arrays(case["input_shape"], dtype=dtype))
    w = data.draw(tst.float_arrays(case["weight_shape"], dtype=dtype))
    b = data.draw(tst.float_arrays((case["weight_shape"][0],), dtype=dtype))
    launches = _assert_paths_agree(lambda x, w, b: F.conv2d(x, w, b, **_conv_args(case)),
                                   (x, w, b), dtype)
    assert "tc_im2col" in launches and "tc_add_bias" in launches


@host
@few
@given(case=tst.conv_transpose2d_geometries(), dtype=DTYPES, data=st.data())
def test_conv_transpose2d_kernel_path_matches_numpy(case, dtype, data):
    x = data.draw(tst.float_arrays(case["input_shape"], dtype=dtype))
    w = data.draw(tst.float_arrays(case["weight_shape"], dtype=dtype))
    args = {k: v for k, v in case.items() if k not in ("input_shape", "weight_shape")}
    _assert_paths_agree(lambda x, w: F.conv_transpose2d(x, w, **args), (x, w), dtype)


@host
@few
@given(case=tst.conv2d_geometries(string_padding=False), dtype=DTYPES, data=st.data())
def test_unfold_and_fold_kernel_paths_match_numpy(case, dtype, data):
    kernel = case["weight_shape"][2:]
    pad = case["padding"]
    if isinstance(pad, tuple) and isinstance(pad[0], tuple):  # unfold pads symmetrically
        pad = (max(pad[0]), max(pad[1]))
    args = {"kernel_size": kernel, "dilation": case["dilation"], "padding": pad,
            "stride": case["stride"]}
    x = data.draw(tst.float_arrays(case["input_shape"], dtype=dtype))
    launches = _assert_paths_agree(lambda x: F.unfold(x, **args), (x,), dtype)
    assert launches == ["tc_im2col", "tc_col2im"]
    cols = F.unfold(tc.Tensor(x), **args).numpy()
    launches = _assert_paths_agree(lambda c: F.fold(c, x.shape[2:], **args), (cols,), dtype)
    assert launches == ["tc_col2im", "tc_im2col"]


@host
@few
@given(case=tst.conv2d_geometries(**SMALL_CONV), data=st.data())
def test_conv2d_kernel_path_gradcheck(case, data):
    x = data.draw(tst.float_arrays(case["input_shape"]))
    w = data.draw(tst.float_arrays(case["weight_shape"]))
    args = _conv_args(case)
    assert _on_kernels(tc.gradcheck, lambda x, w: F.conv2d(x, w, **args), (x, w))[0]
    assert _on_kernels(tc.gradgradcheck, lambda x, w: F.conv2d(x, w, **args), (x, w))[0]


@host
@pytest.mark.parametrize("batch_major", [False, True])
def test_col2im_reads_both_column_layouts(batch_major):
    # im2col's (C, KH, KW, N, OH, OW) contiguous, or a transposed contiguous (N, C, KH, KW, ...)
    gh = windows.make_axis("test", "height", 7, 3, 2, 1, (1, 2))
    gw = windows.make_axis("test", "width", 6, 2, 1, 2, (0, 1))
    shape = (3, gh.kernel, gw.kernel, 2, gh.out, gw.out)
    rng = np.random.default_rng(4)
    if batch_major:
        cols = rng.standard_normal((2, 3, gh.kernel, gw.kernel, gh.out, gw.out))
        cols = cols.transpose(1, 2, 3, 0, 4, 5)
    else:
        cols = rng.standard_normal(shape)
    assert cols.shape == shape and cols.flags.c_contiguous != batch_major
    expected = windows.col2im(np, cols, gh, gw)
    got, launches = _on_kernels(windows.col2im, np, cols, gh, gw)
    assert launches == ["tc_col2im"]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@host
def test_non_contiguous_inputs_take_the_kernel_path():
    # a channels-last array seen as NCHW: the launchers copy it to C order first
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 7, 6, 3)).transpose(0, 3, 1, 2)
    w = rng.standard_normal((4, 3, 3, 3))
    assert not x.flags.c_contiguous
    for fn, arrays in [(lambda x, w: F.conv2d(x, w, stride=2, padding=1), (x, w)),
                       (lambda x: F.max_pool2d(x, 3, 2, 1), (x,)),
                       (lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), (x,))]:
        def run(fn=fn, arrays=arrays):
            tensors = [tc.Tensor(a, requires_grad=True) for a in arrays]
            out = fn(*tensors)
            out.backward(tc.Tensor(np.ones(out.shape)))
            return [out.numpy()] + [t.grad.numpy() for t in tensors]

        expected = run()
        got, launches = _on_kernels(run)
        assert launches
        for e, g in zip(expected, got, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


@host
def test_conv2d_strided_input_gradient_is_one_col2im_launch():
    # stride 2: the input gradient is not the flipped-kernel convolution, it is col2im's
    x, w = np.ones((2, 3, 9, 8)), np.ones((4, 3, 3, 3))
    _, launches = _on_kernels(_run, lambda x, w: F.conv2d(x, w, stride=2, padding=1), (x, w))
    assert launches == ["tc_im2col", "tc_col2im"]  # forward columns kept for the weight gradient


@host
def test_conv2d_large_batch_in_chunks(monkeypatch):
    # a budget of a few items' columns: the kernels run per batch range and write their part
    monkeypatch.setattr(windows, "IM2COL_BUDGET_BYTES", 2 * 3 * 9 * 16 * 8)
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((7, 3, 6, 5)), rng.standard_normal((2, 3, 3, 3))
    _, launches = _on_kernels(_run, lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=1),
                              (x, w))
    assert launches.count("tc_col2im") > 1
    _assert_paths_agree(lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=1), (x, w),
                        np.float64)


# ---------------------------------------------------------------------- max pooling


def _max_pool_arrays(data, shape, dtype):
    """Values with ties (a few distinct integers), -inf and NaN planted at drawn places."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(-2, 3, size=shape).astype(dtype)
    for value in (-np.inf, np.nan):
        share = data.draw(st.sampled_from([0.0, 0.1, 0.5]))
        x[rng.random(shape) < share] = value
    return x


@host
@few
@given(case=tst.pool_geometries("max"), dtype=DTYPES, data=st.data())
def test_max_pool2d_kernel_path_matches_numpy_with_ties_nan_and_inf(case, dtype, data):
    x = _max_pool_arrays(data, case["input_shape"], dtype)
    args = _args(case)
    out, idx = F.max_pool2d(tc.Tensor(x), return_indices=True, **args)
    (k_out, k_idx), launches = _on_kernels(F.max_pool2d, tc.Tensor(x), return_indices=True,
                                           **args)
    assert launches == ["tc_max_pool"]
    np.testing.assert_array_equal(k_out.numpy(), out.numpy())  # NaN where NaN
    np.testing.assert_array_equal(k_idx.numpy(), idx.numpy())  # the same tie and NaN rules
    launches = _assert_paths_agree(lambda x: F.max_pool2d(x, **args), (x,), dtype)
    assert launches == ["tc_max_pool", "tc_max_pool_scatter"]


@host
@few
@given(case=tst.pool_geometries("max", **SMALL_POOL), data=st.data())
def test_max_pool2d_kernel_path_gradcheck(case, data):
    x = data.draw(tst.float_arrays(case["input_shape"], distinct=True))
    fn = lambda x: F.max_pool2d(x, **_args(case))  # noqa: E731
    assert _on_kernels(tc.gradcheck, fn, (x,))[0]
    ok, launches = _on_kernels(tc.gradgradcheck, fn, (x,))
    assert ok and "tc_max_pool_gather" in launches


@host
def test_max_pool2d_nan_and_tie_rules_by_hand():
    x = np.array([[[[1.0, np.nan, 3.0, 5.0, 2.0, 2.0],
                    [np.nan, 2.0, 4.0, 5.0, 1.0, 2.0]]]])
    (out, idx), launches = _on_kernels(F.max_pool2d, tc.Tensor(x), 2, return_indices=True)
    assert launches == ["tc_max_pool"]
    np.testing.assert_array_equal(out.numpy(), [[[[np.nan, 5.0, 2.0]]]])
    # the last NaN (1, 0); the first of the tied 5s (0, 3); the first of three tied 2s (0, 4)
    np.testing.assert_array_equal(idx.numpy(), [[[[6, 3, 4]]]])


@host
def test_max_pool2d_all_neg_inf_window_points_at_its_first_input_element():
    x = np.full((1, 1, 3, 3), -np.inf)
    (out, idx), _ = _on_kernels(F.max_pool2d, tc.Tensor(x), 2, 2, 1, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), np.full((1, 1, 2, 2), -np.inf))
    np.testing.assert_array_equal(idx.numpy(), [[[[0, 1], [3, 4]]]])


@host
def test_integer_max_pool2d_keeps_the_generic_path():
    x = np.arange(16, dtype=np.int32).reshape(1, 1, 4, 4)
    out, launches = _on_kernels(F.max_pool2d, tc.Tensor(x), 2)
    assert launches == []
    np.testing.assert_array_equal(out.numpy(), [[[[5, 7], [13, 15]]]])


# ---------------------------------------------------------------------- average pooling


@few
@given(case=tst.pool_geometries("avg"), divisor=st.sampled_from([None, 1, 3]), dtype=DTYPES,
       data=st.data())
@host
def test_avg_pool2d_kernel_path_matches_numpy(case, divisor, dtype, data):
    x = data.draw(tst.float_arrays(case["input_shape"], dtype=dtype))
    args = _args(case)
    launches = _assert_paths_agree(
        lambda x: F.avg_pool2d(x, divisor_override=divisor, **args), (x,), dtype)
    assert launches == ["tc_avg_pool", "tc_avg_pool_scatter"]


@host
@few
@given(case=tst.pool_geometries("lp"), p=st.sampled_from([1, 2]), dtype=DTYPES, data=st.data())
def test_lp_pool2d_kernel_path_matches_numpy(case, p, dtype, data):
    x = data.draw(tst.float_arrays(case["input_shape"], dtype=dtype, min_value=0.1))
    _assert_paths_agree(lambda x: F.lp_pool2d(x, p, **_args(case)), (x,), dtype)


@few
@given(case=tst.pool_geometries("avg", **SMALL_POOL), divisor=st.sampled_from([None, 2]),
       data=st.data())
@host
def test_avg_pool2d_kernel_path_gradcheck(case, divisor, data):
    x = data.draw(tst.float_arrays(case["input_shape"]))
    fn = lambda x: F.avg_pool2d(x, divisor_override=divisor, **_args(case))  # noqa: E731
    assert _on_kernels(tc.gradcheck, fn, (x,))[0]
    assert _on_kernels(tc.gradgradcheck, fn, (x,))[0]


@host
def test_avg_pool2d_ceil_mode_window_past_the_input_by_hand():
    # 3 wide, kernel 2, stride 2, ceil_mode: the second window holds one element; without
    # count_include_pad its mean is that element, with padding 0 it is also divided by 1
    x = np.array([[[[1.0, 2.0, 6.0]]]])
    out, launches = _on_kernels(F.avg_pool2d, tc.Tensor(x), (1, 2), ceil_mode=True)
    assert launches == ["tc_avg_pool"]
    np.testing.assert_array_equal(out.numpy(), [[[[1.5, 6.0]]]])


# ---------------------------------------------------------------------- the switch


@host
def test_the_switch_turns_every_kernel_off(monkeypatch):
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    x, w = np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3))
    _, launches = _on_kernels(_run, lambda x, w: F.max_pool2d(F.avg_pool2d(
        F.conv2d(x, w, stride=2, padding=1), 2, 1), 2, 1), (x, w))
    assert launches == []


# ---------------------------------------------------------------------- on a GPU


GPU_CASES = [
    ("conv 3x3 pad 1", lambda x, w: F.conv2d(x, w, padding=1), (4, 8, 12, 12), (6, 8, 3, 3)),
    ("conv 5x5 stride 2 dilation 2 groups 2",
     lambda x, w: F.conv2d(x, w, stride=2, padding=(2, 1), dilation=2, groups=2),
     (3, 4, 15, 13), (6, 2, 5, 3)),
    ("conv_transpose stride 2", lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1,
                                                                output_padding=1),
     (2, 4, 7, 6), (4, 3, 3, 3)),
    ("max_pool 3 stride 2 pad 1 ceil", lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
     (2, 5, 11, 10), None),
    ("avg_pool 3 stride 2 pad 1 no pad count",
     lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
     (2, 5, 11, 10), None),
]


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", GPU_CASES, ids=lambda c: c[0])
def test_cupy_kernel_path_matches_the_generic_cupy_path(case, dtype, monkeypatch):
    _, fn, x_shape, w_shape = case
    monkeypatch.setenv(cudnn_conv.ENV_SWITCH, "0")  # the im2col path: cuDNN has its own tests
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(dtype) for s in (x_shape, w_shape) if s is not None]

    def run():
        tensors = [tc.Tensor(a, device="gpu", requires_grad=True) for a in arrays]
        out = fn(*tensors)
        out.backward(tc.Tensor(np.random.default_rng(1).standard_normal(out.shape)
                               .astype(dtype), device="gpu"))
        return [out.numpy()] + [t.grad.numpy() for t in tensors]

    got = run()
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    expected = run()
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, **_tol(dtype))
