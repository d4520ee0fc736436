"""More losses and distances, PyTorch's: huber_loss, kl_div, cosine_similarity,
pairwise_distance, cdist, and local_response_norm (AlexNet's).

Written with Tensor ops, so every one is twice differentiable.
"""

from __future__ import annotations

import numbers
import warnings

from tinygrad_cnn import backend
from tinygrad_cnn.ops import elementwise, reduction, shape_extra, vector_norm
from tinygrad_cnn.ops import loss as loss_ops
from tinygrad_cnn.ops import padding as padding_ops
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor

_sum = reduction.sum    # the losses' `reduction` argument shadows the module inside them


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = input - target, reduced:
    smooth_l1_loss(beta=delta) times delta. Shapes must match exactly."""
    loss_ops._check_reduction(reduction, "huber_loss")
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    loss = delta * loss_ops.smooth_l1_terms(input, target, delta, "huber_loss")
    return loss_ops._reduce(loss, reduction, "huber_loss")


def kl_div(input: Tensor, target: Tensor, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Pointwise KL divergence of log-probabilities ``input`` from ``target``:
    target (log target - input), or exp(target) (target - input) with ``log_target``.

    Without ``log_target`` a target of 0 contributes 0 (0 log 0 = 0). Input and target
    broadcast. ``reduction='batchmean'`` divides the sum by the batch size input.shape[0] (the
    KL divergence's definition); ``'mean'`` divides by the number of elements (and warns, as
    PyTorch does).
    """
    if reduction not in ("mean", "batchmean", "sum", "none"):
        raise ValueError(f"kl_div: reduction must be 'mean', 'batchmean', 'sum' or 'none', "
                         f"got {reduction!r}")
    target = loss_ops._as_tensor(target, input)
    elementwise.broadcast_shapes("kl_div", input.shape, target.shape)
    if log_target:
        loss = elementwise.exp(target) * (target - input)
    else:
        # t log t with 0 log 0 = 0 (value and gradient): log 1 = 0 stands in where t == 0;
        # NaN for t < 0, as PyTorch's xlogy
        safe = elementwise.where(target == 0, 1.0, target)
        loss = target * (elementwise.log(safe) - input)
    if reduction == "mean":
        warnings.warn("kl_div: reduction='mean' divides the total loss by both the batch size "
                      "and the support size; 'batchmean' divides only by the batch size, as the "
                      "KL divergence's definition does", UserWarning, stacklevel=2)
    if reduction == "batchmean":
        total = _sum(loss)
        return total / input.shape[0] if input.ndim else total
    return loss_ops._reduce(loss, reduction, "kl_div")


