"""flip, roll, repeat, tile, repeat_interleave, split, chunk, unbind, unflatten, tril, triu,
diagonal, meshgrid, linspace: forward against loop references, float64 gradients, errors,
dtypes, PyTorch as an optional oracle."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tests import core_references as ref
from tests import references_ops as rops
from tinygrad_cnn.testing import strategies as tst

SHAPES = tst.array_shapes(min_dims=1, max_dims=3, max_side=3)
MATRICES = tst.array_shapes(min_dims=2, max_dims=3, max_side=4)


@given(x=tst.float_arrays(SHAPES), data=st.data())
def test_flip(x, data):
    dims = data.draw(st.lists(st.integers(0, x.ndim - 1), unique=True, min_size=1))
    given_dims = tuple(d - x.ndim if data.draw(st.booleans()) else d for d in dims)
    np.testing.assert_array_equal(tc.flip(tc.Tensor(x), given_dims).numpy(), rops.flip(x, dims))
    np.testing.assert_array_equal(tc.Tensor(x).flip(*given_dims).numpy(), rops.flip(x, dims))
    ref.check_grads(lambda t: t.flip(given_dims), (x,))


@given(x=tst.float_arrays(SHAPES), data=st.data())
def test_roll(x, data):
    dims = data.draw(st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=3))
    shifts = data.draw(st.lists(st.integers(-5, 5), min_size=len(dims), max_size=len(dims)))
    np.testing.assert_array_equal(tc.roll(tc.Tensor(x), shifts, dims).numpy(),
                                  rops.roll(x, shifts, dims))
    ref.check_grads(lambda t: t.roll(shifts, dims), (x,))
    flat = data.draw(st.integers(-7, 7))
    expected = rops.roll(x.reshape(-1), [flat], [0]).reshape(x.shape)
    np.testing.assert_array_equal(tc.Tensor(x).roll(flat).numpy(), expected)
    ref.check_grads(lambda t: tc.roll(t, flat), (x,))


@given(x=tst.float_arrays(SHAPES), data=st.data())
def test_repeat_and_tile(x, data):
    extra = data.draw(st.integers(0, 2))
    sizes = tuple(data.draw(st.lists(st.integers(0, 3), min_size=x.ndim + extra,
                                     max_size=x.ndim + extra)))
    np.testing.assert_array_equal(tc.Tensor(x).repeat(*sizes).numpy(), rops.repeat(x, sizes))
    np.testing.assert_array_equal(tc.Tensor(x).repeat(sizes).numpy(), rops.repeat(x, sizes))
    ref.check_grads(lambda t: t.repeat(sizes), (x,))
    short = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=x.ndim + 1)))
    full = (1,) * (x.ndim - len(short)) + short
    np.testing.assert_array_equal(tc.tile(tc.Tensor(x), short).numpy(), rops.repeat(x, full))
    ref.check_grads(lambda t: t.tile(short), (x,))


@given(x=tst.float_arrays(SHAPES), data=st.data())
def test_repeat_interleave(x, data):
    dim = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    base, axis = (x.reshape(-1), 0) if dim is None else (x, dim % x.ndim)
    n = base.shape[axis]
    if data.draw(st.booleans()):
        r = data.draw(st.integers(0, 3))
        counts, repeats = [r] * n, r
    else:
        counts = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
        repeats = tc.tensor(counts)
    expected = rops.repeat_interleave(base, counts, axis)
    out = tc.repeat_interleave(tc.Tensor(x), repeats, dim)
    np.testing.assert_array_equal(out.numpy(), expected)
    ref.check_grads(lambda t: t.repeat_interleave(repeats, dim), (x,))


@given(x=tst.float_arrays(SHAPES), data=st.data())
def test_split_chunk_unbind(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    axis = dim % x.ndim
    n = x.shape[axis]
    size = data.draw(st.integers(1, 4))
    pieces = tc.split(tc.Tensor(x), size, dim)
    bounds = list(range(size, n, size))
    for got, want in zip(pieces, np.split(x, bounds, axis=axis), strict=True):
        np.testing.assert_array_equal(got.numpy(), want)
    sections = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    sections[-1] = max(n - sum(sections[:-1]), 0)
    if sum(sections) == n:
        got = tc.Tensor(x).split(sections, dim)
        want = np.split(x, np.cumsum(sections)[:-1], axis=axis)
        assert [g.shape for g in got] == [w.shape for w in want]
    chunks = data.draw(st.integers(1, 4))
    got = tc.Tensor(x).chunk(chunks, dim)
    step = -(-n // chunks)
    want = np.split(x, list(range(step, n, step)), axis=axis)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.numpy(), w)
    unbound = tc.unbind(tc.Tensor(x), dim)
    assert len(unbound) == n
    for i, u in enumerate(unbound):
        np.testing.assert_array_equal(u.numpy(), np.take(x, i, axis=axis))
    weights = [np.arange(1.0, p.size + 1).reshape(p.shape) for p in np.split(x, bounds, axis)]
    ref.check_grads(lambda t: tc.cat([p * tc.Tensor(w) for p, w in
                                      zip(t.split(size, dim), weights, strict=True)], dim), (x,))
    ref.check_grads(lambda t: tc.stack(t.unbind(dim)[::-1], 0), (x,))


@given(x=tst.float_arrays(SHAPES), data=st.data())
def test_unflatten(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    axis = dim % x.ndim
    n = x.shape[axis]
    divisor = data.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    sizes = (divisor, -1) if data.draw(st.booleans()) else (divisor, n // divisor)
    out = tc.Tensor(x).unflatten(dim, sizes)
    expected = x.reshape(x.shape[:axis] + (divisor, n // divisor) + x.shape[axis + 1 :])
    np.testing.assert_array_equal(out.numpy(), expected)
    ref.check_grads(lambda t: tc.unflatten(t, dim, sizes), (x,))


@given(x=tst.float_arrays(MATRICES), k=st.integers(-4, 4))
def test_tril_triu(x, k):
    np.testing.assert_array_equal(tc.tril(tc.Tensor(x), k).numpy(), rops.triangle(x, k, False))
    np.testing.assert_array_equal(tc.Tensor(x).triu(k).numpy(), rops.triangle(x, k, True))
    ref.check_grads(lambda t: t.tril(k), (x,))
    ref.check_grads(lambda t: tc.triu(t, k), (x,))


@given(x=tst.float_arrays(MATRICES), data=st.data())
def test_diagonal(x, data):
    d1, d2 = data.draw(st.lists(st.integers(0, x.ndim - 1), min_size=2, max_size=2, unique=True))
    offset = data.draw(st.integers(-4, 4))
    given1 = d1 - x.ndim if data.draw(st.booleans()) else d1
    out = tc.diagonal(tc.Tensor(x), offset, given1, d2)
    np.testing.assert_array_equal(out.numpy(), rops.diagonal(x, offset, d1, d2))
    ref.check_grads(lambda t: t.diagonal(offset, given1, d2), (x,))


@given(sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3), data=st.data())
def test_meshgrid(sizes, data):
    arrays = [data.draw(tst.float_arrays((n,))) for n in sizes]
    indexing = data.draw(st.sampled_from(["ij", "xy"]))
    out = tc.meshgrid(*[tc.Tensor(a) for a in arrays], indexing=indexing)
    for got, want in zip(out, np.meshgrid(*arrays, indexing=indexing), strict=True):
        np.testing.assert_array_equal(got.numpy(), want)
    assert len(tc.meshgrid([tc.Tensor(a) for a in arrays])) == len(arrays)
    weights = [np.random.default_rng(i).standard_normal(out[0].shape) for i in range(len(sizes))]
    ref.check_grads(lambda *ts: sum((g * tc.Tensor(w)).sum() for g, w in zip(
        tc.meshgrid(*ts, indexing=indexing), weights, strict=True)), tuple(arrays))


@given(start=st.floats(-10, 10), end=st.floats(-10, 10), steps=st.integers(0, 12))
def test_linspace(start, end, steps):
    out = tc.linspace(start, end, steps)
    assert out.dtype == np.float32 and out.shape == (steps,)
    expected = [start + (end - start) * i / (steps - 1) for i in range(steps)] if steps > 1 \
        else [start] * steps
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(tc.linspace(start, end, steps, dtype=tc.float64).numpy(),
                               expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [tc.bool_, tc.uint8, tc.int32, tc.float16, tc.float64])
def test_ops_keep_the_dtype(dtype):
    x = tc.tensor(np.arange(6).reshape(2, 3) % 2).astype(dtype)
    for out in (x.flip(0), x.roll(1, 1), x.repeat(2, 1), x.tile((2,)),
                x.repeat_interleave(2, 0), x.split(1)[0], x.chunk(2, 1)[0], x.unbind()[0],
                x.unflatten(1, (3, 1)), x.tril(), x.triu(1), x.diagonal()):
        assert out.dtype == dtype


def test_zero_dim_and_empty():
    s = tc.tensor(2.0)
    assert s.flip(0).item() == 2.0 and s.roll(3).item() == 2.0 and s.roll(1, 0).item() == 2.0
    assert s.repeat(2, 3).shape == (2, 3) and s.repeat_interleave(3).tolist() == [2.0] * 3
    # an empty dim splits into one empty piece, and chunks into `chunks` empty pieces (PyTorch)
    assert [p.shape for p in tc.zeros((0, 2)).split(1)] == [(0, 2)]
    assert [p.shape for p in tc.zeros((0, 2)).split(0)] == [(0, 2)]
    assert [p.shape for p in tc.zeros((0, 2)).chunk(3)] == [(0, 2)] * 3
    assert tc.repeat_interleave(tc.tensor([2, 0, 1])).tolist() == [0, 0, 2]
    assert tc.linspace(0, 1, 1).tolist() == [0.0]
    assert tc.linspace(0, 10, 4, dtype=tc.int64).tolist() == [0, 3, 6, 10]


def test_errors():
    x = tc.zeros((2, 3))
    with pytest.raises(IndexError, match="flip: dim 2 is out of range"):
        x.flip(2)
    with pytest.raises(ValueError, match="roll: shifts .* and dims .* must have the same length"):
        x.roll((1, 2), 0)
    with pytest.raises(ValueError, match="repeat: 1 repeat sizes"):
        x.repeat(2)
    with pytest.raises(ValueError, match="repeats must be an int or a 1-D int tensor with 3"):
        x.repeat_interleave(tc.tensor([1, 2]), 1)
    with pytest.raises(ValueError, match="split: sizes .* must be non-negative and add up to 3"):
        x.split([1, 1], 1)
    with pytest.raises(ValueError, match="split_size must be positive"):
        x.split(0)
    with pytest.raises(ValueError, match="chunk: chunks must be a positive int"):
        x.chunk(0)
    with pytest.raises(ValueError, match=r"unflatten: sizes \(2, 2\) do not multiply up to 3"):
        x.unflatten(1, (2, 2))
    with pytest.raises(ValueError, match=r"tril: input must have at least 2 dims, got shape"):
        tc.zeros(3).tril()
    with pytest.raises(ValueError, match="diagonal: dim1 and dim2 name the same dim 1"):
        x.diagonal(0, 1, -1)
    with pytest.raises(ValueError, match="meshgrid: input 1 must be a 0-d or 1-D tensor"):
        tc.meshgrid(tc.zeros(2), x)
    with pytest.raises(ValueError, match="indexing must be 'ij' or 'xy'"):
        tc.meshgrid(tc.zeros(2), indexing="ji")
    with pytest.raises(ValueError, match="linspace: steps must be a non-negative int"):
        tc.linspace(0, 1, -1)


def test_pytorch_cross_check():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    cases = [
        (lambda t: t.flip(0, 2), lambda t: t.flip(0, 2)),
        (lambda t: t.roll((1, -2), (1, 2)), lambda t: t.roll((1, -2), (1, 2))),
        (lambda t: t.roll(5), lambda t: t.roll(5)),
        (lambda t: t.repeat(2, 1, 1, 2), lambda t: t.repeat(2, 1, 1, 2)),
        (lambda t: t.tile((2, 1)), lambda t: t.tile((2, 1))),
        (lambda t: t.repeat_interleave(2, 1), lambda t: t.repeat_interleave(2, 1)),
        (lambda t: t.repeat_interleave(tc.tensor([1, 0, 3]), 1),
         lambda t: t.repeat_interleave(torch.tensor([1, 0, 3]), 1)),
        (lambda t: t.repeat_interleave(2), lambda t: t.repeat_interleave(2)),
        (lambda t: t.split(3, 2), lambda t: t.split(3, 2)),
        (lambda t: t.split([1, 3], -1), lambda t: t.split([1, 3], -1)),
        (lambda t: t.chunk(3, 2), lambda t: t.chunk(3, 2)),
        (lambda t: t.unbind(1), lambda t: t.unbind(1)),
        (lambda t: t.unflatten(2, (2, -1)), lambda t: t.unflatten(2, (2, -1))),
        (lambda t: t.tril(-1), lambda t: t.tril(-1)),
        (lambda t: t.triu(1), lambda t: t.triu(1)),
        (lambda t: t.diagonal(1, 2, 0), lambda t: t.diagonal(1, 2, 0)),
        (lambda t: t.diagonal(-1, -1, 1), lambda t: t.diagonal(-1, -1, 1)),
    ]
    for ours, theirs in cases:
        rops.compare_with_torch(torch, ours, theirs, [x])
    a, b = np.arange(3.0), np.arange(2.0) + 0.5
    for indexing in ("ij", "xy"):
        rops.compare_with_torch(torch, lambda s, t, i=indexing: tc.meshgrid(s, t, indexing=i),
                                lambda s, t, i=indexing: torch.meshgrid(s, t, indexing=i), [a, b])
    for steps in (0, 1, 5, 7):
        np.testing.assert_allclose(tc.linspace(-1.5, 2.0, steps).numpy(),
                                   torch.linspace(-1.5, 2.0, steps).numpy(), rtol=1e-6)
    for n, c in ((5, 4), (6, 4), (0, 3), (3, 5)):
        assert [p.shape for p in tc.chunk(tc.zeros((n, 2)), c)] == \
            [tuple(p.shape) for p in torch.chunk(torch.zeros((n, 2)), c)]
    for n, s in ((0, 1), (0, 0), (5, 2)):
        assert [p.shape for p in tc.split(tc.zeros((n, 2)), s)] == \
            [tuple(p.shape) for p in torch.split(torch.zeros((n, 2)), s)]
