"""Activation layers: ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax, GELU, ReLU6, ...

``inplace`` arguments are accepted for PyTorch compatibility; results are always new tensors.
"""

from __future__ import annotations

import numbers
import warnings

from tinygrad_cnn import creation
from tinygrad_cnn.nn.module import Module, Parameter
from tinygrad_cnn.ops import activation, elementwise, loss, vector_norm
from tinygrad_cnn.tensor import Tensor


class ReLU(Module):
    """max(x, 0)"""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return activation.relu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return activation.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """1 / (1 + exp(-x))"""

    def forward(self, x: Tensor) -> Tensor:
        return elementwise.sigmoid(x)


class Tanh(Module):
    """tanh(x)"""

    def forward(self, x: Tensor) -> Tensor:
        return elementwise.tanh(x)


def _softmax_dim(module: Module, x: Tensor) -> int:
    if module.dim is not None:
        return module.dim
    # PyTorch's legacy rule when no dim is given: dim 0 for 0-, 1- and 3-D inputs, else 1
    warnings.warn(f"{type(module).__name__}: no dim given, so it is picked from the input's "
                  "number of dims (PyTorch's legacy rule); pass dim= explicitly", stacklevel=3)
    return 0 if x.ndim in (0, 1, 3) else 1


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim`` (give it: usually 1 for (N, C) logits)."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return loss.softmax(x, _softmax_dim(self, x))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, without overflow."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return loss.log_softmax(x, _softmax_dim(self, x))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmin(Module):
    """softmax(-x) along ``dim``: weights that favour the smallest values; x any shape -> same."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return vector_norm.softmin(x, _softmax_dim(self, x))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GELU(Module):
    """x * Phi(x) (exact erf form), or its tanh approximation with ``approximate='tanh'``."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return activation.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class ReLU6(Module):
    """min(max(x, 0), 6)"""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return activation.relu6(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Hardtanh(Module):
    """clamp(x, min_val, max_val)"""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) cannot be greater than max_val "
                             f"({max_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return activation.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (
            ", inplace=True" if self.inplace else "")


def _inplace_repr(module: Module, text: str = "") -> str:
    if not module.inplace:
        return text
    return f"{text}, inplace=True" if text else "inplace=True"


class SiLU(Module):
    """x * sigmoid(x)"""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return activation.silu(x)

    def extra_repr(self) -> str:
        return _inplace_repr(self)


class ELU(Module):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return activation.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return _inplace_repr(self, f"alpha={self.alpha}")


class SELU(Module):
    """1.0507 * elu(x, 1.6733): self-normalising."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return activation.selu(x)

    def extra_repr(self) -> str:
        return _inplace_repr(self)


class CELU(Module):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))"""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        if alpha == 0:
            raise ValueError("CELU: alpha must not be 0 (it divides x)")
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return activation.celu(x, self.alpha)

    def extra_repr(self) -> str:
        return _inplace_repr(self, f"alpha={self.alpha}")


class Hardswish(Module):
    """x * relu6(x + 3) / 6"""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return activation.hardswish(x)


class Hardsigmoid(Module):
    """relu6(x + 3) / 6"""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return activation.hardsigmoid(x)


class Mish(Module):
    """x * tanh(softplus(x))"""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return activation.mish(x)


class Softsign(Module):
    """x / (1 + |x|)"""

    def forward(self, x: Tensor) -> Tensor:
        return activation.softsign(x)


class LogSigmoid(Module):
    """log(sigmoid(x)), without overflow."""

    def forward(self, x: Tensor) -> Tensor:
        return activation.logsigmoid(x)


class Softplus(Module):
    """log(1 + exp(beta x)) / beta (x itself where beta x > threshold)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, x: Tensor) -> Tensor:
        return activation.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class PReLU(Module):
    """x for x > 0, weight * x otherwise, with a learnable slope: one shared
    (``num_parameters=1``) or one per channel (dim 1), each initialised to ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        if not isinstance(num_parameters, numbers.Integral) or num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be a positive int, got "
                             f"{num_parameters!r}")
        self.num_parameters = int(num_parameters)
        self.init = init
        self.weight = Parameter(creation.full((self.num_parameters,), float(init), device=device,
                                              dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        return activation.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
