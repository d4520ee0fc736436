"""Softmax, log-softmax and the losses built on them."""

from __future__ import annotations

from tinygrad_cnn import backend, cuda
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.cuda import loss as cuda_loss
from tinygrad_cnn.ops import elementwise, reduction
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


class LogSoftmax(Function):
    """y = x - logsumexp(x) along one dim, stable for logits of any magnitude."""

    @staticmethod
    def forward(ctx, x, dim):
        y = _log_softmax_array(ctx.xp, x, dim)
        ctx.dim = dim
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        # dx = g - softmax(x) * sum(g); softmax is exp(y), a function of the output
        return grad - elementwise.exp(y) * reduction.sum(grad, ctx.dim, keepdim=True), None


def _log_softmax_array(xp, x, dim):
    """log_softmax on an array: x - max - log(sum(exp(x - max)))."""
    shifted = x - xp.max(x, axis=dim, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=dim, keepdims=True))


def log_softmax(x: Tensor, dim: int) -> Tensor:
    """log(softmax(x)) along ``dim``, computed without overflow."""
    d = shape_ops.normalize_dim(dim, x.ndim, "log_softmax")
    # a 0-d tensor: reduce over "all" of it (CuPy, unlike NumPy, refuses axis=0 on 0-d arrays)
    return LogSoftmax.apply(elementwise.floating(x), d if x.ndim else None)  # int/bool -> float


