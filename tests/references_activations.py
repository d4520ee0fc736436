"""Naive references for the activation functions: Python's math module, one element at a time."""

import numpy as np


def _each(fn):
    def apply(x, *args):
        flat = [fn(float(v), *args) for v in np.asarray(x, dtype=np.float64).reshape(-1)]
        return np.array(flat, dtype=np.float64).reshape(np.shape(x))
    return apply


hardtanh = _each(lambda v, lo=-1.0, hi=1.0: lo if v < lo else hi if v > hi else v)
relu6 = _each(lambda v: 0.0 if v < 0 else 6.0 if v > 6 else v)
