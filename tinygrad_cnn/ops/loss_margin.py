"""Margin, embedding and likelihood losses, PyTorch's: margin_ranking_loss, triplet_margin_loss,
cosine_embedding_loss, hinge_embedding_loss, soft_margin_loss, multilabel_soft_margin_loss,
gaussian_nll_loss, poisson_nll_loss.

Written with Tensor ops (the reduction, shape checks and pairwise_distance shared with loss.py
and loss_extra.py), so every one is twice differentiable away from its kinks.
Shapes: N batch, D embedding size, C classes.
"""

from __future__ import annotations

import math
import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.ops import activation, elementwise, loss_extra, reduction
from tinygrad_cnn.ops import loss as loss_ops
from tinygrad_cnn.tensor import Tensor

_sum = reduction.sum    # the losses' `reduction` argument shadows the module inside them
_check_reduction = loss_ops._check_reduction
_reduce = loss_ops._reduce
_as_tensor = loss_ops._as_tensor


def _hinge(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return elementwise.clamp(x, min=0.0)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        reduction: str = "mean") -> Tensor:
    """max(0, -target * (input1 - input2) + margin), reduced: target 1 asks input1 to rank
    higher, -1 input2. input1, input2, target (N,) or 0-d, of one number of dims, broadcast."""
    _check_reduction(reduction, "margin_ranking_loss")
    target = _as_tensor(target, input1)
    if not input1.ndim == input2.ndim == target.ndim:
        raise backend.ShapeError(
            f"margin_ranking_loss: input1 {input1.shape}, input2 {input2.shape} and target "
            f"{target.shape} must have the same number of dims"
        )
    elementwise.broadcast_shapes("margin_ranking_loss", input1.shape, input2.shape, target.shape)
    return _reduce(_hinge(-target * (input1 - input2) + margin), reduction,
                   "margin_ranking_loss")


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                        reduction: str = "mean") -> Tensor:
    """max(d(a, p) - d(a, n) + margin, 0), d = pairwise_distance(., ., p, eps) along the last
    dim: anchor, positive, negative (N, D) -> (N,) (or (D,) -> 0-d), reduced. ``swap`` uses
    min(d(a, n), d(p, n)) for the negative distance (Balntas et al.). margin > 0."""
    _check_reduction(reduction, "triplet_margin_loss")
    if not margin > 0:
        raise ValueError(f"triplet_margin_loss: margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise backend.ShapeError(
            f"triplet_margin_loss: anchor {anchor.shape}, positive {positive.shape} and negative "
            f"{negative.shape} must have the same number of dims"
        )
    d_ap = loss_extra.pairwise_distance(anchor, positive, p, eps)
    d_an = loss_extra.pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_an = elementwise.minimum(d_an, loss_extra.pairwise_distance(positive, negative, p, eps))
    return _reduce(_hinge(margin + d_ap - d_an), reduction, "triplet_margin_loss")


_COSINE_EPS = 1e-12     # PyTorch's: added to each squared norm, not a clamp of the norm


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target == 1, max(0, cos(x1, x2) - margin) where target == -1 (0 for
    other targets), cos = x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12)) along the last dim.
    input1, input2 (N, D) with target (N,), or (D,) with a 0-d target."""
    _check_reduction(reduction, "cosine_embedding_loss")
    target = _as_tensor(target, input1)
    if input1.shape != input2.shape or target.ndim > 1 or input1.shape[:-1] != target.shape:
        raise backend.ShapeError(
            f"cosine_embedding_loss: expected input1 and input2 of one shape (N, D) with target "
            f"(N,), or (D,) with a 0-d target; got input1 {input1.shape}, input2 {input2.shape} "
            f"and target {target.shape}"
        )
    x1, x2 = elementwise.floating(input1), elementwise.floating(input2)
    dot = _sum(x1 * x2, -1)
    sq1 = _sum(x1 * x1, -1) + _COSINE_EPS
    sq2 = _sum(x2 * x2, -1) + _COSINE_EPS
    cos = dot / elementwise.sqrt(sq1 * sq2)
    loss = (elementwise.where(target == 1, 1.0 - cos, 0.0)
            + elementwise.where(target == -1, _hinge(cos - margin), 0.0))
    return _reduce(loss, reduction, "cosine_embedding_loss")


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         reduction: str = "mean") -> Tensor:
    """input where target == 1, max(0, margin - input) where target == -1 (for other targets,
    both terms add, as PyTorch's); input and target (any shape) broadcast."""
    _check_reduction(reduction, "hinge_embedding_loss")
    target = _as_tensor(target, input)
    elementwise.broadcast_shapes("hinge_embedding_loss", input.shape, target.shape)
    x = elementwise.floating(input)
    loss = (elementwise.where(target != 1, _hinge(margin - x), 0.0)
            + elementwise.where(target != -1, x, 0.0))
    return _reduce(loss, reduction, "hinge_embedding_loss")


def soft_margin_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """log(1 + exp(-target * input)), as softplus(-target * input) (finite for any input),
    reduced; targets are 1 or -1. Shapes must match exactly."""
    _check_reduction(reduction, "soft_margin_loss")
    target = _as_tensor(target, input)
    loss_ops._check_same_shape(input, target, "soft_margin_loss")
    return _reduce(-activation.logsigmoid(target * input), reduction, "soft_margin_loss")


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                reduction: str = "mean") -> Tensor:
    """-(t log sigmoid(x) + (1 - t) log sigmoid(-x)), times ``weight`` (broadcast, e.g. (C,)),
    averaged over the classes (the last dim): input and target (N, C) -> (N,), or (C,) -> 0-d;
    then reduced."""
    _check_reduction(reduction, "multilabel_soft_margin_loss")
    if input.ndim == 0:
        raise backend.ShapeError("multilabel_soft_margin_loss: input must have a class dim "
                                 "(N, C) or (C,), got a 0-d tensor")
    target = _as_tensor(target, input)
    loss_ops._check_same_shape(input, target, "multilabel_soft_margin_loss")
    loss = -(target * activation.logsigmoid(input) + (1.0 - target) * activation.logsigmoid(-input))
    if weight is not None:
        weight = _as_tensor(weight, input)
        shape = elementwise.broadcast_shapes("multilabel_soft_margin_loss", input.shape,
                                             weight.shape)
        if shape != input.shape:
            raise backend.ShapeError(f"multilabel_soft_margin_loss: weight {weight.shape} does "
                                     f"not broadcast to the input's shape {input.shape}")
        loss = loss * weight
    loss = _sum(loss, -1) / input.shape[-1]                              # (N,) or 0-d
    return _reduce(loss, reduction, "multilabel_soft_margin_loss")


