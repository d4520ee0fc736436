"""CPU threads: conv ops split over batch parts give the same results, and the thread pool keeps
BLAS's thread count, exceptions, nesting, concurrent callers and forks in order."""

import multiprocessing
import threading

import numpy as np
import pytest
import threadpoolctl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests import references as ref
from tinygrad_cnn import parallel
from tinygrad_cnn.testing import strategies as tst

# the pool splits NumPy work only (GPU ops are never split), and a forked child cannot use CUDA
# once its parent has initialised it
pytestmark = pytest.mark.cpu_only("the CPU thread pool, BLAS thread counts and forked children")

with_fixture = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _blas_threads():
    """The thread counts of the BLAS libraries the ops use (NumPy's, found when tinygrad_cnn first
    needed them; others loaded later, such as SciPy's, are not touched), or a skip when none."""
    counts = [lib.get_num_threads() for lib in parallel._blas_controller().lib_controllers]
    if not counts:
        pytest.skip("no BLAS library whose thread count threadpoolctl can read")
    return counts


@pytest.fixture
def split_batches(monkeypatch):
    """Three threads, and every conv call split into parts however small its batch; BLAS set to
    two threads (a count the tests then expect back), and its own count restored afterwards."""
    monkeypatch.setattr(parallel, "_num_threads", 3)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(parallel, "_pool", None)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        yield
    if parallel._pool is not None:
        parallel._pool.shutdown()


def _conv_args(case):
    return {k: case[k] for k in ("stride", "padding", "dilation", "groups")}


def _forward_and_grads(x, w, g, args):
    xt, wt = tc.Tensor(x, requires_grad=True), tc.Tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, **args)
    y.backward(tc.Tensor(g))
    return y.numpy(), xt.grad.numpy(), wt.grad.numpy()


@with_fixture
@given(case=tst.conv2d_geometries(max_batch=5), data=st.data())
def test_conv_in_batch_parts_matches_the_reference_and_one_thread(split_batches, case, data):
    x = data.draw(tst.float_arrays(case["input_shape"]))
    w = data.draw(tst.float_arrays(case["weight_shape"]))
    out = F.conv2d(tc.Tensor(x), tc.Tensor(w), **_conv_args(case)).numpy()
    np.testing.assert_allclose(out, ref.conv2d(x, w, **_conv_args(case)), rtol=0, atol=1e-10)
    g = data.draw(tst.float_arrays(out.shape))
    parts = _forward_and_grads(x, w, g, _conv_args(case))
    parallel._num_threads = 1  # the same call in the calling thread alone
    whole = _forward_and_grads(x, w, g, _conv_args(case))
    for a, b in zip(parts, whole, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@with_fixture
@given(case=tst.conv2d_geometries(max_batch=3, max_channels=4, max_size=5, max_kernel=3),
       data=st.data())
def test_conv_in_batch_parts_passes_gradcheck_and_gradgradcheck(split_batches, case, data):
    shape = (max(2, case["input_shape"][0]),) + case["input_shape"][1:]  # at least two parts
    x = data.draw(tst.float_arrays(shape))
    w = data.draw(tst.float_arrays(case["weight_shape"]))
    args = _conv_args(case)
    assert tc.gradcheck(lambda x, w: F.conv2d(x, w, **args), (x, w))
    assert tc.gradgradcheck(lambda x, w: F.conv2d(x, w, **args), (x, w))


def test_batch_map_runs_ranges_concurrently_and_keeps_their_order(split_batches):
    ranges = [(i, i + 1) for i in range(6)]
    started = [threading.Event() for _ in ranges]
    threads = {}

    def fn(start, stop):
        threads[start] = threading.get_ident()
        started[start].set()
        if start == 0:  # waits for a second range to start: only another thread can start it
            assert any(event.wait(10) for event in started[1:])
        return start * 10

    assert parallel.batch_map(fn, ranges) == [0, 10, 20, 30, 40, 50]
    assert len(set(threads.values())) >= 2


def test_batch_map_holds_blas_to_one_thread_and_restores_it(split_batches):
    before = _blas_threads()
    assert set(before) == {2}
    seen = parallel.batch_map(lambda start, stop: _blas_threads(), [(0, 1), (1, 2)])
    assert all(count == 1 for counts in seen for count in counts)
    assert _blas_threads() == before


def test_batch_map_raises_the_first_error_after_every_thread_stops(split_batches):
    before = _blas_threads()
    assert set(before) == {2}

    def fn(start, stop):
        if start == 2:
            raise ValueError(f"bad part {start}")
        return start

    with pytest.raises(ValueError, match="bad part 2"):
        parallel.batch_map(fn, [(i, i + 1) for i in range(5)])
    assert _blas_threads() == before
    assert parallel.batch_map(lambda start, stop: stop, [(0, 1), (1, 2)]) == [1, 2]


def test_batch_map_inside_batch_map_runs_in_the_calling_thread(split_batches):
    def inner(start, stop):
        outer_thread = threading.get_ident()
        nested = parallel.batch_map(lambda a, b: threading.get_ident(), [(0, 1), (1, 2), (2, 3)])
        return all(ident == outer_thread for ident in nested)

    assert parallel.batch_map(inner, [(0, 1), (1, 2)]) == [True, True]


def test_concurrent_callers_get_their_own_results_and_blas_is_restored(split_batches):
    before = _blas_threads()
    assert set(before) == {2}
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((4, 3, 9, 9)) for _ in range(4)]
    w = rng.standard_normal((5, 3, 3, 3))
    expected = [ref.conv2d(x, w, padding=1) for x in inputs]
    results = [None] * len(inputs)

    def call(i):
        for _ in range(5):
            results[i] = F.conv2d(tc.Tensor(inputs[i]), tc.Tensor(w), padding=1).numpy()

    callers = [threading.Thread(target=call, args=(i,)) for i in range(len(inputs))]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    assert _blas_threads() == before


