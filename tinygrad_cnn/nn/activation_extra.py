"""More activation layers: Softmax2d, GLU, Hardshrink, Softshrink, Tanhshrink, Threshold
(ops/activation_extra.py, ops/loss.py). PyTorch's names, arguments, defaults and reprs.

``inplace`` arguments are accepted for PyTorch compatibility; results are always new tensors.
"""

from __future__ import annotations

from tinygrad_cnn.nn.module import Module
from tinygrad_cnn.ops import activation_extra, loss
from tinygrad_cnn.tensor import Tensor


class Softmax2d(Module):
    """Softmax over the channels at each position: (N, C, H, W) or (C, H, W) -> same
    (softmax along dim -3)."""

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"Softmax2d: expected a Tensor input, got {type(x).__name__}")
        if x.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, "
                             f"got shape {x.shape}")
        return loss.softmax(x, -3)


class GLU(Module):
    """Gated linear unit a * sigmoid(b), a and b the halves of the input along ``dim``:
    (*, 2M, *) -> (*, M, *)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return activation_extra.glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Hardshrink(Module):
    """x where |x| > lambd, else 0; any shape -> same."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, x: Tensor) -> Tensor:
        return activation_extra.hardshrink(x, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Module):
    """x - lambd above lambd, x + lambd below -lambd, else 0; any shape -> same (lambd >= 0,
    checked when called, as PyTorch's)."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, x: Tensor) -> Tensor:
        return activation_extra.softshrink(x, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Tanhshrink(Module):
    """x - tanh(x); any shape -> same."""

    def forward(self, x: Tensor) -> Tensor:
        return activation_extra.tanhshrink(x)


class Threshold(Module):
    """x where x > threshold, else value; any shape -> same."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return activation_extra.threshold(x, self.threshold, self.value)

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"threshold={self.threshold}, value={self.value}{inplace}"
