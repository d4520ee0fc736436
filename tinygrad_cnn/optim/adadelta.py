"""Adadelta (PyTorch's update rule)."""

from __future__ import annotations

import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.optim.optimizer import Optimizer, check_nonnegative
from tinygrad_cnn.tensor import Tensor


class Adadelta(Optimizer):
    """Adadelta, ``torch.optim.Adadelta``'s rule (g = gradient)::

        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g**2
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta**2
        p = p - lr * delta

    State: ``step`` (int), ``square_avg`` (v), ``acc_delta`` (u).
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group, where):
        super()._check_hyperparameters(group, where)
        rho = group["rho"]
        if not isinstance(rho, numbers.Real) or isinstance(rho, bool) or not 0 <= rho <= 1:
            raise ValueError(f"{where}: invalid rho={rho!r}, expected 0 <= rho <= 1")
        check_nonnegative(group["eps"], "epsilon value eps", where)
        check_nonnegative(group["weight_decay"], "weight_decay", where)

    def _update(self, p, g, state, group):
        xp = backend.array_module(p.data)
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = 0
            state["square_avg"] = Tensor._from_array(xp.zeros_like(p.data))
            state["acc_delta"] = Tensor._from_array(xp.zeros_like(p.data))
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.data
        v, u = state["square_avg"].data, state["acc_delta"].data
        tmp = xp.multiply(g, g)
        tmp *= 1 - rho
        v *= rho
        v += tmp
        std = xp.add(v, eps, out=tmp)
        xp.sqrt(std, out=std)
        delta = xp.add(u, eps)
        xp.sqrt(delta, out=delta)
        delta /= std
        delta *= g
        xp.multiply(delta, delta, out=tmp)
        tmp *= 1 - rho
        u *= rho
        u += tmp
        delta *= group["lr"]
        p.data -= delta
