"""Adam and AdamW (decoupled weight decay), with optional AMSGrad (PyTorch's update rules)."""

from __future__ import annotations

import math

from tinygrad_cnn import backend, cuda
from tinygrad_cnn.cuda import optim as kernels
from tinygrad_cnn.optim.optimizer import (
    Optimizer,
    check_adam_hyperparameters,
    decay_weights,
    update_moments,
)
from tinygrad_cnn.tensor import Tensor


class Adam(Optimizer):
    """Adam, ``torch.optim.Adam``'s rule (g = gradient, t = step count from 1)::

        g = g + weight_decay * p                       (L2 penalty; AdamW decouples it)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = max(v_max, v)                          (amsgrad; then v_max replaces v below)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    State: ``step`` (int), ``exp_avg``, ``exp_avg_sq`` and, with amsgrad, ``max_exp_avg_sq``.
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group, where):
        super()._check_hyperparameters(group, where)
        check_adam_hyperparameters(group, where)

    @staticmethod
    def _init_state(xp, p, state, group):
        if not state:
            state["step"] = 0
            state["exp_avg"] = Tensor._from_array(xp.zeros_like(p.data))
            state["exp_avg_sq"] = Tensor._from_array(xp.zeros_like(p.data))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = Tensor._from_array(xp.zeros_like(p.data))

    def _fused_update(self, p, state, group):
        xp = backend.array_module(p.data)
        if not cuda.enabled_for(xp) or not kernels.fusable(p.data, p.grad.data):
            return False
        self._init_state(xp, p, state, group)
        if group["amsgrad"]:
            state.setdefault("max_exp_avg_sq", Tensor._from_array(xp.zeros_like(p.data)))
        m, v = state["exp_avg"].data, state["exp_avg_sq"].data
        v_max = state["max_exp_avg_sq"].data if group["amsgrad"] else v
        if not kernels.fusable(p.data, p.grad.data, m, v, v_max):
            return False
        state["step"] += 1
        beta1, beta2 = group["betas"]
        kernels.adam_step(p.data, kernels.contiguous(xp, p.grad.data), m, v, v_max,
                          lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                          weight_decay=group["weight_decay"], decoupled=self._decoupled,
                          amsgrad=group["amsgrad"], maximize=group["maximize"],
                          step=state["step"])
        return True

    def _update(self, p, g, state, group):
        xp = backend.array_module(p.data)
        lr, weight_decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        self._init_state(xp, p, state, group)
        state["step"] += 1
        t = state["step"]
        g = decay_weights(p, g, lr, weight_decay, self._decoupled)
        m, v = state["exp_avg"].data, state["exp_avg_sq"].data
        # in place, with one temporary array per parameter
        tmp = update_moments(xp, g, m, v, beta1, beta2)
        if group["amsgrad"]:
            v_max = state.setdefault(
                "max_exp_avg_sq", Tensor._from_array(xp.zeros_like(p.data))
            ).data
            xp.maximum(v_max, v, out=v_max)
            v = v_max
        step_size = lr / (1 - beta1**t)
        denom = xp.sqrt(v, out=tmp)
        denom /= math.sqrt(1 - beta2**t)
        denom += group["eps"]                       # sqrt(v) / sqrt(1 - beta2**t) + eps
        update = xp.divide(m, denom, out=tmp)
        update *= step_size
        p.data -= update


class AdamW(Adam):
    """Adam with decoupled weight decay, ``torch.optim.AdamW``: before the Adam step,
    ``p = p * (1 - lr * weight_decay)`` (the gradient is not penalised). Default
    ``weight_decay=1e-2``.
    """

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