def _conv_in_child(queue):
    x, w = np.ones((4, 2, 6, 6)), np.ones((3, 2, 3, 3))
    queue.put(float(F.conv2d(tc.Tensor(x), tc.Tensor(w)).numpy().sum()))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="this platform cannot fork")
def test_a_forked_child_starts_its_own_pool(split_batches):
    parallel.batch_map(lambda start, stop: None, [(0, 1), (1, 2)])  # the parent's pool is up
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_conv_in_child, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0, "the forked child hung or failed"
    assert queue.get(timeout=5) == 4 * 3 * 4 * 4 * 18  # every output sums 2*3*3 ones


def test_part_count_splits_only_large_numpy_batches(monkeypatch):
    monkeypatch.setattr(parallel, "_num_threads", 4)

    class FakeCupy:
        __name__ = "cupy"

    assert parallel.part_count(np, 16, parallel.MIN_PARALLEL_BYTES) == 4
    assert parallel.part_count(np, 3, parallel.MIN_PARALLEL_BYTES) == 3
    assert parallel.part_count(np, 16, parallel.MIN_PARALLEL_BYTES - 1) == 1
    assert parallel.part_count(np, 1, 10 * parallel.MIN_PARALLEL_BYTES) == 1
    assert parallel.part_count(FakeCupy(), 16, 10 * parallel.MIN_PARALLEL_BYTES) == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2", None])
def test_set_num_threads_rejects_what_is_not_a_positive_int(bad):
    with pytest.raises(ValueError, match="positive int"):
        tc.set_num_threads(bad)


def test_set_num_threads_sets_the_parts_and_blas(monkeypatch):
    before = _blas_threads()
    monkeypatch.setattr(parallel, "_pool", None)
    try:
        tc.set_num_threads(1)
        assert tc.get_num_threads() == 1 and _blas_threads() == [1] * len(before)
        assert parallel.part_count(np, 16, 10 * parallel.MIN_PARALLEL_BYTES) == 1
    finally:
        tc.set_num_threads(max(before))
    assert tc.get_num_threads() == max(before) and _blas_threads() == [max(before)] * len(before)


def test_small_single_range_calls_hold_blas_to_one_thread(split_batches, monkeypatch):
    """A call too small to split runs in the calling thread with BLAS at one thread; a large
    one keeps BLAS's threads."""
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 1000)
    before = _blas_threads()
    small = parallel.batch_map(lambda start, stop: _blas_threads(), [(0, 1)], work_bytes=999)
    large = parallel.batch_map(lambda start, stop: _blas_threads(), [(0, 1)], work_bytes=1000)
    assert small == [[1] * len(before)] and large == [before]
    assert _blas_threads() == before


