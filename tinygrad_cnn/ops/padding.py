"""F.pad with PyTorch's four modes: constant, reflect, replicate, circular.

The widths come in PyTorch's order: (left, right) of the last dim, then (top, bottom) of the one
before, then (front, back). Constant padding is ops/shape.py's pad. The other modes read every
output position from one input position along each padded axis, so each padded axis is one
gather ``x[..., index, ...]`` with an integer index built from ``arange``: its gradient adds the
output gradient back at the index (repeats add up), and that scatter's gradient is the gather
again, so the pad is differentiable to any order.

For an axis of size n padded by (l, r), output position o reads input position p = o - l, mapped
into [0, n):
    reflect    p -> |p|, then 2(n-1) - p past the end   (the edge itself is not repeated)
    replicate  p -> clip(p, 0, n-1)
    circular   p -> p mod n
"""

from __future__ import annotations

import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor

PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad_widths(pad, op: str = "pad") -> tuple[int, ...]:
    """``pad`` as a tuple of ints of even length, or an error naming it."""
    if isinstance(pad, (str, bytes)) or not hasattr(pad, "__len__"):
        raise TypeError(f"{op}: pad must be a tuple of ints (left, right, top, bottom, ...), got "
                        f"{pad!r}")
    if any(not isinstance(p, numbers.Integral) or isinstance(p, bool) for p in pad):
        raise TypeError(f"{op}: pad must hold ints, got {tuple(pad)!r}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise ValueError(f"{op}: pad must have an even number of widths (left, right, top, "
                         f"bottom, ...), got {len(pad)}: {pad}")
    return pad


def _source_index(xp, mode: str, size: int, before: int, after: int):
    """The input position each output position of one axis reads, (before + size + after,)."""
    p = xp.arange(-before, size + after)
    if mode == "reflect":
        p = xp.abs(p)
        return xp.where(p >= size, 2 * (size - 1) - p, p)
    if mode == "replicate":
        return xp.clip(p, 0, size - 1)
    return p % size  # circular


def _check_mode_widths(x: Tensor, pad: tuple[int, ...], mode: str, op: str) -> None:
    """PyTorch's limits for the non-constant modes, each error naming the bad value."""
    dims = len(pad) // 2
    if dims not in (1, 2, 3) or x.ndim not in (dims + 1, dims + 2):
        raise ValueError(
            f"{op}: mode {mode!r} pads the last 1, 2 or 3 dims of a (batched or unbatched) "
            f"input: 2 widths for a 2-D or 3-D input, 4 for 3-D or 4-D, 6 for 4-D or 5-D; got "
            f"{len(pad)} widths {pad} for an input of shape {x.shape}")
    for i in range(dims):
        d = x.ndim - 1 - i
        before, after = pad[2 * i], pad[2 * i + 1]
        size = x.shape[d]
        if before < 0 or after < 0:
            raise ValueError(f"{op}: mode {mode!r} needs non-negative padding, got ({before}, "
                             f"{after}) for dim {d}")
        if size == 0 and (before or after):
            raise ValueError(f"{op}: mode {mode!r} cannot pad dim {d} of size 0 (input shape "
                             f"{x.shape})")
        if mode == "reflect" and (before >= size or after >= size):
            raise ValueError(
                f"{op}: reflect padding must be smaller than the padded dim, got padding "
                f"({before}, {after}) for dim {d} of size {size} (input shape {x.shape})")
        if mode == "circular" and (before > size or after > size):
            raise ValueError(
                f"{op}: circular padding must be at most the padded dim's size (it would wrap "
                f"around more than once), got padding ({before}, {after}) for dim {d} of size "
                f"{size} (input shape {x.shape})")


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last dims of ``input``: ``pad`` = (left, right) of the last dim, then (top,
    bottom) of the one before, then (front, back); PyTorch's F.pad.

    mode "constant" fills with ``value`` (0 when None) and pads any number of dims. "reflect"
    mirrors without repeating the edge (each width < that dim's size), "replicate" repeats the
    edge, "circular" wraps around (each width <= that dim's size); these pad the last 1, 2 or 3
    dims of a 2-D/3-D, 3-D/4-D or 4-D/5-D input, as PyTorch's. (N, C, H, W) with (l, r, t, b)
    -> (N, C, H + t + b, W + l + r).
    """
    op = "pad"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if mode not in PAD_MODES:
        raise ValueError(f"{op}: mode must be one of {PAD_MODES}, got {mode!r}")
    widths = pad_widths(pad, op)
    if mode == "constant":
        return shape_ops.pad(input, widths, "constant", 0.0 if value is None else value)
    if value is not None and value != 0:
        raise ValueError(f"{op}: value={value!r} is only used by mode 'constant', not {mode!r}")
    _check_mode_widths(input, widths, mode, op)
    xp = backend.array_module(input.data)
    out = input
    for i in range(len(widths) // 2):
        before, after = widths[2 * i], widths[2 * i + 1]
        if before == 0 and after == 0:
            continue
        d = input.ndim - 1 - i
        index = _source_index(xp, mode, input.shape[d], before, after)
        out = shape_ops.getitem_arrays(out, (slice(None),) * d + (index,))
    return out