def softmax(x: Tensor, dim: int) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed without overflow."""
    return elementwise.exp(log_softmax(x, dim))


# ---------------------------------------------------------------------- fused cross-entropy
# Shapes: N batch, C classes, then optional extra dims S = (d1, ...) (pixels of a segmentation
# map): logits (N, C, *S), each (n, *s) position a "row" of C classes. ``target`` (N, *S) holds
# each row's class index (0 for ignored rows); ``coef`` (N, *S) is the class weight of that
# target (1 without weights), 0 for ignored rows. Both are constants. On CuPy, forward and
# backward are one CUDA kernel each (cuda/loss.py), which also keep each row's max and
# log-sum-exp (``stats``) from the forward for the backward.


def _onehot(xp, target, classes, dtype):
    """(N, C, *S) one-hot of the class indices ``target`` (N, *S), the class dim second."""
    labels = xp.arange(classes)
    if target.ndim > 1:
        labels = labels.reshape((classes,) + (1,) * (target.ndim - 1))
    return (_with_class_dim(target) == labels).astype(dtype)


def _with_class_dim(a):
    """(N, *S) -> (N, 1, *S), a view that broadcasts against (N, C, *S)."""
    return a.reshape(a.shape[:1] + (1,) + a.shape[1:])


def _use_kernels(xp, x) -> bool:
    return cuda.enabled_for(xp) and cuda_loss.fusable(x)


def _row_scale(xp, g, coef, reduction):
    """(N, *S) factor of each row's gradient: coef * g / sum(coef) ("mean"), coef * g ("sum"),
    coef * g_i ("none", g of shape (N, *S))."""
    if reduction == "mean":
        return coef * (g / coef.sum())
    return coef * g


class SoftmaxCrossEntropy(Function):
    """loss_i = -coef_i * log_softmax(x)_i[t_i] for logits x (N, C, *S), one row i per (n, *s),
    reduced ((N, *S) for "none", else 0-d): one node for log_softmax and the pick (which are
    some ten nodes as separate ops).

    Its backward is SoftmaxCrossEntropyGrad, (softmax(x) - onehot) times each row's scale.
    """

    @staticmethod
    def forward(ctx, x, target, coef, reduction):
        xp = ctx.xp
        ctx.stats = None
        ctx.target, ctx.coef, ctx.reduction = target, coef, reduction
        ctx.save_for_backward(x)
        if _use_kernels(xp, x):
            loss, ctx.stats = cuda_loss.forward(xp, x, target, coef, reduction)  # reduced
            return loss
        onehot = _onehot(xp, target, x.shape[1], x.dtype)
        loss = -(_log_softmax_array(xp, x, 1) * onehot).sum(axis=1) * coef  # (N, *S)
        if reduction == "none":
            return loss
        total = loss.sum()
        return xp.asarray(total / coef.sum() if reduction == "mean" else total, dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return SoftmaxCrossEntropyGrad.apply(x, grad, target=ctx.target, coef=ctx.coef,
                                             reduction=ctx.reduction, stats=ctx.stats)


class SoftmaxCrossEntropyGrad(Function):
    """dx = (softmax(x) - onehot) * scale_i: the gradient of SoftmaxCrossEntropy with upstream
    gradient g (0-d, or (N, *S) for reduction "none"), scale from _row_scale. -> (N, C, *S).
    ``stats``: what SoftmaxCrossEntropy's kernels kept for the backward, or None."""

    @staticmethod
    def forward(ctx, x, g, target, coef, reduction, stats=None):
        xp = ctx.xp
        ctx.target, ctx.coef, ctx.reduction = target, coef, reduction
        ctx.save_for_backward(x, g)
        if _use_kernels(xp, x):
            if stats is None:
                stats = cuda_loss.forward(xp, x, target, coef, reduction)[1]
            return cuda_loss.backward(xp, x, target, stats, coef, g, reduction)
        scale = _row_scale(xp, g, coef, reduction)                               # (N, *S)
        p = xp.exp(_log_softmax_array(xp, x, 1))
        p -= _onehot(xp, target, x.shape[1], x.dtype)
        p *= _with_class_dim(scale)
        return p

    @staticmethod
    def backward(ctx, grad):
        # written with Tensor ops, so derivatives of every order follow
        x, g = ctx.saved_tensors
        p = softmax(x, 1)                                                     # (N, C, *S)
        xp = backend.array_module(ctx.coef)
        coef = Tensor._from_array(_with_class_dim(ctx.coef))                  # (N, 1, *S)
        weighted = grad * coef                                                # (N, C, *S)
        grad_x = grad_g = None
        if ctx.needs_input_grad[0]:
            if ctx.reduction == "mean":
                u = weighted * (g / float(ctx.coef.sum()))
            elif ctx.reduction == "sum":
                u = weighted * g
            else:
                u = weighted * shape_ops.unsqueeze(g, 1)
            # softmax's Jacobian (diag(p) - p p^T) applied to u, row by row
            grad_x = p * (u - reduction.sum(p * u, 1, keepdim=True))
        if ctx.needs_input_grad[1]:
            onehot = _onehot(xp, ctx.target, x.shape[1], x.dtype)
            rows = reduction.sum(weighted * (p - Tensor._from_array(onehot)), 1)  # (N, *S)
            if ctx.reduction == "none":
                grad_g = rows
            else:
                grad_g = reduction.sum(rows)
                if ctx.reduction == "mean":
                    grad_g = grad_g / float(ctx.coef.sum())
        return grad_x, grad_g


# ---------------------------------------------------------------------- losses
# Written with Tensor ops on top of log_softmax / softplus, so every loss is twice
# differentiable. Shapes: N batch, C classes, then optional extra dims d1, d2, ... (e.g. pixels).

from tinygrad_cnn.ops import activation  # noqa: E402

_REDUCTIONS = ("mean", "sum", "none")
_sum = reduction.sum    # the losses' `reduction` argument shadows the module inside them
_mean = reduction.mean


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return _mean(loss)
    if reduction == "sum":
        return _sum(loss)
    return loss


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_same_shape(input: Tensor, target: Tensor, op: str) -> None:
    if input.shape != target.shape:
        raise backend.ShapeError(
            f"{op}: target shape {target.shape} does not match input shape {input.shape}"
        )


