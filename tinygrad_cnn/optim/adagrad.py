"""Adagrad with learning-rate decay (PyTorch's update rule)."""

from __future__ import annotations

from tinygrad_cnn import backend, cuda
from tinygrad_cnn.cuda import optim as kernels
from tinygrad_cnn.optim.optimizer import Optimizer, check_nonnegative
from tinygrad_cnn.tensor import Tensor


class Adagrad(Optimizer):
    """Adagrad, ``torch.optim.Adagrad``'s rule (g = gradient, t = step count from 1)::

        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g**2                                  (s starts at initial_accumulator_value)
        p = p - clr * g / (sqrt(s) + eps)

    State, created for every parameter at construction as in PyTorch: ``step`` (int), ``sum``.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *,
                 maximize: bool = False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize)
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            xp = backend.array_module(p.data)
            init = group["initial_accumulator_value"]
            self.state[p] = {"step": 0, "sum": Tensor._from_array(xp.full_like(p.data, init))}

    def _check_hyperparameters(self, group, where):
        super()._check_hyperparameters(group, where)
        check_nonnegative(group["lr_decay"], "lr_decay", where)
        check_nonnegative(group["weight_decay"], "weight_decay", where)
        check_nonnegative(group["initial_accumulator_value"], "initial_accumulator_value", where)
        check_nonnegative(group["eps"], "epsilon value eps", where)

    def _fused_update(self, p, state, group):
        xp = backend.array_module(p.data)
        if not cuda.enabled_for(xp) or not kernels.fusable(p.data, p.grad.data,
                                                           state["sum"].data):
            return False
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        kernels.adagrad_step(p.data, kernels.contiguous(xp, p.grad.data), state["sum"].data,
                             clr=clr, eps=group["eps"], weight_decay=group["weight_decay"],
                             maximize=group["maximize"])
        return True

    def _update(self, p, g, state, group):
        xp = backend.array_module(p.data)
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.data
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        s = state["sum"].data
        s += g * g
        p.data -= clr * (g / (xp.sqrt(s) + group["eps"]))
