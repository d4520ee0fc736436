"""NAdam: Adam with Nesterov momentum and momentum decay (PyTorch's update rule)."""

from __future__ import annotations

from tinygrad_cnn import backend
from tinygrad_cnn.optim.optimizer import (
    Optimizer,
    check_adam_hyperparameters,
    check_nonnegative,
    decay_weights,
    update_moments,
)
from tinygrad_cnn.tensor import Tensor


class NAdam(Optimizer):
    """NAdam, ``torch.optim.NAdam``'s rule (g = gradient, t = step count from 1)::

        g = g + weight_decay * p                 (decoupled_weight_decay: p = p * (1 - lr * wd))
        mu_t   = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_t+1 = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = mu_product * mu_t           (product of mu_1 .. mu_t; starts at 1)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        d = sqrt(v / (1 - beta2**t)) + eps
        p = p - lr * (1 - mu_t) / (1 - mu_product) * g / d
              - lr * mu_t+1 / (1 - mu_product * mu_t+1) * m / d

    State: ``step`` (int), ``mu_product`` (a Python float; PyTorch keeps a 0-d tensor in its
    default float dtype), ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group, where):
        super()._check_hyperparameters(group, where)
        check_adam_hyperparameters(group, where)
        check_nonnegative(group["momentum_decay"], "momentum_decay", where)

    def load_state_dict(self, state_dict):
        """As ``Optimizer.load_state_dict``; a PyTorch-style 0-d tensor ``mu_product`` loads as a
        float."""
        if isinstance(state_dict, dict) and isinstance(state_dict.get("state"), dict):
            state = {}
            for index, entries in state_dict["state"].items():
                entries = dict(entries) if isinstance(entries, dict) else entries
                if isinstance(entries, dict) and "mu_product" in entries:
                    entries["mu_product"] = _as_float(entries["mu_product"])
                state[index] = entries
            state_dict = {**state_dict, "state": state}
        super().load_state_dict(state_dict)

    def _update(self, p, g, state, group):
        xp = backend.array_module(p.data)
        lr, weight_decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        momentum_decay = group["momentum_decay"]
        if not state:
            state["step"] = 0
            state["mu_product"] = 1.0
            state["exp_avg"] = Tensor._from_array(xp.zeros_like(p.data))
            state["exp_avg_sq"] = Tensor._from_array(xp.zeros_like(p.data))
        state["step"] += 1
        t = state["step"]
        bias_correction2 = 1 - beta2**t
        g = decay_weights(p, g, lr, weight_decay, group["decoupled_weight_decay"])
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * momentum_decay)))
        mu_product = state["mu_product"] * mu
        state["mu_product"] = mu_product
        mu_product_next = mu_product * mu_next
        m, v = state["exp_avg"].data, state["exp_avg_sq"].data
        tmp = update_moments(xp, g, m, v, beta1, beta2)
        denom = xp.divide(v, bias_correction2, out=tmp)
        xp.sqrt(denom, out=denom)
        denom += group["eps"]
        p.data -= (lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom)
        p.data -= (lr * mu_next / (1.0 - mu_product_next)) * (m / denom)


def _as_float(value) -> float:
    if isinstance(value, Tensor):
        return float(value.item())
    if hasattr(value, "item"):
        return float(value.item())
    return float(value)


