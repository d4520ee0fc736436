"""Loss layers: the module forms of the losses in ops/loss.py (same arguments and defaults).

``weight`` and ``pos_weight`` are buffers, so ``to(device)`` moves them and ``state_dict()``
holds them (as in PyTorch).
"""

from __future__ import annotations

from tinygrad_cnn.nn.module import Module
from tinygrad_cnn.ops import loss
from tinygrad_cnn.tensor import Tensor


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', "
                             f"got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


def _buffer(value) -> Tensor | None:
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor(value)


class CrossEntropyLoss(_Loss):
    """cross_entropy(input, target): logits (N, C, ...) against class indices or probabilities."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return loss.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                                  self.label_smoothing)


class NLLLoss(_Loss):
    """nll_loss(input, target): log-probabilities (N, C, ...) against class indices."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return loss.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """mse_loss(input, target): (input - target)^2."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return loss.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """l1_loss(input, target): |input - target|."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return loss.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """smooth_l1_loss(input, target, beta): quadratic below beta, linear above."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return loss.smooth_l1_loss(input, target, self.reduction, self.beta)


class BCELoss(_Loss):
    """binary_cross_entropy(input, target) for probabilities in [0, 1]."""

    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return loss.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """binary_cross_entropy_with_logits(input, target): sigmoid + BCE, computed stably."""

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))
        self.register_buffer("pos_weight", _buffer(pos_weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return loss.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                     self.pos_weight)
