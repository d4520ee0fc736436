"""SGD with momentum, dampening, L2 weight decay and Nesterov momentum (PyTorch's update rule)."""

from __future__ import annotations

from tinygrad_cnn import backend, cuda
from tinygrad_cnn.cuda import optim as kernels
from tinygrad_cnn.optim.optimizer import Optimizer, check_nonnegative
from tinygrad_cnn.tensor import Tensor


class SGD(Optimizer):
    """Stochastic gradient descent, ``torch.optim.SGD``'s rule (g = gradient, t = step)::

        g = g + weight_decay * p
        b = g                                   (t = 1)
        b = momentum * b + (1 - dampening) * g  (t > 1)
        g = g + momentum * b  if nesterov else  b       (when momentum != 0)
        p = p - lr * g

    ``maximize=True`` ascends (g = -gradient). State: ``momentum_buffer`` when momentum != 0.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group, where):
        super()._check_hyperparameters(group, where)
        check_nonnegative(group["momentum"], "momentum", where)
        check_nonnegative(group["weight_decay"], "weight_decay", where)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"{where}: nesterov=True needs momentum > 0 and dampening = 0, got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def _update(self, p, g, state, group):
        momentum = group["momentum"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.data
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = Tensor._from_array(g.copy())
            else:
                buf.data *= momentum
                buf.data += g if group["dampening"] == 0 else (1 - group["dampening"]) * g
            g = g + momentum * buf.data if group["nesterov"] else buf.data
        p.data -= group["lr"] * g

    def _fused_update(self, p, state, group):
        xp = backend.array_module(p.data)
        if not cuda.enabled_for(xp):
            return False
        momentum, buf = group["momentum"], state.get("momentum_buffer")
        first = momentum != 0 and buf is None
        if not kernels.fusable(p.data, p.grad.data,
                               *([buf.data] if momentum != 0 and not first else [])):
            return False
        if first:
            buf = state["momentum_buffer"] = Tensor._from_array(xp.empty_like(p.data))
        kernels.sgd_step(p.data, kernels.contiguous(xp, p.grad.data),
                         buf.data if momentum != 0 else p.data, lr=group["lr"],
                         momentum=momentum, dampening=group["dampening"],
                         weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                         maximize=group["maximize"], first=first)
        return True
