"""The deterministic scatter-add kernel (tinygrad_cnn/cuda/scatter.py) against np.add.at.

On the CPU the kernel runs through the host runner (tests/cuda_host.py): for Hypothesis targets,
index forms (flat positions, a tuple of index arrays, an index array with slices) with many
repeats, and values, it must give np.add.at's result bit for bit, in float32 and float64. On a
GPU the CuPy kernel must give the same bits as np.add.at, on every run.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tests.conftest import CUDA_SKIP_REASON
from tests.cuda_host import COMPILER, NO_COMPILER_REASON, HostRunner
from tinygrad_cnn import cuda
from tinygrad_cnn.cuda import scatter

RUNNER = HostRunner() if COMPILER is not None else None
host = [pytest.mark.skipif(COMPILER is None, reason=NO_COMPILER_REASON),
        pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")]


@st.composite
def scatter_cases(draw):
    """(target, index, values): index draws positions with many repeats, in one of three forms."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    shape = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    count = draw(st.integers(0, 30))
    form = draw(st.sampled_from(["flat", "tuple", "rows"]))
    if form == "flat":
        index = rng.integers(0, shape[0] * shape[1], count)
        target_shape, index_shape = (shape[0] * shape[1],), (count,)
    elif form == "tuple":
        index = (rng.integers(0, shape[0], count), rng.integers(0, shape[1], count))
        target_shape, index_shape = shape, (count,)
    else:
        index = (rng.integers(0, shape[0], count), slice(None))
        target_shape, index_shape = shape, (count, shape[1])
    # magnitudes far apart, so the order of the additions shows in the rounding
    values = (rng.standard_normal(index_shape) * 10.0 ** rng.integers(-6, 7, index_shape))
    target = rng.standard_normal(target_shape)
    return target.astype(dtype), index, values.astype(dtype)


def _host_scatter(target, index, values):
    out = target.copy()
    RUNNER.launches.clear()
    with cuda.running_on_host(RUNNER):
        scatter.scatter_add(np, out, index, values)
    return out, list(RUNNER.launches)


@given(case=scatter_cases())
@settings(deadline=None)
def test_the_kernel_adds_in_np_add_at_order_bit_for_bit(case):
    target, index, values = case
    expected = target.copy()
    np.add.at(expected, index, values)
    got, launches = _host_scatter(target, index, values)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype
    assert launches == (["tc_segment_sum"] if np.asarray(values).size else [])


def test_a_strided_target_is_written_back():
    target = np.zeros((4, 6))
    view = target[:, ::2]                     # not C-contiguous
    index, values = (np.array([0, 3, 0, 0]), np.array([2, 1, 2, 2])), np.array([1.0, 2, 3, 4])
    _host_scatter_into_view = target.copy()[:, ::2]
    np.add.at(_host_scatter_into_view, index, values)
    RUNNER.launches.clear()
    with cuda.running_on_host(RUNNER):
        scatter.scatter_add(np, view, index, values)
    np.testing.assert_array_equal(view, _host_scatter_into_view)
    assert target[:, 1::2].sum() == 0        # the columns outside the view are untouched


for _test in (test_the_kernel_adds_in_np_add_at_order_bit_for_bit,
              test_a_strided_target_is_written_back):
    for _mark in host:
        _mark(_test)


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
def test_gpu_scatter_add_is_np_add_at_bit_for_bit_on_every_run():
    cp = tc.backend.require_gpu()
    rng = np.random.default_rng(0)
    index = rng.integers(0, 50, 20000)
    values = rng.standard_normal(20000) * 10.0 ** rng.integers(-6, 7, 20000)
    expected = np.zeros(50)
    np.add.at(expected, index, values)
    for _ in range(3):
        target = cp.zeros(50)
        tc.backend.scatter_add(cp, target, cp.asarray(index), cp.asarray(values))
        np.testing.assert_array_equal(target.get(), expected)