def _as_tensor(value, like: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return Tensor(value, dtype=like.dtype, device=like.device)


def _class_last(x: Tensor) -> Tensor:
    """(N, C, d1, ...) -> (N, d1, ..., C): the class dim moved last."""
    if x.ndim <= 2:
        return x
    return shape_ops.permute(x, (0,) + tuple(range(2, x.ndim)) + (1,))


def _check_target_form(input: Tensor, target: Tensor, op: str) -> None:
    """Integer class targets shaped like the input without its class dim 1."""
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: class-index targets must be integers, got {target.dtype} (convert with "
            ".long(); for class probabilities pass a float target shaped like the input "
            f"{input.shape} to cross_entropy)"
        )
    expected = (input.shape[0],) + input.shape[2:]
    if target.shape != expected:
        raise backend.ShapeError(
            f"{op}: target shape {target.shape} does not fit input shape {input.shape}: expected "
            f"{expected} (the input's shape without the class dim 1)"
        )


def _check_class_targets(input: Tensor, target: Tensor, ignore_index: int, op: str):
    """Validate integer class targets; returns (valid mask array, targets with ignored -> 0)."""
    _check_target_form(input, target, op)
    xp = backend.array_module(input.data, target.data)
    classes = input.shape[1]
    t = target.data
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= classes))
    if bool(bad.any()):
        wrong = int(t[bad].reshape(-1)[0])
        raise IndexError(
            f"{op}: target contains class {wrong}, out of range for {classes} classes "
            f"(valid 0..{classes - 1}, or ignore_index={ignore_index})"
        )
    safe = xp.where(valid, t, 0)
    return valid, safe


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: loss_i = -weight[t_i] * input[i, t_i] for log-probabilities.

    input (N, C) or (N, C, d1, ...), or (C,) with a 0-d target; target integer class indices
    (N,) or (N, d1, ...). Targets equal to ``ignore_index`` contribute 0 and are left out of
    the mean, which is weighted: sum(loss) / sum(weight[t_i]) over the kept targets.
    """
    _check_reduction(reduction, "nll_loss")
    if input.ndim == 1:
        out = nll_loss(shape_ops.unsqueeze(input, 0), shape_ops.reshape(target, (1,)), weight,
                       ignore_index, reduction)
        return shape_ops.reshape(out, ()) if reduction == "none" else out
    if input.ndim < 1 or input.dtype.kind != "f":
        raise TypeError(f"nll_loss: input must be a float tensor (N, C, ...), got {input.dtype} "
                        f"of shape {input.shape}")
    classes = input.shape[1]
    valid, safe = _check_class_targets(input, target, ignore_index, "nll_loss")
    xp = backend.array_module(input.data)
    # one-hot of the kept targets, class dim last: (N, d1, ..., C); ignored rows are all zero
    onehot = (safe[..., None] == xp.arange(classes)) & valid[..., None]
    picked = _sum(_class_last(input) * Tensor._from_array(onehot.astype(input.dtype)),
                           -1)                                                # (N, d1, ...)
    if weight is not None:
        weight = _check_weight(weight, classes, input, "nll_loss")
        w = Tensor._from_array(weight.data[safe] * valid)                     # (N, d1, ...)
    else:
        w = Tensor._from_array(valid.astype(input.dtype))
    loss = -(picked * w) if weight is not None else -picked
    if reduction == "mean":
        return _sum(loss) / _sum(w)
    return _reduce(loss, reduction, "nll_loss")


def _check_weight(weight, classes: int, input: Tensor, op: str) -> Tensor:
    weight = _as_tensor(weight, input)
    if weight.shape != (classes,):
        raise backend.ShapeError(
            f"{op}: weight has shape {weight.shape} but the input {input.shape} has {classes} "
            "classes; expected one weight per class"
        )
    if weight.device != input.device:
        raise backend.DeviceMismatchError(
            f"{op}: weight is on {weight.device} but the input is on {input.device}; move it "
            f"with weight.to({input.device!r})"
        )
    return weight


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits: nll_loss(log_softmax(input, 1), target), stable for
    logits of any magnitude.

    input (N, C) or (N, C, d1, ...) logits (or (C,)). target either integer class indices
    (N,) / (N, d1, ...), or class probabilities of the input's shape (float). With
    ``label_smoothing`` = s the target mixes (1 - s) of itself with s spread uniformly over the
    classes. ``weight`` (C,) rescales each class; ``ignore_index`` applies to class indices.
    """
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}"
        )
    if input.ndim == 0 or input.dtype.kind != "f":
        raise TypeError(f"cross_entropy: input must be float logits (N, C, ...), got "
                        f"{input.dtype} of shape {input.shape}")
    if input.ndim == 1:
        squeeze = reduction == "none"
        input = shape_ops.unsqueeze(input, 0)
        target = shape_ops.unsqueeze(target, 0)
        out = cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)
        return shape_ops.reshape(out, ()) if squeeze else out
    classes = input.shape[1]
    if target.dtype.kind in "iu" and label_smoothing == 0.0:
        return _fused_cross_entropy(input, target, weight, ignore_index, reduction)
    log_p = log_softmax(input, 1)                                         # (N, C, d1, ...)
    if target.dtype.kind == "f":
        return _cross_entropy_probabilities(log_p, target, weight, ignore_index, reduction,
                                            label_smoothing)
    nll = nll_loss(log_p, target, weight, ignore_index, reduction)
    if label_smoothing == 0.0:
        return nll
    # PyTorch's smoothing term: -sum_c weight_c * log_p_c per element, ignored elements zeroed
    valid, safe = _check_class_targets(input, target, ignore_index, "cross_entropy")
    keep = Tensor._from_array(valid.astype(input.dtype))
    scaled = log_p
    if weight is not None:
        weight = _check_weight(weight, classes, input, "cross_entropy")
        scaled = log_p * shape_ops.reshape(weight, (1, classes) + (1,) * (input.ndim - 2))
    smooth = -_sum(scaled, 1) * keep                             # (N, d1, ...)
    if reduction == "mean":
        if weight is not None:
            denominator = _sum(Tensor._from_array(weight.data[safe] * valid))
        else:
            denominator = _sum(keep)
        smooth = _sum(smooth) / denominator
    else:
        smooth = _reduce(smooth, reduction, "cross_entropy")
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / classes)


