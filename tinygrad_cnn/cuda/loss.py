"""Fused softmax cross-entropy of (N, C, *S) logits and class indices: four launches in all.

A row is one (n, *s) position: its C logits lie L = prod(S) apart (L = 1 for (N, C) logits),
and the targets, weights and per-row statistics are flat (N*L,) arrays in (n, *s) order.

``class_targets`` checks the targets and makes each row's safe class index and weight in one
launch (the generic path takes eight array operations for that). The forward kernel takes one
row per thread: its max, the log of the sum of exponentials, and the row's loss
``-((x[t] - max) - log_sum) * coef`` (``coef``: the target's class weight, 0 for an ignored
row), keeping ``max`` and ``log_sum`` for the backward. ``tc_softmax_xent_total`` then sums the
rows' losses and weights on one thread (up to ``TOTAL_MAX_ROWS`` rows; beyond that the generic
sums). The backward kernel takes one element per thread:
``(exp((x - max) - log_sum) - [j == t]) * scale`` with the row's ``scale`` made from the upstream
gradient in the kernel. All follow ops/loss.py's generic expressions in the same order; only the
sums are taken sequentially instead of pairwise (float32: about 1e-7 relative).
"""

from __future__ import annotations

from .kernel import FLOAT_CHARS, Kernel

FORWARD = Kernel("tc_softmax_xent_forward", r"""
extern "C" __global__ void tc_softmax_xent_forward(
        const T* x, const long long* target, const T* coef, T* loss, T* row_max, T* log_sum,
        long long classes, long long inner, long long rows) {
    TC_GRID_STRIDE(i, rows) {
        const T* row = x + (i / inner) * classes * inner + i % inner;  // class j at row[j * inner]
        T m = row[0];
        for (long long j = 1; j < classes; ++j) {
            T v = row[j * inner];
            m = (v > m || v != v) ? v : m;  // NumPy's max: NaN wins
        }
        T s = 0;
        for (long long j = 0; j < classes; ++j) s = s + exp(row[j * inner] - m);
        T ls = log(s);
        row_max[i] = m;
        log_sum[i] = ls;
        loss[i] = -((row[target[i] * inner] - m) - ls) * coef[i];
    }
}
""")

TARGETS = Kernel("tc_class_targets", r"""
extern "C" __global__ void tc_class_targets(
        const long long* target, const T* weight, long long* safe, T* coef, long long* bad,
        long long ignore_index, long long classes, long long weighted, long long rows) {
    TC_GRID_STRIDE(i, rows) {
        long long t = target[i];
        bool keep = t != ignore_index;
        if (keep && (t < 0 || t >= classes)) {
            bad[0] = 1;  // every such thread writes the same value
            keep = false;
        }
        safe[i] = keep ? t : 0;
        coef[i] = keep ? (weighted ? weight[t] : (T)1) : (T)0;
    }
}
""")

TOTAL = Kernel("tc_softmax_xent_total", r"""
extern "C" __global__ void tc_softmax_xent_total(
        const T* loss, const T* coef, T* out, T* denominator, long long mean, long long rows) {
    TC_GRID_STRIDE(k, 1) {
        T total = 0, weights = 0;
        for (long long i = 0; i < rows; ++i) {
            total = total + loss[i];
            weights = weights + coef[i];
        }
        denominator[0] = weights;
        out[0] = mean ? total / weights : total;
    }
}
""")

BACKWARD = Kernel("tc_softmax_xent_backward", r"""
extern "C" __global__ void tc_softmax_xent_backward(
        const T* x, const long long* target, const T* row_max, const T* log_sum, const T* coef,
        const T* g, const T* denominator, T* dx, long long mode, long long classes,
        long long inner, long long n) {
    TC_GRID_STRIDE(k, n) {
        long long rest = k / inner;  // n * classes + class
        long long i = (rest / classes) * inner + k % inner;  // the row
        // the row's scale, as ops/loss.py's _row_scale: mean (0), sum (1), none (2)
        T scale = mode == 0 ? coef[i] * (g[0] / denominator[0])
                : mode == 1 ? coef[i] * g[0] : coef[i] * g[i];
        T q = exp((x[k] - row_max[i]) - log_sum[i]);
        if (rest % classes == target[i]) q = q - 1;
        dx[k] = q * scale;
    }
}
""")

