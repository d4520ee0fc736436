"""RAdam: Adam with a rectified adaptive learning rate (PyTorch's update rule)."""

from __future__ import annotations

from tinygrad_cnn import backend
from tinygrad_cnn.optim.optimizer import (
    Optimizer,
    check_adam_hyperparameters,
    decay_weights,
    update_moments,
)
from tinygrad_cnn.tensor import Tensor


class RAdam(Optimizer):
    """RAdam, ``torch.optim.RAdam``'s rule (g = gradient, t = step count from 1)::

        g = g + weight_decay * p                 (decoupled_weight_decay: p = p * (1 - lr * wd))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t > 5:                            (the variance is tractable: rectify)
            r = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            p = p - lr * m_hat * sqrt(1 - beta2**t) / (sqrt(v) + eps) * r
        else:                                    (early steps: SGD with momentum)
            p = p - lr * m_hat

    State: ``step`` (int), ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
                 maximize: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group, where):
        super()._check_hyperparameters(group, where)
        check_adam_hyperparameters(group, where)

    def _update(self, p, g, state, group):
        xp = backend.array_module(p.data)
        lr, weight_decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = Tensor._from_array(xp.zeros_like(p.data))
            state["exp_avg_sq"] = Tensor._from_array(xp.zeros_like(p.data))
        state["step"] += 1
        t = state["step"]
        g = decay_weights(p, g, lr, weight_decay, group["decoupled_weight_decay"])
        m, v = state["exp_avg"].data, state["exp_avg_sq"].data
        tmp = update_moments(xp, g, m, v, beta1, beta2)
        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        update = xp.divide(m, bias_correction1, out=tmp)  # m_hat
        update *= lr
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (beta2**t) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive_lr = xp.sqrt(v)
            adaptive_lr += group["eps"]
            xp.divide(bias_correction2**0.5, adaptive_lr, out=adaptive_lr)
            update *= adaptive_lr
            update *= rect
        p.data -= update