def _fused_cross_entropy(input, target, weight, ignore_index, reduction):
    """cross_entropy of (N, C, *S) logits and class indices (N, *S), without label smoothing:
    one node."""
    xp = backend.array_module(input.data, target.data)
    if _use_kernels(xp, input.data):
        _check_target_form(input, target, "cross_entropy")
        if weight is not None:
            weight = _check_weight(weight, input.shape[1], input, "cross_entropy")
        prepared = cuda_loss.class_targets(xp, target.data, None if weight is None else
                                           weight.data, ignore_index, input.shape[1],
                                           input.dtype)
        if prepared is not None:
            safe, coef = prepared
            return SoftmaxCrossEntropy.apply(input, target=safe, coef=coef, reduction=reduction)
        # a target out of range: the generic check below names it
    valid, safe = _check_class_targets(input, target, ignore_index, "cross_entropy")
    if weight is not None:
        weight = _check_weight(weight, input.shape[1], input, "cross_entropy")
        coef = (weight.data[safe] * valid).astype(input.dtype)                  # (N, *S)
    else:
        coef = valid.astype(input.dtype)
    return SoftmaxCrossEntropy.apply(input, target=safe, coef=coef, reduction=reduction)


def _cross_entropy_probabilities(log_p, target, weight, ignore_index, reduction,
                                 label_smoothing):
    if target.shape != log_p.shape:
        raise backend.ShapeError(
            f"cross_entropy: a float target holds class probabilities and must have the input's "
            f"shape {log_p.shape}, got {target.shape} (class indices must be integers: .long())"
        )
    if ignore_index != -100:
        raise ValueError("cross_entropy: ignore_index applies to class-index targets only, not "
                         "to class probabilities")
    classes = log_p.shape[1]
    if label_smoothing > 0.0:
        target = target * (1.0 - label_smoothing) + label_smoothing / classes
    product = log_p * target
    if weight is not None:
        weight = _check_weight(weight, classes, log_p, "cross_entropy")
        product = product * shape_ops.reshape(weight, (1, classes) + (1,) * (log_p.ndim - 2))
    loss = -_sum(product, 1)                                     # (N, d1, ...)
    return _reduce(loss, reduction, "cross_entropy")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error: (input - target)^2, reduced. Shapes must match exactly."""
    _check_reduction(reduction, "mse_loss")
    target = _as_tensor(target, input)
    _check_same_shape(input, target, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error: |input - target|, reduced (gradient 0 where they are equal)."""
    _check_reduction(reduction, "l1_loss")
    target = _as_tensor(target, input)
    _check_same_shape(input, target, "l1_loss")
    return _reduce(elementwise.abs(input - target), reduction, "l1_loss")


