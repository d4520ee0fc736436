"""Resampling: pixel_shuffle / pixel_unshuffle, and interpolate (nearest, bilinear).

Shapes: N batch, C channels, H, W input size, OH, OW output size, r the upscale factor.

Every op here is a composition of reshapes, permutes and integer gathers (with constant weights
for bilinear), so its gradient, and every higher one, comes from those ops' own.
"""

from __future__ import annotations

import numbers

from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


def check_factor(value, name: str, op: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{op}: {name} must be positive, got {value!r}")
    return int(value)


def _check_3d_or_more(x, op: str, layout: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(x).__name__}")
    if x.ndim < 3:
        raise ValueError(f"{op}: expected an input {layout} with at least 3 dims, got shape "
                         f"{x.shape}")


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r), out[c, h*r+i, w*r+j] = in[c*r*r + i*r + j, h, w]
    (PyTorch's F.pixel_shuffle, r = upscale_factor)."""
    op = "pixel_shuffle"
    _check_3d_or_more(input, op, "(*, C*r*r, H, W)")
    r = check_factor(upscale_factor, "upscale_factor", op)
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise ValueError(f"{op}: the channel dim (-3) of the input {input.shape} must be "
                         f"divisible by upscale_factor**2 = {r * r}, got {c}")
    k = len(lead)
    x = shape_ops.reshape(input, (*lead, c // (r * r), r, r, h, w))
    x = shape_ops.permute(x, (*range(k), k, k + 3, k + 1, k + 4, k + 2))   # (*, C, H, r, W, r)
    return shape_ops.reshape(x, (*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W), the inverse of pixel_shuffle (PyTorch's
    F.pixel_unshuffle, r = downscale_factor)."""
    op = "pixel_unshuffle"
    _check_3d_or_more(input, op, "(*, C, H*r, W*r)")
    r = check_factor(downscale_factor, "downscale_factor", op)
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise ValueError(f"{op}: the height and width of the input {input.shape} must be "
                         f"divisible by downscale_factor = {r}, got {h} x {w}")
    k = len(lead)
    x = shape_ops.reshape(input, (*lead, c, h // r, r, w // r, r))
    x = shape_ops.permute(x, (*range(k), k, k + 2, k + 4, k + 1, k + 3))   # (*, C, r, r, H, W)
    return shape_ops.reshape(x, (*lead, c * r * r, h // r, w // r))
