"""Loss layers: the module forms of the losses in ops/loss.py, ops/loss_extra.py and
ops/loss_margin.py (same arguments and defaults).

``weight`` and ``pos_weight`` are buffers, so ``to(device)`` moves them and ``state_dict()``
holds them (as in PyTorch).
"""

from __future__ import annotations

from tinygrad_cnn.nn.module import Module
from tinygrad_cnn.ops import loss, loss_extra, loss_margin
from tinygrad_cnn.tensor import Tensor


class _Loss(Module):
    _REDUCTIONS = ("mean", "sum", "none")

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in self._REDUCTIONS:
            choices = ", ".join(repr(r) for r in self._REDUCTIONS[:-1])
            raise ValueError(f"{type(self).__name__}: reduction must be {choices} or "
                             f"{self._REDUCTIONS[-1]!r}, got {reduction!r}")
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


class HuberLoss(_Loss):
    """huber_loss(input, target, delta): 0.5 d^2 below delta, delta (|d| - 0.5 delta) above."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return loss_extra.huber_loss(input, target, self.reduction, self.delta)


class KLDivLoss(_Loss):
    """kl_div(input, target): log-probabilities ``input`` against probabilities ``target`` (or
    log-probabilities, with ``log_target``); reduction also 'batchmean'."""

    _REDUCTIONS = ("mean", "batchmean", "sum", "none")

    def __init__(self, reduction: str = "mean", log_target: bool = False):
        super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return loss_extra.kl_div(input, target, self.reduction, self.log_target)


class CosineSimilarity(Module):
    """cosine_similarity(x1, x2, dim, eps): the cosine of the angle between x1 and x2 along
    ``dim``."""

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return loss_extra.cosine_similarity(x1, x2, self.dim, self.eps)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, eps={self.eps}"


class PairwiseDistance(Module):
    """pairwise_distance(x1, x2, p, eps, keepdim): the p-norm of x1 - x2 + eps along the last
    dim. The order p is the attribute ``norm``, as in PyTorch."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return loss_extra.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)

    def extra_repr(self) -> str:
        return f"p={self.norm}, eps={self.eps}, keepdim={self.keepdim}"


def _with_reduction(text: str, reduction: str) -> str:
    return text + (f", reduction={reduction!r}" if reduction != "mean" else "")


class MarginRankingLoss(_Loss):
    """margin_ranking_loss(input1, input2, target, margin): max(0, -target (input1 - input2) +
    margin); input1, input2, target (N,) or 0-d."""

    def __init__(self, margin: float = 0.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return loss_margin.margin_ranking_loss(input1, input2, target, self.margin,
                                               self.reduction)

    def extra_repr(self) -> str:
        return _with_reduction(f"margin={self.margin}", self.reduction)


class TripletMarginLoss(_Loss):
    """triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap): anchor, positive,
    negative (N, D) -> (N,) before the reduction, or (D,) -> 0-d."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, reduction: str = "mean"):
        super().__init__(reduction)
        if not margin > 0:
            raise ValueError(f"TripletMarginLoss: margin must be greater than 0, got {margin}")
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return loss_margin.triplet_margin_loss(anchor, positive, negative, self.margin, self.p,
                                               self.eps, self.swap, self.reduction)

    def extra_repr(self) -> str:
        return _with_reduction(f"margin={self.margin}, p={self.p}, eps={self.eps}, "
                               f"swap={self.swap}", self.reduction)


class CosineEmbeddingLoss(_Loss):
    """cosine_embedding_loss(input1, input2, target, margin): input1, input2 (N, D) with target
    (N,) of 1 / -1 -> (N,) before the reduction, or (D,) with a 0-d target."""

    def __init__(self, margin: float = 0.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return loss_margin.cosine_embedding_loss(input1, input2, target, self.margin,
                                                 self.reduction)

    def extra_repr(self) -> str:
        return _with_reduction(f"margin={self.margin}", self.reduction)


class HingeEmbeddingLoss(_Loss):
    """hinge_embedding_loss(input, target, margin): input where target is 1, max(0, margin -
    input) where it is -1; any shape."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return loss_margin.hinge_embedding_loss(input, target, self.margin, self.reduction)

    def extra_repr(self) -> str:
        return _with_reduction(f"margin={self.margin}", self.reduction)


class SoftMarginLoss(_Loss):
    """soft_margin_loss(input, target): log(1 + exp(-target input)), any shape (both alike)."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return loss_margin.soft_margin_loss(input, target, self.reduction)


class MultiLabelSoftMarginLoss(_Loss):
    """multilabel_soft_margin_loss(input, target, weight): input and 0/1 target (N, C) -> (N,)
    before the reduction (or (C,) -> 0-d); ``weight`` (C,) is a buffer."""

    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return loss_margin.multilabel_soft_margin_loss(input, target, self.weight,
                                                       self.reduction)


class GaussianNLLLoss(_Loss):
    """gaussian_nll_loss(input, target, var, full, eps): input (N, *), target alike, var of
    the input's shape, without its last dim, or with one dim of size 1 (or a float)."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction)
        self.full = full
        self.eps = eps

    def forward(self, input: Tensor, target: Tensor, var) -> Tensor:
        return loss_margin.gaussian_nll_loss(input, target, var, self.full, self.eps,
                                             self.reduction)

    def extra_repr(self) -> str:
        return _with_reduction(f"full={self.full}, eps={self.eps}", self.reduction)


class PoissonNLLLoss(_Loss):
    """poisson_nll_loss(input, target, log_input, full, eps): log-rates (or rates) against
    counts, any shape (both alike)."""

    def __init__(self, log_input: bool = True, full: bool = False, eps: float = 1e-8,
                 reduction: str = "mean"):
        super().__init__(reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input: Tensor, target: Tensor) -> Tensor:
        return loss_margin.poisson_nll_loss(log_input, target, self.log_input, self.full,
                                            self.eps, self.reduction)

    def extra_repr(self) -> str:
        return _with_reduction(f"log_input={self.log_input}, full={self.full}, eps={self.eps}",
                               self.reduction)
