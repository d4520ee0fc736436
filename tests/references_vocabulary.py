"""Naive loop references for PyTorch's everyday vocabulary (mm, bmm, dot, outer, trace, narrow,
select, take, masked_select, nonzero, count_nonzero, allclose, equal), written from their
definitions one element at a time; they share no code with tinygrad_cnn (tests only, slow)."""

from __future__ import annotations

import itertools
import math

import numpy as np


def mm(a, b):
    n, k = a.shape
    m = b.shape[1]
    out = np.zeros((n, m), dtype=np.result_type(a, b))
    for i, j in itertools.product(range(n), range(m)):
        out[i, j] = sum(a[i, p] * b[p, j] for p in range(k))
    return out


def bmm(a, b):
    return np.stack([mm(x, y) for x, y in zip(a, b, strict=True)]) if len(a) else \
        np.zeros((0, a.shape[1], b.shape[2]), dtype=np.result_type(a, b))


def dot(a, b):
    return np.asarray(sum((x * y for x, y in zip(a, b, strict=True)), a.dtype.type(0)))


def outer(a, b):
    return np.array([[x * y for y in b] for x in a]).reshape(len(a), len(b))


def trace(x):
    total = 0
    for i in range(min(x.shape)):
        total += x[i, i]
    return total


def narrow(x, dim, start, length):
    """The elements whose index along ``dim`` lies in [start, start + length) (start >= 0)."""
    keep = [i for i in range(x.shape[dim]) if start <= i < start + length]
    return np.take(x, np.array(keep, dtype=np.int64), axis=dim)


def select(x, dim, index):
    index = index + x.shape[dim] if index < 0 else index
    out = np.zeros(x.shape[:dim] + x.shape[dim + 1 :], dtype=x.dtype)
    for pos in np.ndindex(*out.shape):
        out[pos] = x[pos[:dim] + (index,) + pos[dim:]]
    return out


def take(x, index):
    flat = [x[pos] for pos in np.ndindex(*x.shape)]  # row-major order
    out = np.zeros(index.shape, dtype=x.dtype)
    for pos in np.ndindex(*index.shape):
        i = int(index[pos])
        out[pos] = flat[i + len(flat) if i < 0 else i]
    return out


def masked_select(x, mask):
    shape = np.broadcast_shapes(x.shape, mask.shape)
    xs, ms = np.broadcast_to(x, shape), np.broadcast_to(mask, shape)
    return np.array([xs[pos] for pos in np.ndindex(*shape) if ms[pos]], dtype=x.dtype)


def nonzero(x):
    """(N, ndim) positions of the non-zero elements in row-major order."""
    rows = [pos for pos in np.ndindex(*x.shape) if x[pos] != 0]
    return np.array(rows, dtype=np.int64).reshape(len(rows), x.ndim)


def count_nonzero(x, dims):
    """Non-zeros counted over ``dims`` (non-negative, sorted), the other dims kept in order."""
    kept = [d for d in range(x.ndim) if d not in dims]
    out = np.zeros([x.shape[d] for d in kept], dtype=np.int64)
    for pos in np.ndindex(*x.shape):
        if x[pos] != 0:
            out[tuple(pos[d] for d in kept)] += 1
    return out


def allclose(a, b, rtol, atol, equal_nan):
    shape = np.broadcast_shapes(a.shape, b.shape)
    a, b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
    for pos in np.ndindex(*shape):
        x, y = float(a[pos]), float(b[pos])
        if x != x or y != y:  # NaN
            if not (equal_nan and x != x and y != y):
                return False
        elif x != y and (math.isinf(x) or math.isinf(y)
                         or not abs(x - y) <= atol + rtol * abs(y)):
            return False  # unequal infinities are never close
    return True


def equal(a, b):
    if a.shape != b.shape:
        return False
    return all(a[pos] == b[pos] for pos in np.ndindex(*a.shape))
