"""1-D convolution and pooling (adaptive too), computed by the 2-D ops on a unit height (no
second copy).

Shapes: N batch, C_in/C_out channels, L input length, K kernel, OL output length.

    (N, C, L) -> unsqueeze -> (N, C, 1, L) -> conv2d / max_pool2d / avg_pool2d with a (1, K)
    kernel, stride (1, S), padding (0, P), dilation (1, D) -> (N, C_out, 1, OL) -> squeeze

The 2-D ops' gradients (of any order) flow through the reshapes unchanged. Arguments are checked
here first, so errors name the 1-D op and its argument, not the 2-D op underneath. An unbatched
(C, L) input is accepted as PyTorch's, and gives an unbatched (C_out, OL) output.
"""

from __future__ import annotations

import numbers

from tinygrad_cnn.ops import conv, pool, windows
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


def single(value, name: str, op: str) -> int:
    """An int, or a 1-tuple of one (PyTorch's _single), as an int; a TypeError naming it."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int or a 1-tuple of one, got {value!r}")
    return int(value)


def positive_single(value, name: str, op: str) -> int:
    """``single(value)``, which must be >= 1; a ValueError naming it otherwise."""
    v = single(value, name, op)
    if v < 1:
        raise ValueError(f"{op}: {name} must be positive, got {value!r}")
    return v


def _batched(x: Tensor, op: str, what: str = "input") -> tuple[Tensor, bool]:
    """(N, C, L) as it is, (C, L) with a unit batch; whether a batch dim was added."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor {what}, got {type(x).__name__}")
    if x.ndim == 2:
        return shape_ops.unsqueeze(x, 0), True
    if x.ndim != 3:
        raise ValueError(f"{op}: expected a 3-D {what} (N, C, L) or a 2-D unbatched one (C, L), "
                         f"got shape {x.shape}")
    return x, False


def _unbatched(y: Tensor, added: bool) -> Tensor:
    """(N, C, 1, OL) -> (N, C, OL), and the unit batch dropped again when one was added."""
    y = shape_ops.squeeze(y, 2)
    return shape_ops.squeeze(y, 0) if added else y


