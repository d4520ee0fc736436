"""Padding layers: ZeroPad1d/2d, ConstantPad1d/2d, ReflectionPad1d/2d, ReplicationPad1d/2d,
CircularPad1d/2d. Each is F.pad (ops/padding.py) with the widths fixed at construction.

``padding`` is an int (every side) or PyTorch's tuple: (left, right) for the 1-D layers,
(left, right, top, bottom) for the 2-D ones; (N, C, H, W) -> (N, C, H + top + bottom,
W + left + right). The reflect, replicate and circular layers take a batched or unbatched input
((N, C, L) or (C, L); (N, C, H, W) or (C, H, W)); reflect widths must be smaller than the
padded dim, circular ones at most its size.
"""

from __future__ import annotations

import numbers

from tinygrad_cnn.nn.module import Module
from tinygrad_cnn.ops import padding as padding_ops
from tinygrad_cnn.tensor import Tensor


def _widths(name: str, padding, count: int) -> tuple[int, ...]:
    """An int (all sides) or a tuple of ``count`` ints, as a tuple; an error naming it."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        return (int(padding),) * count
    if not isinstance(padding, (tuple, list)) or len(padding) != count:
        sides = "(left, right)" if count == 2 else "(left, right, top, bottom)"
        raise TypeError(f"{name}: padding must be an int or a tuple {sides} of {count} ints, "
                        f"got {padding!r}")
    widths = padding_ops.pad_widths(padding, name)
    return widths


class _PadNd(Module):
    _mode = "constant"
    _count = 4

    def __init__(self, padding):
        super().__init__()
        name = type(self).__name__
        self.padding = _widths(name, padding, self._count)
        if self._mode != "constant" and any(p < 0 for p in self.padding):
            raise ValueError(f"{name}: padding must be non-negative, got {padding!r}")

    def forward(self, x: Tensor) -> Tensor:
        try:
            return padding_ops.pad(x, self.padding, self._mode, getattr(self, "value", None))
        except (ValueError, TypeError) as e:  # say which layer the input came through
            raise type(e)(f"{self!r}: {e}") from None

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float):
        super().__init__(padding)
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"{type(self).__name__}: value must be a number, got {value!r}")
        self.value = value

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with ``value``: padding = int or (left, right)."""

    _count = 2


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with ``value``: padding = int or (left, right, top, bottom)."""


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros: padding = int or (left, right)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dims with zeros: padding = int or (left, right, top, bottom)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """Mirror the last dim at its edges (the edge itself not repeated): (left, right)."""

    _mode, _count = "reflect", 2


class ReflectionPad2d(_PadNd):
    """Mirror the last two dims at their edges: (left, right, top, bottom)."""

    _mode = "reflect"


class ReplicationPad1d(_PadNd):
    """Repeat the edge values of the last dim: (left, right)."""

    _mode, _count = "replicate", 2


class ReplicationPad2d(_PadNd):
    """Repeat the edge values of the last two dims: (left, right, top, bottom)."""

    _mode = "replicate"


class CircularPad1d(_PadNd):
    """Wrap the last dim around: (left, right)."""

    _mode, _count = "circular", 2


class CircularPad2d(_PadNd):
    """Wrap the last two dims around: (left, right, top, bottom)."""

    _mode = "circular"
