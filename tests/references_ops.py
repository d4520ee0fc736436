"""Naive NumPy references (loops allowed) for scans, sorting, norms, indexing and shape ops.

Written from the definitions, independently of the library and of NumPy's own versions of
the same op where that is practical.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def _lines(x, axis):
    """(index tuple of a 1-D line along ``axis``) for every line of ``x``."""
    moved = [n for i, n in enumerate(x.shape) if i != axis]
    for rest in itertools.product(*[range(n) for n in moved]):
        rest = list(rest)
        yield tuple(rest[:axis]) + (slice(None),) + tuple(rest[axis:])


def cumulate(x, axis, op):
    """Running sum (op="sum") or product along ``axis``, element by element."""
    out = np.zeros(x.shape, dtype=np.result_type(x.dtype, np.int64) if x.dtype.kind in "biu"
                   else x.dtype)
    for line in _lines(x, axis):
        acc = 0 if op == "sum" else 1
        for i, v in enumerate(x[line]):
            acc = acc + v if op == "sum" else acc * v
            out[line][i] = acc
    return out


def product(x, axes):
    """Product over ``axes`` (a tuple) by a loop over the reduced elements."""
    keep = [i for i in range(x.ndim) if i not in axes]
    out = np.ones([x.shape[i] for i in keep], dtype=x.dtype)
    for idx in np.ndindex(*x.shape):
        out[tuple(idx[i] for i in keep)] *= x[idx]
    return out


def sort(x, axis, descending=False):
    """Stable sort of each line: (values, indices)."""
    values, indices = np.empty_like(x), np.zeros(x.shape, dtype=np.int64)
    for line in _lines(x, axis):
        items = list(enumerate(x[line].tolist()))
        key = (lambda p: (-p[1], p[0])) if descending else (lambda p: (p[1], p[0]))
        ordered = sorted(items, key=key)
        indices[line] = [i for i, _ in ordered]
        values[line] = [v for _, v in ordered]
    return values, indices


def vector_norm(x, p, axes):
    """The p-norm over ``axes`` (a tuple), from the definition."""
    keep = [i for i in range(x.ndim) if i not in axes]
    groups = {}
    for idx in np.ndindex(*x.shape):
        groups.setdefault(tuple(idx[i] for i in keep), []).append(abs(float(x[idx])))
    out = np.zeros([x.shape[i] for i in keep])
    for key, values in groups.items():
        if p == math.inf:
            out[key] = max(values)
        elif p == -math.inf:
            out[key] = min(values)
        elif p == 0:
            out[key] = sum(v != 0 for v in values)
        else:
            out[key] = sum(v**p for v in values) ** (1 / p)
    return out


def gather(x, dim, index):
    out = np.zeros(index.shape, dtype=x.dtype)
    for pos in np.ndindex(*index.shape):
        src = list(pos)
        src[dim] = index[pos]
        out[pos] = x[tuple(src)]
    return out


def scatter(x, dim, index, src, add):
    """A copy of x with src written (or added, ``add=True``) at index along dim."""
    out = x.copy()
    for pos in np.ndindex(*index.shape):
        dst = list(pos)
        dst[dim] = index[pos]
        value = src[pos] if isinstance(src, np.ndarray) else src
        if add:
            out[tuple(dst)] += value
        else:
            out[tuple(dst)] = value
    return out


def index_add(x, dim, index, source, alpha):
    out = x.copy()
    for pos in np.ndindex(*source.shape):
        dst = list(pos)
        dst[dim] = index[pos[dim]]
        out[tuple(dst)] += alpha * source[pos]
    return out


def one_hot(values, classes):
    out = np.zeros(values.shape + (classes,), dtype=np.int64)
    for pos in np.ndindex(*values.shape):
        out[pos + (values[pos],)] = 1
    return out


def flip(x, dims):
    out = np.empty_like(x)
    for pos in np.ndindex(*x.shape):
        src = tuple(x.shape[d] - 1 - i if d in dims else i for d, i in enumerate(pos))
        out[pos] = x[src]
    return out


def roll(x, shifts, dims):
    out = np.empty_like(x)
    for pos in np.ndindex(*x.shape):
        dst = list(pos)
        for s, d in zip(shifts, dims, strict=True):
            dst[d] = (dst[d] + s) % x.shape[d]
        out[tuple(dst)] = x[pos]
    return out


def repeat(x, sizes):
    """PyTorch's Tensor.repeat: out[i] = x[i mod shape] over the tiled shape."""
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    src = x.reshape(shape)
    out = np.empty([r * n for r, n in zip(sizes, shape, strict=True)], dtype=x.dtype)
    for pos in np.ndindex(*out.shape):
        out[pos] = src[tuple(i % n for i, n in zip(pos, shape, strict=True))]
    return out


