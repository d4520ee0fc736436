"""Adamax: Adam with the infinity norm (PyTorch's update rule)."""

from __future__ import annotations

from tinygrad_cnn import backend
from tinygrad_cnn.optim.optimizer import (
    Optimizer,
    check_adam_hyperparameters,
)
from tinygrad_cnn.tensor import Tensor


class Adamax(Optimizer):
    """Adamax, ``torch.optim.Adamax``'s rule (g = gradient, t = step count from 1)::

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1**t) * m / u

    State: ``step`` (int), ``exp_avg``, ``exp_inf``.
    """

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group, where):
        super()._check_hyperparameters(group, where)
        check_adam_hyperparameters(group, where)

    def _update(self, p, g, state, group):
        xp = backend.array_module(p.data)
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = Tensor._from_array(xp.zeros_like(p.data))
            state["exp_inf"] = Tensor._from_array(xp.zeros_like(p.data))
        state["step"] += 1
        t = state["step"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.data
        m, u = state["exp_avg"].data, state["exp_inf"].data
        tmp = xp.subtract(g, m)
        tmp *= 1 - beta1
        m += tmp  # = beta1 * m + (1 - beta1) * g, as torch's lerp_
        xp.abs(g, out=tmp)
        tmp += group["eps"]
        u *= beta2
        xp.maximum(u, tmp, out=u)
        clr = group["lr"] / (1 - beta1**t)
        update = xp.divide(m, u, out=tmp)
        update *= clr
        p.data -= update
