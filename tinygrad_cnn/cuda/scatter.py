"""Deterministic scatter-add on the GPU: ``target[index] += values``, repeated positions added
in the order they occur, as NumPy's ``np.add.at`` does.

``cupyx.scatter_add`` uses atomic adds, whose order (and so the float rounding, when three or
more values meet at one position) changes from run to run; gradcheck's reproducibility check
failed on it (reflection/replication padding's backward, on an H200). Here the positions are
sorted once (a stable sort keeps each position's values in their original order) and one thread
per target element adds its own values in that order: the same sequence of additions as
``np.add.at``, so the result is bit-identical to the CPU's.

Shapes: ``target`` any shape; ``index`` anything ``target[index]`` accepts; ``values``
broadcastable to ``target[index]``'s shape.
"""

from __future__ import annotations

from .kernel import Kernel, enabled_for

SEGMENT_SUM = Kernel("tc_segment_sum", r"""
extern "C" __global__ void tc_segment_sum(const T* values, const long long* order,
                                          const long long* starts, T* target, long long n) {
    TC_GRID_STRIDE(i, n) {
        T acc = target[i];
        for (long long k = starts[i]; k < starts[i + 1]; ++k) acc = acc + values[order[k]];
        target[i] = acc;
    }
}
""", deferred=True)


def usable(xp, dtype) -> bool:
    """Whether ``target`` arrays of ``dtype`` on ``xp`` take this path (float32/float64 with the
    kernels on; integer adds are exact in any order, so cupyx's atomics are fine there)."""
    return getattr(dtype, "name", None) in ("float32", "float64") and enabled_for(xp)


def scatter_add(xp, target, index, values) -> None:
    """``target[index] += values`` with repeated positions added in order, in place."""
    positions = xp.arange(target.size, dtype=xp.int64).reshape(target.shape)[index]
    if positions.size == 0:
        return
    values = xp.ascontiguousarray(
        xp.broadcast_to(xp.asarray(values, dtype=target.dtype), positions.shape)).reshape(-1)
    positions = positions.reshape(-1)
    # CuPy's argsort is always stable (and takes no kind); NumPy's needs asking
    order = (xp.argsort(positions, kind="stable") if xp.__name__ == "numpy"
             else xp.argsort(positions))
    starts = xp.searchsorted(positions[order], xp.arange(target.size + 1, dtype=xp.int64))
    work = target if target.flags.c_contiguous else xp.ascontiguousarray(target)
    SEGMENT_SUM(target.dtype, target.size, values, xp.ascontiguousarray(order, dtype=xp.int64),
                xp.ascontiguousarray(starts, dtype=xp.int64), work, target.size)
    if work is not target:
        target[...] = work