def _check_fit(op: str, length: int, kernel: int, stride: int, pad: tuple[int, int],
               dilation: int) -> None:
    out = windows.conv_output_size(length, kernel, stride, pad, dilation)
    if out <= 0:
        raise ValueError(
            f"{op}: the kernel ({kernel}, dilation {dilation}) does not fit the padded input: "
            f"output length floor(({length} + {pad[0]} + {pad[1]} - {dilation}*({kernel}-1) - 1)"
            f" / {stride}) + 1 = {out}")


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D cross-correlation, as PyTorch's F.conv1d, computed by conv2d.

    input (N, C_in, L) or (C_in, L), weight (C_out, C_in/groups, K), bias (C_out,) or None
    -> (N, C_out, OL), OL = floor((L + 2*padding - dilation*(K-1) - 1)/stride) + 1.
    ``padding``: an int, a 1-tuple, "valid" or "same" (OL = ceil(L / stride)).
    """
    op = "conv1d"
    x, added = _batched(input, op)
    if not isinstance(weight, Tensor) or weight.ndim != 3:
        raise ValueError(f"{op}: expected a 3-D weight (C_out, C_in/groups, K), got shape "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    groups = windows.int_at_least(groups, 1, "groups", op)
    c, cg = x.shape[1], weight.shape[1]
    if c != cg * groups:
        raise ValueError(f"{op}: input has {c} channels but weight {weight.shape} with "
                         f"groups={groups} expects {cg * groups} (= {cg} x {groups})")
    if weight.shape[0] % groups:
        raise ValueError(f"{op}: output channels {weight.shape[0]} (weight {weight.shape}) are "
                         f"not divisible by groups={groups}")
    s = positive_single(stride, "stride", op)
    d = positive_single(dilation, "dilation", op)
    k = weight.shape[2]
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"{op}: padding must be an int, a 1-tuple, 'valid' or 'same', got "
                             f"{padding!r}")
        pads = padding
    else:
        p = single(padding, "padding", op)
        if p < 0:
            raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
        if k > 0:
            _check_fit(op, x.shape[2], k, s, (p, p), d)
        pads = ((0, 0), (p, p))
    w2 = shape_ops.unsqueeze(weight, 2)                                  # (C_out, C_in/G, 1, K)
    y = conv.conv2d(shape_ops.unsqueeze(x, 2), w2, bias, (1, s), pads, (1, d), groups)
    return _unbatched(y, added)


def _pool_args(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Checked 1-D pool arguments as the 2-D op's (1, k) pairs."""
    windows.check_flag(op, "ceil_mode", ceil_mode)
    k = positive_single(kernel_size, "kernel_size", op)
    no_stride = stride is None or (isinstance(stride, (tuple, list)) and not stride)
    s = k if no_stride else positive_single(stride, "stride", op)
    d = positive_single(dilation, "dilation", op)
    p = single(padding, "padding", op)
    if not 0 <= p <= k // 2:
        raise ValueError(f"{op}: padding must be between 0 and half the kernel size {k} "
                         f"(at most {k // 2}), got {padding!r}")
    _check_fit(op, x.shape[2], k, s, (p, p), d)
    return (1, k), (1, s), (0, p), (1, d)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over windows of K, as PyTorch's F.max_pool1d, computed by max_pool2d:
    (N, C, L) or (C, L) -> (N, C, OL). ``stride`` defaults to ``kernel_size``; padding (at most
    half the kernel) is -inf; ``return_indices`` also gives each maximum's index into L."""
    op = "max_pool1d"
    x, added = _batched(input, op)
    windows.check_flag(op, "return_indices", return_indices)
    k, s, p, d = _pool_args(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    out = pool.max_pool2d(shape_ops.unsqueeze(x, 2), k, s, p, d, ceil_mode, return_indices)
    if return_indices:  # flat indices into a 1 x L plane are indices into L
        return _unbatched(out[0], added), _unbatched(out[1], added)
    return _unbatched(out, added)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over windows of K, as PyTorch's F.avg_pool1d, computed by avg_pool2d:
    (N, C, L) or (C, L) -> (N, C, OL); zero padding counts when ``count_include_pad``."""
    op = "avg_pool1d"
    x, added = _batched(input, op)
    windows.check_flag(op, "count_include_pad", count_include_pad)
    k, s, p, _ = _pool_args(op, x, kernel_size, stride, padding, 1, ceil_mode)
    y = pool.avg_pool2d(shape_ops.unsqueeze(x, 2), k, s, p, ceil_mode, count_include_pad)
    return _unbatched(y, added)


def _adaptive_size(op: str, output_size) -> int:
    """output_size as an int (a 1-tuple of one too); PyTorch's 1-D ops take no None here."""
    return positive_single(output_size, "output_size", op)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed length OL, as PyTorch's F.adaptive_avg_pool1d, computed by
    adaptive_avg_pool2d: (N, C, L) or (C, L) -> (N, C, OL) or (C, OL). Bin i covers
    floor(i*L/OL) .. ceil((i+1)*L/OL) (uneven bins overlap)."""
    op = "adaptive_avg_pool1d"
    x, added = _batched(input, op)
    o = _adaptive_size(op, output_size)
    return _unbatched(pool.adaptive_avg_pool2d(shape_ops.unsqueeze(x, 2), (1, o)), added)


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed length OL that divides L, as PyTorch's F.adaptive_max_pool1d,
    computed by adaptive_max_pool2d (uneven bins are not supported there, nor here):
    (N, C, L) or (C, L) -> (N, C, OL) or (C, OL); ``return_indices`` also gives each maximum's
    index into L."""
    op = "adaptive_max_pool1d"
    x, added = _batched(input, op)
    o = _adaptive_size(op, output_size)
    windows.check_flag(op, "return_indices", return_indices)
    if x.shape[2] % o:
        raise NotImplementedError(f"{op}: output_size {o} must divide the input length "
                                  f"{x.shape[2]} (uneven bins are not supported)")
    out = pool.adaptive_max_pool2d(shape_ops.unsqueeze(x, 2), (1, o), return_indices)
    if return_indices:  # flat indices into a 1 x L plane are indices into L
        return _unbatched(out[0], added), _unbatched(out[1], added)
    return _unbatched(out, added)