def repeat_interleave(x, counts, axis):
    """Each slice along ``axis`` repeated counts[i] times."""
    pieces = []
    for i, c in enumerate(counts):
        pieces += [np.take(x, [i], axis=axis)] * int(c)
    if not pieces:
        shape = list(x.shape)
        shape[axis] = 0
        return np.zeros(shape, dtype=x.dtype)
    return np.concatenate(pieces, axis=axis)


def triangle(x, k, upper):
    out = np.zeros_like(x)
    for pos in np.ndindex(*x.shape):
        i, j = pos[-2], pos[-1]
        if (j - i >= k) if upper else (j - i <= k):
            out[pos] = x[pos]
    return out


def diagonal(x, offset, dim1, dim2):
    rest = [i for i in range(x.ndim) if i not in (dim1, dim2)]
    items = []
    i = max(-offset, 0)
    j = max(offset, 0)
    while i < x.shape[dim1] and j < x.shape[dim2]:
        index = [slice(None)] * x.ndim
        index[dim1], index[dim2] = i, j
        items.append(x[tuple(index)])
        i, j = i + 1, j + 1
    shape = [x.shape[r] for r in rest]
    if not items:
        return np.zeros(shape + [0], dtype=x.dtype)
    return np.stack(items, axis=-1)


def compare_with_torch(torch, tc_fn, torch_fn, arrays, *, seed: int = 0, rtol: float = 1e-10,
                       atol: float = 1e-12):
    """Run ``tc_fn`` and ``torch_fn`` on float64 copies of ``arrays`` (a list; ints pass through
    unchanged) and compare the outputs and the gradients of every float input, with a random
    upstream gradient. Either function may return a tuple; its float outputs are compared."""
    import tinygrad_cnn as tc

    ours = [tc.Tensor(a.copy(), requires_grad=True) if a.dtype.kind == "f" else tc.Tensor(a)
            for a in arrays]
    theirs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out_ours, out_theirs = tc_fn(*ours), torch_fn(*theirs)
    if not isinstance(out_ours, tuple):
        out_ours, out_theirs = (out_ours,), (out_theirs,)
    rng = np.random.default_rng(seed)
    total_ours, total_theirs = 0, 0
    for a, b in zip(out_ours, out_theirs, strict=True):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=rtol, atol=atol)
        assert a.dtype == np.dtype(str(b.dtype).replace("torch.", "")), (a.dtype, b.dtype)
        if a.requires_grad and b.requires_grad:
            up = rng.standard_normal(a.shape)
            total_ours = total_ours + (a * tc.Tensor(up)).sum()
            total_theirs = total_theirs + (b * torch.tensor(up)).sum()
    if not isinstance(total_ours, int):
        total_ours.backward()
        total_theirs.backward()
    for a, b in zip(ours, theirs, strict=True):
        if a.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)
        elif b.grad is not None:  # no gradient here: PyTorch's must be zero
            np.testing.assert_array_equal(b.grad.numpy(), 0.0)
