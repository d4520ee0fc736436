"""Fused softmax cross-entropy of (N, C) logits and class indices: one launch forward, one
backward.

The forward kernel takes one row per thread: its max, the log of the sum of exponentials, and
the row's loss ``-((x[t] - max) - log_sum) * coef`` (``coef``: the target's class weight, 0 for
an ignored row), keeping ``max`` and ``log_sum`` for the backward. The backward kernel takes one
element per thread: ``(exp((x - max) - log_sum) - [j == t]) * scale`` with the row's ``scale``
from the upstream gradient. Both follow ops/loss.py's generic expressions in the same order;
only the row sums are taken sequentially instead of pairwise (float32: about 1e-7 relative).
"""

from __future__ import annotations

from .kernel import Kernel

FORWARD = Kernel("tc_softmax_xent_forward", r"""
extern "C" __global__ void tc_softmax_xent_forward(
        const T* x, const long long* target, const T* coef, T* loss, T* row_max, T* log_sum,
        long long classes, long long rows) {
    TC_GRID_STRIDE(i, rows) {
        const T* row = x + i * classes;
        T m = row[0];
        for (long long j = 1; j < classes; ++j) {
            T v = row[j];
            m = (v > m || v != v) ? v : m;  // NumPy's max: NaN wins
        }
        T s = 0;
        for (long long j = 0; j < classes; ++j) s = s + exp(row[j] - m);
        T ls = log(s);
        row_max[i] = m;
        log_sum[i] = ls;
        loss[i] = -((row[target[i]] - m) - ls) * coef[i];
    }
}
""")

BACKWARD = Kernel("tc_softmax_xent_backward", r"""
extern "C" __global__ void tc_softmax_xent_backward(
        const T* x, const long long* target, const T* row_max, const T* log_sum, const T* scale,
        T* dx, long long classes, long long n) {
    TC_GRID_STRIDE(k, n) {
        long long i = k / classes;
        T q = exp((x[k] - row_max[i]) - log_sum[i]);
        if (k - i * classes == target[i]) q = q - 1;
        dx[k] = q * scale[i];
    }
}
""")


def fusable(x) -> bool:
    """Whether logits ``x`` (N, C) suit the kernels: float32 or float64, N and C at least 1."""
    return x.ndim == 2 and x.dtype.name in ("float32", "float64") and x.size > 0


def _indices(xp, target):
    return xp.ascontiguousarray(target.astype(xp.int64, copy=False))


def forward(xp, x, target, coef):
    """Per-row losses (N,) and the rows' (max, log_sum), each (N,), for the backward.

    x (N, C) logits, target (N,) class indices in [0, C), coef (N,) their weights."""
    x = xp.ascontiguousarray(x)
    rows, classes = x.shape
    loss = xp.empty(rows, dtype=x.dtype)
    row_max, log_sum = xp.empty_like(loss), xp.empty_like(loss)
    FORWARD(x.dtype, rows, x, _indices(xp, target), xp.ascontiguousarray(coef, dtype=x.dtype),
            loss, row_max, log_sum, classes, rows)
    return loss, (row_max, log_sum)


def backward(xp, x, target, stats, scale):
    """(softmax(x) - onehot(target)) * scale[:, None], (N, C), from forward's row stats."""
    x = xp.ascontiguousarray(x)
    rows, classes = x.shape
    dx = xp.empty_like(x)
    row_max, log_sum = stats
    BACKWARD(x.dtype, x.size, x, _indices(xp, target), row_max, log_sum,
             xp.ascontiguousarray(scale, dtype=x.dtype), dx, classes, x.size)
    return dx
