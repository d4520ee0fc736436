"""Naive references for the activation functions: Python's math module, one element at a time."""

import math

import numpy as np


def _each(fn):
    def apply(x, *args):
        flat = [fn(float(v), *args) for v in np.asarray(x, dtype=np.float64).reshape(-1)]
        return np.array(flat, dtype=np.float64).reshape(np.shape(x))
    return apply


hardtanh = _each(lambda v, lo=-1.0, hi=1.0: lo if v < lo else hi if v > hi else v)
relu6 = _each(lambda v: 0.0 if v < 0 else 6.0 if v > 6 else v)

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _elu(v, alpha=1.0):
    return v if v > 0 else alpha * (math.exp(v) - 1.0)


elu = _each(_elu)
selu = _each(lambda v: SELU_SCALE * _elu(v, SELU_ALPHA))
celu = _each(lambda v, alpha=1.0: max(0.0, v) + min(0.0, alpha * (math.exp(v / alpha) - 1.0)))
silu = _each(lambda v: v / (1.0 + math.exp(-v)))
hardsigmoid = _each(lambda v: 0.0 if v <= -3 else 1.0 if v >= 3 else v / 6.0 + 0.5)
hardswish = _each(lambda v: 0.0 if v <= -3 else v if v >= 3 else v * (v + 3.0) / 6.0)
mish = _each(lambda v: v * math.tanh(math.log1p(math.exp(v))))
softsign = _each(lambda v: v / (1.0 + abs(v)))
logsigmoid = _each(lambda v: -math.log1p(math.exp(-v)) if v >= 0 else v - math.log1p(math.exp(v)))


def prelu(x, weight):
    """weight (1,) or (C,), per channel along dim 1 of x."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    for index in np.ndindex(x.shape):
        channel = index[1] if (x.ndim >= 2 and len(weight) > 1) else 0
        v = x[index]
        out[index] = v if v > 0 else weight[channel] * v
    return out
