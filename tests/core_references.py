"""Helpers and plain-NumPy references for the core op tests.

The references are written independently of the library (NumPy only) so a forward bug cannot
hide in both; ``check_grads`` is the one gradient check every op test goes through.
"""

from __future__ import annotations

import numpy as np

import tinygrad_cnn as tc


def check_grads(fn, inputs, *, twice: bool = True, seed: int = 0):
    """Gradient-check ``fn`` at ``inputs`` (float64 arrays) three ways.

    1. the full Jacobian against central differences (every one-hot upstream row);
    2. the backward of ``fn`` with a random upstream gradient (never all-ones, which hides
       transpose bugs) against the numeric vector-Jacobian product;
    3. with ``twice=True``, second derivatives with gradgradcheck (random grad_outputs).
    """
    assert tc.gradcheck(fn, inputs)
    with tc.no_grad():
        out = fn(*[tc.Tensor(a) if isinstance(a, np.ndarray) else a for a in inputs])
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    assert tc.gradcheck(lambda *xs: (fn(*xs) * tc.Tensor(upstream)).sum(), inputs)
    explicit_vjp(fn, inputs, upstream)
    if twice:
        assert tc.gradgradcheck(fn, inputs, seed=seed)


def explicit_vjp(fn, inputs, upstream, eps: float = 1e-6):
    """out.backward(upstream) fills .grad with the numeric v^T J of every float input."""
    tensors = [tc.Tensor(a.copy(), requires_grad=True) if isinstance(a, np.ndarray) else a
               for a in inputs]
    fn(*tensors).backward(tc.Tensor(upstream))
    for k, a in enumerate(inputs):
        if not isinstance(a, np.ndarray):
            continue
        numeric = np.zeros(a.size)
        for j in range(a.size):
            values = []
            for delta in (eps, -eps):
                moved = [x.copy() if isinstance(x, np.ndarray) else x for x in inputs]
                moved[k].reshape(-1)[j] += delta
                with tc.no_grad():
                    out = fn(*[tc.Tensor(m) if isinstance(m, np.ndarray) else m for m in moved])
                values.append(float(np.sum(out.numpy() * upstream)))
            numeric[j] = (values[0] - values[1]) / (2 * eps)
        np.testing.assert_allclose(tensors[k].grad.numpy().reshape(-1), numeric,
                                   rtol=1e-5, atol=1e-6)


def sum_to_shape(x: np.ndarray, shape) -> np.ndarray:
    """Sum a broadcast result back to ``shape`` (what the gradient of broadcasting must be)."""
    x = x.sum(axis=tuple(range(x.ndim - len(shape))))
    return x.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)


def dims_for(ndim: int, spec):
    """A NumPy ``axis`` from a test's dim spec (None, an int or a tuple; negatives allowed)."""
    if spec is None:
        return None
    return spec if isinstance(spec, int) else tuple(spec)


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(x) / sum(exp(x)) with the max subtracted (float64 throughout)."""
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def logsumexp(x: np.ndarray, axis, keepdims: bool = False) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def leaky_relu(x: np.ndarray, slope: float) -> np.ndarray:
    return np.where(x > 0, x, slope * x)


def pad_torch_order(x: np.ndarray, pad, value: float = 0.0) -> np.ndarray:
    """F.pad semantics: (left, right) of the last dim first, then the dim before, ..."""
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return np.pad(x, widths, constant_values=value)


def getitem_grad(shape, index, upstream) -> np.ndarray:
    """The gradient of x[index]: a loop that adds each upstream value at its source position."""
    positions = np.arange(int(np.prod(shape))).reshape(shape)[index]
    out = np.zeros(int(np.prod(shape)))
    for pos, g in zip(np.ravel(positions), np.ravel(upstream), strict=False):
        out[pos] += g
    return out.reshape(shape)
