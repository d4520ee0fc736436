"""Weight initialisers (PyTorch's ``nn.init``): fill a tensor in place and return it.

Every random draw comes from the library's seeded generator (``tc.manual_seed``), on the
tensor's own device. Fans: a Linear weight (out, in) has fan_in = in, fan_out = out; a Conv2d
weight (C_out, C_in/groups, KH, KW) has fan_in = C_in/groups*KH*KW, fan_out = C_out*KH*KW.
"""

from __future__ import annotations

import math

from tinygrad_cnn import backend
from tinygrad_cnn.tensor import Tensor

_LINEAR_LIKE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended std gain for a nonlinearity: 1 for linear/conv/sigmoid, 5/3 for tanh,
    sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (slope ``param``, default 0.01),
    3/4 for selu."""
    if nonlinearity in _LINEAR_LIKE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
        f"{', '.join(_LINEAR_LIKE + ('tanh', 'relu', 'leaky_relu', 'selu'))}"
    )


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: dim 1 and dim 0 sizes times the receptive field
    (the product of the dims after the first two)."""
    if tensor.ndim < 2:
        raise ValueError(
            f"fan in and fan out need a tensor with at least 2 dims, got shape {tensor.shape}"
        )
    receptive = 1
    for n in tensor.shape[2:]:
        receptive *= n
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out  # PyTorch's (private) name


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor: Tensor, values) -> Tensor:
    """Write ``values`` (an array on the tensor's device) into the tensor, outside any graph."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init functions fill a Tensor in place, got {type(tensor).__name__}")
    tensor.data[...] = values.astype(tensor.dtype, copy=False)
    tensor._changed_in_place()
    return tensor


def _check_float(tensor: Tensor, op: str) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"{op}: random initialisation needs a float tensor, got {tensor.dtype}")


def _draws(tensor: Tensor, method: str):
    """Samples of ``method`` ("random": U[0, 1), or "standard_normal") in the tensor's shape from
    the library's generator for its device, drawn in the tensor's dtype when that is float32 or
    float64 (as ``tc.rand`` does, and PyTorch: a float32 weight takes half the random bits and no
    float64 temporaries; VGG-11's 132M weights were 8.6 s to initialise through float64)."""
    draw = getattr(backend.generator(tensor.device), method)
    if tensor.dtype.char in "fd":
        return draw(tensor.shape, dtype=tensor.dtype)
    return draw(tensor.shape)                       # float16: drawn in float64, cast by _fill


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with samples from U(a, b)."""
    _check_float(tensor, "uniform_")
    if a > b:
        raise ValueError(f"uniform_: lower bound a={a} is above upper bound b={b}")
    draws = _draws(tensor, "random")                                       # U[0, 1)
    draws *= b - a
    draws += a
    return _fill(tensor, draws)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with samples from N(mean, std^2)."""
    _check_float(tensor, "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    draws = _draws(tensor, "standard_normal")
    draws *= std
    draws += mean
    return _fill(tensor, draws)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    xp = backend.array_module(tensor.data)
    return _fill(tensor, backend.full(xp, tensor.shape, val, tensor.dtype))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity,
    a). Layers use a = sqrt(5), which gives b = 1 / sqrt(fan_in) (PyTorch's default)."""
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor  # an empty weight: nothing to draw (PyTorch warns and does the same)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """He normal: N(0, std^2) with std = gain / sqrt(fan)."""
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


# trunc_normal_ samples by rejection; below this acceptance rate it refuses rather than draw
# more than a thousand candidates per value
_MIN_ACCEPTANCE = 1e-3


def _standard_normal_mass(alpha: float, beta: float) -> float:
    """P(alpha <= Z <= beta) for Z ~ N(0, 1), from erfc so that far tails keep their digits."""
    if alpha >= 0:
        return 0.5 * (math.erfc(alpha / math.sqrt(2)) - math.erfc(beta / math.sqrt(2)))
    if beta <= 0:
        return 0.5 * (math.erfc(-beta / math.sqrt(2)) - math.erfc(-alpha / math.sqrt(2)))
    return 1.0 - 0.5 * (math.erfc(beta / math.sqrt(2)) + math.erfc(-alpha / math.sqrt(2)))


def _check_number(value, name: str, op: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"{op}: {name} must be a number, got {value!r}")
    return float(value)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0) -> Tensor:
    """Fill with samples from N(mean, std^2) truncated to [a, b] (absolute bounds, as PyTorch).

    Exact in distribution: standard normal candidates (or, where [a, b] is narrow and far out,
    uniform ones on it, accepted with the normal's density) are drawn in float64 and only the
    rejected values are drawn again. Refuses (ValueError) a >= b, std <= 0, and an interval that
    holds so little of the normal's mass that fewer than 1 candidate in 1000 would be accepted.
    """
    _check_float(tensor, "trunc_normal_")
    mean, std = _check_number(mean, "mean", "trunc_normal_"), _check_number(std, "std",
                                                                            "trunc_normal_")
    a, b = _check_number(a, "a", "trunc_normal_"), _check_number(b, "b", "trunc_normal_")
    if not std > 0 or math.isinf(std) or math.isinf(mean):
        raise ValueError(f"trunc_normal_: std must be positive and finite, with a finite mean; "
                         f"got mean={mean}, std={std}")
    if not a < b:
        raise ValueError(f"trunc_normal_: the lower bound a={a} must be below the upper bound "
                         f"b={b}")
    alpha, beta = (a - mean) / std, (b - mean) / std           # the bounds in std units
    mass = _standard_normal_mass(alpha, beta)
    uniform_rate, nearest = 0.0, 0.0
    if math.isfinite(alpha) and math.isfinite(beta):
        nearest = min(max(0.0, alpha), beta)                   # where the density peaks in [a, b]
        peak = math.exp(-nearest * nearest / 2) / math.sqrt(2 * math.pi)
        uniform_rate = mass / ((beta - alpha) * peak)
    rate = max(mass, uniform_rate)
    if not rate >= _MIN_ACCEPTANCE:
        raise ValueError(
            f"trunc_normal_: [a, b] = [{a}, {b}] holds only {mass:.3g} of N({mean}, {std}^2)'s "
            f"mass ([{alpha:.3g}, {beta:.3g}] in standard deviations): too little to sample by "
            f"rejection (acceptance {rate:.3g} < {_MIN_ACCEPTANCE})"
        )
    n = tensor.numel()
    if n == 0:
        return tensor
    xp = backend.array_module(tensor.data)
    gen = backend.generator(tensor.device)
    z = xp.empty(n, dtype=backend.float64)                     # (n,) accepted, in std units
    filled = 0
    while filled < n:
        need = n - filled
        # a few more candidates than the expected need, so that one round usually does
        draws = min(math.ceil(need / rate * 1.1) + 16, max(need, 1 << 22))
        if uniform_rate > mass:
            candidates = gen.random(draws) * (beta - alpha) + alpha
            density = xp.exp((nearest * nearest - candidates * candidates) / 2)  # phi / peak
            accepted = candidates[gen.random(draws) < density]
        else:
            candidates = gen.standard_normal(draws)
            accepted = candidates[(candidates >= alpha) & (candidates <= beta)]
        accepted = accepted[:need]
        z[filled:filled + accepted.shape[0]] = accepted
        filled += int(accepted.shape[0])
    values = xp.clip(z * std + mean, a, b)                     # mean + std*alpha may round past a
    return _fill(tensor, values.reshape(tensor.shape))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Fill with a (semi-)orthogonal matrix times ``gain``: the tensor (rows, *) read as
    (rows, cols = numel / rows); Q of the QR decomposition of a standard normal (rows, cols)
    matrix (of its transpose when rows < cols), each column's sign flipped so that R's diagonal
    is positive (PyTorch's correction, which makes Q Haar-distributed). Q^T Q = I when
    rows >= cols, Q Q^T = I otherwise. The QR runs in float64."""
    _check_float(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dims are supported, got "
                         f"shape {tensor.shape}")
    if tensor.numel() == 0:
        return tensor                                          # nothing to draw (as PyTorch)
    xp = backend.array_module(tensor.data)
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = backend.generator(tensor.device).standard_normal((rows, cols))   # (rows, cols)
    if rows < cols:
        flat = flat.T                                          # (cols, rows): tall
    q, r = xp.linalg.qr(flat)                                  # (big, small), (small, small)
    q = q * xp.sign(xp.diagonal(r))                            # column j times sign(R[j, j])
    if rows < cols:
        q = q.T                                                # (rows, cols)
    return _fill(tensor, (q * gain).reshape(tensor.shape))