def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """Huber-like loss: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input -
    target); beta = 0 gives l1_loss."""
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    return _reduce(smooth_l1_terms(input, target, beta, "smooth_l1_loss"), reduction,
                   "smooth_l1_loss")


def smooth_l1_terms(input: Tensor, target: Tensor, beta: float, op: str) -> Tensor:
    """The unreduced smooth-L1 loss of ``input`` against ``target`` (same shapes, checked under
    ``op``'s name): 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; |d| for beta = 0.
    Huber's loss is delta times it with beta = delta."""
    target = _as_tensor(target, input)
    _check_same_shape(input, target, op)
    d = elementwise.abs(input - target)
    if beta == 0:
        return d
    return elementwise.where(d < beta, (0.5 / beta) * (d * d), d - 0.5 * beta)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """-(t log p + (1 - t) log(1 - p)) for probabilities p = input in [0, 1]; each log is
    clamped to >= -100 (as PyTorch), so p = 0 or 1 gives a finite loss."""
    _check_reduction(reduction, "binary_cross_entropy")
    target = _as_tensor(target, input)
    _check_same_shape(input, target, "binary_cross_entropy")
    x = input.data
    if bool(((x < 0) | (x > 1)).any()):
        raise ValueError(
            "binary_cross_entropy: input must hold probabilities in [0, 1] (apply sigmoid "
            f"first, or use binary_cross_entropy_with_logits); got values in "
            f"[{float(x.min())}, {float(x.max())}]"
        )
    loss = -(target * _clamped_log(input) + (1.0 - target) * _clamped_log(1.0 - input))
    if weight is not None:
        loss = loss * _as_tensor(weight, input)
    return _reduce(loss, reduction, "binary_cross_entropy")


def _clamped_log(p: Tensor) -> Tensor:
    """max(log p, -100), with log 0 = -100 (no -inf, no warning)."""
    positive = p > 0
    safe = elementwise.where(positive, p, 1.0)
    return elementwise.where(positive, elementwise.maximum(elementwise.log(safe), -100.0), -100.0)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """binary_cross_entropy(sigmoid(input), target) computed stably from logits:
    (1 - t) x + (1 + (pos_weight - 1) t) softplus(-x). ``pos_weight`` (broadcast along the
    last dim, e.g. (C,)) weights the positive term; ``weight`` weights each element."""
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    target = _as_tensor(target, input)
    _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    log_sigmoid_neg = activation.softplus(-input)                       # -log(sigmoid(x))
    if pos_weight is not None:
        pos_weight = _as_tensor(pos_weight, input)
        log_weight = 1.0 + (pos_weight - 1.0) * target
        loss = (1.0 - target) * input + log_weight * log_sigmoid_neg
    else:
        loss = (1.0 - target) * input + log_sigmoid_neg
    if weight is not None:
        loss = loss * _as_tensor(weight, input)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")