TOTAL_MAX_ROWS = 1 << 14  # one thread sums the rows; more rows take the generic (parallel) sums
_MODES = {"mean": 0, "sum": 1, "none": 2}


def fusable(x) -> bool:
    """Whether logits ``x`` (N, C, *S) suit the kernels: float32 or float64, none of N, C or S
    empty."""
    return x.ndim >= 2 and x.dtype.char in FLOAT_CHARS and x.size > 0


def _inner(x) -> int:
    """L: the distance between a row's classes in logits (N, C, *S)."""
    return x.size // (x.shape[0] * x.shape[1])


def _indices(xp, target):
    return xp.ascontiguousarray(target.astype(xp.int64, copy=False))


def class_targets(xp, target, weight, ignore_index: int, classes: int, dtype):
    """(safe, coef), each (N, *S), for class indices ``target`` (N, *S): safe is the target
    with ignored rows as 0, coef the target's weight (``weight`` (C,), or 1) with ignored rows 0.

    None when a target is out of range (not ``ignore_index`` and outside [0, C)): the caller's
    generic check then names it. Reading the flag waits for the GPU, as the generic check does.
    """
    rows = target.size
    safe = xp.empty(target.shape, dtype=xp.int64)
    coef = xp.empty(target.shape, dtype=dtype)
    bad = xp.zeros(1, dtype=xp.int64)
    weights = coef if weight is None else xp.ascontiguousarray(weight, dtype=dtype)
    TARGETS(coef.dtype, rows, _indices(xp, target), weights, safe, coef, bad,
            int(ignore_index), int(classes), int(weight is not None), rows)
    return None if int(bad[0]) else (safe, coef)


def forward(xp, x, target, coef, reduction="none"):
    """The loss reduced by ``reduction`` (per-row losses (N, *S) for "none", else 0-d) and the
    stats the backward needs: the rows' (max, log_sum), each (N, *S), and the sum of ``coef``
    (1,) for "mean" (None otherwise, or when the generic sums took it).

    x (N, C, *S) logits, target (N, *S) class indices in [0, C), coef (N, *S) their weights."""
    x = xp.ascontiguousarray(x)
    classes, inner = x.shape[1], _inner(x)
    loss = xp.empty(x.shape[:1] + x.shape[2:], dtype=x.dtype)
    rows = loss.size
    row_max, log_sum = xp.empty_like(loss), xp.empty_like(loss)
    coef = xp.ascontiguousarray(coef, dtype=x.dtype)
    FORWARD(x.dtype, rows, x, _indices(xp, target), coef, loss, row_max, log_sum, classes, inner,
            rows)
    denominator = None
    if reduction != "none":
        if rows <= TOTAL_MAX_ROWS:
            out, denominator = xp.empty((), dtype=x.dtype), xp.empty(1, dtype=x.dtype)
            TOTAL(x.dtype, 1, loss, coef, out, denominator, int(reduction == "mean"), rows)
            loss = out
        else:
            total = loss.sum()
            loss = xp.asarray(total / coef.sum() if reduction == "mean" else total,
                              dtype=x.dtype)
    return loss, (row_max, log_sum, denominator if reduction == "mean" else None)


def backward(xp, x, target, stats, coef, g, reduction):
    """(softmax(x) - onehot(target)) * scale, (N, C, *S), from forward's stats; each row's scale
    is ops/loss.py's _row_scale of the upstream gradient ``g`` (0-d, or (N, *S) for "none")
    and ``coef``."""
    x = xp.ascontiguousarray(x)
    dx = xp.empty_like(x)
    row_max, log_sum, denominator = stats
    coef = xp.ascontiguousarray(coef, dtype=x.dtype)
    if reduction == "mean" and denominator is None:
        denominator = xp.ascontiguousarray(coef.sum().reshape(1))
    # a 0-d g as a one-element view: ascontiguousarray may copy it to make it 1-d
    g = g.reshape(1) if g.ndim == 0 and g.dtype == x.dtype else xp.ascontiguousarray(g, x.dtype)
    BACKWARD(x.dtype, x.size, x, _indices(xp, target), row_max, log_sum, coef, g,
             g if denominator is None else denominator, dx, _MODES[reduction], x.shape[1],
             _inner(x), x.size)
    return dx
