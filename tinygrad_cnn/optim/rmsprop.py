"""RMSprop, optionally centered and with momentum (PyTorch's update rule)."""

from __future__ import annotations

from tinygrad_cnn import backend, cuda
from tinygrad_cnn.cuda import optim as kernels
from tinygrad_cnn.optim.optimizer import Optimizer, check_nonnegative
from tinygrad_cnn.tensor import Tensor


class RMSprop(Optimizer):
    """RMSprop, ``torch.optim.RMSprop``'s rule (g = gradient)::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g**2
        a = alpha * a + (1 - alpha) * g                 (centered)
        d = sqrt(v - a**2) + eps  if centered else  sqrt(v) + eps
        b = momentum * b + g / d;  p = p - lr * b       (momentum > 0)
        p = p - lr * g / d                              (momentum = 0)

    State: ``step`` (int), ``square_avg``, ``momentum_buffer`` (momentum > 0), ``grad_avg``
    (centered).
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group, where):
        super()._check_hyperparameters(group, where)
        check_nonnegative(group["eps"], "epsilon value eps", where)
        check_nonnegative(group["momentum"], "momentum", where)
        check_nonnegative(group["weight_decay"], "weight_decay", where)
        check_nonnegative(group["alpha"], "alpha", where)

    def _fused_update(self, p, state, group):
        xp = backend.array_module(p.data)
        if not cuda.enabled_for(xp) or not kernels.fusable(p.data, p.grad.data):
            return False
        if not state:
            state["step"] = 0
            state["square_avg"] = Tensor._from_array(xp.zeros_like(p.data))
        v = state["square_avg"].data
        a = b = v  # stand-ins the kernel never touches
        if group["centered"]:
            a = state.setdefault("grad_avg", Tensor._from_array(xp.zeros_like(p.data))).data
        if group["momentum"] > 0:
            b = state.setdefault(
                "momentum_buffer", Tensor._from_array(xp.zeros_like(p.data))
            ).data
        if not kernels.fusable(p.data, p.grad.data, v, a, b):
            return False
        state["step"] += 1
        kernels.rmsprop_step(p.data, kernels.contiguous(xp, p.grad.data), v, a, b,
                             lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                             weight_decay=group["weight_decay"], momentum=group["momentum"],
                             centered=group["centered"], maximize=group["maximize"])
        return True

    def _update(self, p, g, state, group):
        xp = backend.array_module(p.data)
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = Tensor._from_array(xp.zeros_like(p.data))
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.data
        v = state["square_avg"].data
        v *= alpha
        v += (1 - alpha) * (g * g)
        if group["centered"]:
            a = state.setdefault("grad_avg", Tensor._from_array(xp.zeros_like(p.data))).data
            a += (1 - alpha) * (g - a)  # = alpha * a + (1 - alpha) * g, as torch's lerp_
            denom = xp.sqrt(v - a * a) + eps
        else:
            denom = xp.sqrt(v) + eps
        if momentum > 0:
            buf = state.setdefault(
                "momentum_buffer", Tensor._from_array(xp.zeros_like(p.data))
            ).data
            buf *= momentum
            buf += g / denom
            p.data -= lr * buf
        else:
            p.data -= lr * (g / denom)
