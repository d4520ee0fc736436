"""Gradient clipping (``clip_grad_norm_``, ``clip_grad_value_``) and parameters as one vector
(``parameters_to_vector``, ``vector_to_parameters``): PyTorch's ``nn.utils``.

The "in-place" trailing underscore is PyTorch's name; here each clipped gradient is a new tensor
assigned to ``p.grad``, because autograd may share one gradient array between several tensors.
"""

from __future__ import annotations

import math
import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.grad_mode import no_grad
from tinygrad_cnn.ops import compare, conversion, elementwise, reduction
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


def _as_list(parameters) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _vector_norm(t: Tensor, norm_type: float) -> Tensor:
    """The p-norm of all elements of ``t`` as a 0-d tensor: (sum |x|^p)^(1/p); max |x| for inf."""
    if norm_type == math.inf:
        return reduction.amax(elementwise.abs(t))
    if norm_type == -math.inf:
        return reduction.amin(elementwise.abs(t))
    if norm_type == 0:
        return reduction.sum(conversion.cast(compare.ne(t, 0), t.dtype))  # non-zeros
    if norm_type == 1:
        return reduction.sum(elementwise.abs(t))
    if norm_type == 2:
        return elementwise.sqrt(reduction.sum(t * t))
    return reduction.sum(elementwise.abs(t) ** norm_type) ** (1.0 / norm_type)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """The ``norm_type``-norm of all elements of ``tensors`` together, as a 0-d tensor.

    Equal to the norm of the vector of each tensor's norm. Returned on the first tensor's device
    in the widest float dtype among them; ``tensor(0.)`` when there are none.
    """
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return Tensor(0.0)
    device = tensors[0].device
    dtype = max((t.dtype for t in tensors), key=lambda d: d.itemsize)
    with no_grad():
        norms = [_vector_norm(t, norm_type).to(device=device, dtype=dtype) for t in tensors]
        total = _vector_norm(shape_ops.stack(norms), norm_type)
    if error_if_nonfinite and not bool(compare.isfinite(total)):
        raise RuntimeError(
            f"the total norm of order {norm_type} of the gradients is non-finite "
            f"({total.item()}), so it cannot be clipped; pass error_if_nonfinite=False to scale "
            "the gradients by it anyway"
        )
    return total


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor) -> None:
    """Scale each ``p.grad`` by ``min(1, max_norm / (total_norm + 1e-6))``."""
    with no_grad():
        coef = elementwise.clamp(max_norm / (total_norm + 1e-6), max=1.0)
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad = p.grad * coef.to(device=p.grad.device, dtype=p.grad.dtype)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Rescale the gradients of ``parameters`` so that their joint norm is at most ``max_norm``.

    ``parameters``: a Tensor or an iterable of Tensors (those without ``.grad`` are skipped).
    ``norm_type``: p of the p-norm, ``float("inf")`` for the max-norm. Each gradient is
    multiplied by ``min(1, max_norm / (total_norm + 1e-6))``. Returns the total norm before
    clipping (a 0-d Tensor). With ``error_if_nonfinite=True`` a NaN or infinite total norm
    raises RuntimeError instead. ``foreach`` is accepted for PyTorch compatibility and ignored.
    """
    if not isinstance(max_norm, numbers.Real) or isinstance(max_norm, bool) or max_norm < 0:
        raise ValueError(f"clip_grad_norm_: invalid max_norm={max_norm!r}, expected a number >= 0")
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite)
    if grads:
        clip_grads_with_norm_(parameters, max_norm, total_norm)
    return total_norm


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient of ``parameters`` elementwise into ``[-clip_value, clip_value]``."""
    if not isinstance(clip_value, numbers.Real) or isinstance(clip_value, bool) or clip_value < 0:
        raise ValueError(
            f"clip_grad_value_: invalid clip_value={clip_value!r}, expected a number >= 0"
        )
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad = elementwise.clamp(p.grad, -clip_value, clip_value)


def _parameter_list(parameters, op: str) -> list[Tensor]:
    """The parameters as a list of Tensors on one device (PyTorch's check, as a TypeError)."""
    params = _as_list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: expected Tensors, got {type(p).__name__}")
    devices = sorted({p.device for p in params})
    if len(devices) > 1:
        raise TypeError(f"{op}: found parameters on different devices ({', '.join(devices)}); "
                        "they must all be on one device")
    return params


def parameters_to_vector(parameters) -> Tensor:
    """All of ``parameters`` (a Tensor or an iterable of them, on one device) flattened and
    joined, in order, into one 1-D tensor (sum of numels,). Differentiable: the vector's gradient
    flows back to each parameter."""
    params = _parameter_list(parameters, "parameters_to_vector")
    if not params:
        raise ValueError("parameters_to_vector: expected at least one parameter, got none")
    return shape_ops.cat([shape_ops.reshape(p, (-1,)) for p in params])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` (sum of numels,) into ``parameters`` in place
    (each slice reshaped to its parameter's shape and cast to its dtype), outside any graph: the
    inverse of ``parameters_to_vector``. ``vec``'s length must be the parameters' total size."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected vec to be a Tensor, got "
                        f"{type(vec).__name__}")
    params = _parameter_list(parameters, "vector_to_parameters")
    if vec.ndim != 1:
        raise backend.ShapeError(f"vector_to_parameters: vec must be 1-D, got shape {vec.shape}")
    total = sum(p.numel() for p in params)
    if vec.shape[0] != total:
        raise backend.ShapeError(f"vector_to_parameters: vec has {vec.shape[0]} elements but the "
                                 f"{len(params)} parameters hold {total}")
    with no_grad():
        start = 0
        for p in params:
            n = p.numel()
            p.copy_(shape_ops.reshape(vec[start:start + n], p.shape))
            start += n