class ClampedVariance(Function):
    """max(var, eps), whose gradient passes as if there were no clamp (PyTorch clamps a copy of
    var in place under no_grad, so a var below eps still receives d loss / d var at eps)."""

    @staticmethod
    def forward(ctx, var, eps):
        return ctx.xp.maximum(var, ctx.xp.asarray(eps, dtype=var.dtype))

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """0.5 (log(max(var, eps)) + (input - target)^2 / max(var, eps)), plus 0.5 log(2 pi) with
    ``full``, reduced. input (N, *) and target broadcast; var (a Tensor, or a float for all) of
    the input's shape, or that shape without its last dim, or with one dim of size 1 (one
    variance shared along it). var must be >= 0; the clamp at eps passes no gradient change."""
    if isinstance(var, numbers.Real) and not isinstance(var, bool):
        if var < 0:
            raise ValueError(f"gaussian_nll_loss: var must be non-negative, got {var}")
        var = Tensor(backend.array_module(input.data).full(input.shape, float(var),
                                                           dtype=input.dtype))
    elif not isinstance(var, Tensor):
        raise TypeError(f"gaussian_nll_loss: var must be a Tensor or a float, got "
                        f"{type(var).__name__}")
    elif bool((var.data < 0).any()):
        raise ValueError(f"gaussian_nll_loss: var has negative entries (smallest "
                         f"{float(var.data.min())}); variances must be non-negative")
    target = _as_tensor(target, input)
    if var.shape != input.shape:
        if var.shape == input.shape[:-1]:
            var = var.reshape(var.shape + (1,))          # one variance per row: homoscedastic
        elif not (var.ndim == input.ndim and sum(
                v for i, v in zip(input.shape, var.shape, strict=True) if i != v) == 1):
            raise backend.ShapeError(
                f"gaussian_nll_loss: var shape {var.shape} does not fit input shape "
                f"{input.shape}: expected the input's shape, that shape without its last dim, "
                "or with one dim of size 1"
            )
    _check_reduction(reduction, "gaussian_nll_loss")
    elementwise.broadcast_shapes("gaussian_nll_loss", input.shape, target.shape, var.shape)
    var = ClampedVariance.apply(elementwise.floating(var), eps)
    diff = input - target
    loss = 0.5 * (elementwise.log(var) + diff * diff / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, "gaussian_nll_loss")


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     eps: float = 1e-8, reduction: str = "mean") -> Tensor:
    """Poisson negative log-likelihood of ``target`` counts: exp(input) - target * input for a
    log-rate ``input`` (``log_input``), else input - target * log(input + eps); ``full`` adds
    Stirling's approximation of log(target!), target log target - target + 0.5 log(2 pi target),
    where target > 1 (0 elsewhere). Shapes must match exactly."""
    _check_reduction(reduction, "poisson_nll_loss")
    target = _as_tensor(target, input)
    loss_ops._check_same_shape(input, target, "poisson_nll_loss")
    if log_input:
        loss = elementwise.exp(input) - target * input
    else:
        loss = input - target * elementwise.log(input + eps)
    if full:
        big = target > 1
        t = elementwise.where(big, target, 1.0)          # no log of 0 (or NaN gradient) below 1
        stirling = t * elementwise.log(t) - t + 0.5 * elementwise.log(2 * math.pi * t)
        loss = loss + elementwise.where(big, stirling, 0.0)
    return _reduce(loss, reduction, "poisson_nll_loss")