def _broadcast_pair(x1: Tensor, x2: Tensor, op: str):
    """Floating x1, x2 (ints -> float32) broadcast to one shape."""
    x1, x2 = elementwise.as_tensor_operands(elementwise.floating(x1), elementwise.floating(x2))
    shape = elementwise.broadcast_shapes(op, x1.shape, x2.shape)
    return shape_ops.expand(x1, shape), shape_ops.expand(x2, shape)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps)) along ``dim`` (2-norms along ``dim``);
    x1 and x2 broadcast, and ``dim`` indexes the broadcast shape."""
    x1, x2 = _broadcast_pair(x1, x2, "cosine_similarity")
    d = shape_ops.normalize_dim(dim, x1.ndim, "cosine_similarity")
    n1 = elementwise.clamp(vector_norm.vector_norm(x1, 2, d, keepdim=True), min=eps)
    n2 = elementwise.clamp(vector_norm.vector_norm(x2, 2, d, keepdim=True), min=eps)
    return _sum((x1 / n1) * (x2 / n2), d)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps along the last dim: (N, D), (N, D) -> (N,); x1 and x2
    broadcast ((D,) against (N, D) is fine), two (D,) vectors give a 0-d distance."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"pairwise_distance: p must be a number, got {p!r}")
    x1, x2 = _broadcast_pair(x1, x2, "pairwise_distance")
    diff = x1 - x2 + eps
    if diff.ndim == 0:
        return vector_norm.vector_norm(diff, p, None, keepdim=keepdim)
    return vector_norm.vector_norm(diff, p, -1, keepdim=keepdim)


_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                "donot_use_mm_for_euclid_dist")


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """The p-norm distance between each row of x1 and each row of x2: (*B, P, M) and (*B', R, M)
    -> (*broadcast(B, B'), P, R), out[..., i, j] = ||x1[..., i, :] - x2[..., j, :]||_p.

    ``p`` >= 0: 0 counts the differing coordinates (no gradient), inf takes the largest. Both
    floating, of one dtype, as PyTorch. Computed from the differences (*B, P, R, M) through
    ``vector_norm`` (PyTorch's ``compute_mode`` is accepted; the matrix-product shortcut for p=2
    is never taken), so twice differentiable, with a gradient of 0 at a zero distance.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"cdist: p must be a number, got {p!r}")
    if not p >= 0:
        raise ValueError(f"cdist: p must be non-negative, got {p}")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"cdist: {compute_mode!r} is not a valid compute_mode; expected one of "
                         f"{', '.join(map(repr, _CDIST_MODES))}")
    for name, x in (("x1", x1), ("x2", x2)):
        if not isinstance(x, Tensor):
            raise TypeError(f"cdist: {name} must be a Tensor, got {type(x).__name__}")
    shapes = f"x1 {x1.shape} and x2 {x2.shape}"
    if x1.ndim < 2 or x2.ndim < 2:
        raise backend.ShapeError(f"cdist: needs tensors of at least 2 dims (*B, P, M) and "
                                 f"(*B, R, M), got {shapes}")
    if x1.shape[-1] != x2.shape[-1]:
        raise backend.ShapeError(f"cdist: {shapes} differ in their last dim (M: {x1.shape[-1]} "
                                 f"and {x2.shape[-1]})")
    if x1.dtype.kind != "f" or x2.dtype != x1.dtype:
        raise TypeError(f"cdist: needs two floating tensors of one dtype, got {x1.dtype} and "
                        f"{x2.dtype}")
    try:
        batch = backend.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
    except ValueError:
        raise backend.ShapeError(f"cdist: the batch dims of {shapes} cannot be broadcast "
                                 "together") from None
    a = shape_ops.expand(x1, batch + x1.shape[-2:])                    # (*B, P, M)
    b = shape_ops.expand(x2, batch + x2.shape[-2:])                    # (*B, R, M)
    diff = shape_ops.unsqueeze(a, -2) - shape_ops.unsqueeze(b, -3)     # (*B, P, R, M)
    if diff.shape[-1] == 0:                 # M = 0: every distance is 0 (the inf-norm too)
        return reduction.sum(diff, -1)
    return vector_norm.vector_norm(diff, p, -1)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """x / (k + alpha/size * sum of x^2 over ``size`` neighbouring channels)^beta, the channels
    dim 1 of (N, C, *) (AlexNet's): the window runs from c - size//2 to c + (size-1)//2,
    zero-padded at the ends."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive integer, got {size!r}")
    if input.ndim < 3:
        raise backend.ShapeError(
            f"local_response_norm: expected an input of 3 or more dims (N, C, *), got shape "
            f"{input.shape}"
        )
    x = elementwise.floating(input)
    sq = x * x
    channels = x.shape[1]
    # pad dim 1 with size//2 zeros before and (size-1)//2 after, then sum `size` shifted slices
    pads = [0, 0] * (x.ndim - 2) + [size // 2, (size - 1) // 2]
    padded = padding_ops.pad(sq, pads)                          # (N, C + size - 1, *)
    window = shape_extra.narrow(padded, 1, 0, channels)
    for start in range(1, size):
        window = window + shape_extra.narrow(padded, 1, start, channels)
    div = elementwise.pow(window * (alpha / size) + k, beta)
    return x / div