def test_small_linear_products_run_with_blas_at_one_thread(split_batches, monkeypatch):
    """Linear's products below MIN_THREADED_MACS hold BLAS to one thread, forward and backward,
    with the same values either way."""
    seen = []
    real_matmul = np.matmul

    def spying_matmul(*args, **kwargs):
        seen.append(_blas_threads())
        return real_matmul(*args, **kwargs)

    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(4, 5)), rng.normal(size=(3, 5))
    results = []
    for limit in (4 * 5 * 3 + 1, 4 * 5 * 3):  # small, then not small
        monkeypatch.setattr(parallel, "MIN_THREADED_MACS", limit)
        monkeypatch.setattr(np, "matmul", spying_matmul)
        xt, wt = tc.Tensor(x, requires_grad=True), tc.Tensor(w, requires_grad=True)
        y = F.linear(xt, wt)
        y.backward(tc.ones(4, 3))
        monkeypatch.setattr(np, "matmul", real_matmul)
        results.append((y.numpy(), xt.grad.numpy(), wt.grad.numpy()))
        expected = 1 if limit > 60 else 2
        assert seen and all(set(counts) == {expected} for counts in seen)
        seen.clear()
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert set(_blas_threads()) == {2}


@pytest.fixture
def split_rows(monkeypatch):
    """Three threads, and every ReLU / max-pool call split into row parts however small."""
    monkeypatch.setattr(parallel, "_num_threads", 3)
    monkeypatch.setattr(parallel, "_pool", None)
    yield lambda on: monkeypatch.setattr(parallel, "MIN_PARALLEL_ROWS_BYTES", 0 if on else 2**62)
    if parallel._pool is not None:
        parallel._pool.shutdown()


def _relu_and_pool(x, g, pool):
    """ReLU then max-pool forward, and x's gradient for upstream g: arrays."""
    xt = tc.Tensor(x, requires_grad=True)
    y = F.max_pool2d(F.relu(xt), **pool)
    y.backward(tc.Tensor(g))
    return y.numpy(), xt.grad.numpy()


@with_fixture
@given(pool=tst.pool_geometries(kind="max", max_batch=7), seed=st.integers(0, 2**31 - 1))
def test_relu_and_max_pool_split_by_rows_equal_one_part(split_rows, pool, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(pool["input_shape"])
    x[rng.random(x.shape) < 0.2] = 0.5      # ties inside windows
    kwargs = {k: v for k, v in pool.items() if k != "input_shape"}
    with tc.no_grad():
        out_shape = F.max_pool2d(tc.Tensor(x), **kwargs).shape
    g = rng.standard_normal(out_shape)
    split_rows(False)
    expected = _relu_and_pool(x, g, kwargs)
    split_rows(True)
    assert (len(parallel.row_ranges(np, x.shape[0], x.nbytes)) > 1) == (x.shape[0] > 1)
    got = _relu_and_pool(x, g, kwargs)
    for e, o in zip(expected, got, strict=True):
        np.testing.assert_array_equal(o, e)      # the same arithmetic, only in parts


def test_row_ranges_cover_the_rows_once_and_only_for_large_numpy_arrays(monkeypatch):
    monkeypatch.setattr(parallel, "_num_threads", 3)
    assert parallel.row_ranges(np, 7, parallel.MIN_PARALLEL_ROWS_BYTES) == [(0, 3), (3, 6), (6, 7)]
    assert parallel.row_ranges(np, 2, parallel.MIN_PARALLEL_ROWS_BYTES) == [(0, 1), (1, 2)]
    assert parallel.row_ranges(np, 7, parallel.MIN_PARALLEL_ROWS_BYTES - 1) == [(0, 7)]
    assert parallel.row_ranges(np, 1, 10 * parallel.MIN_PARALLEL_ROWS_BYTES) == [(0, 1)]

    class NotNumpy:
        __name__ = "cupy"

    assert parallel.row_ranges(NotNumpy(), 7, 10 * parallel.MIN_PARALLEL_ROWS_BYTES) == [(0, 7)]
