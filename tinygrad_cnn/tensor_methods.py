"""The op methods of Tensor: operators (``t + u``, ``t @ w``, ``t[i] > 0``), arithmetic,
comparison and elementwise math methods, reductions, matrix products, scans and sorting. Each
forwards to the one description of its op in ``tinygrad_cnn/ops``; Tensor inherits them from
TensorMethods (and its shape and indexing methods from TensorShapeMethods), so tensor.py keeps
what a tensor is (its array, device, gradient and the autograd entry points).
"""

from __future__ import annotations

import numbers

# ops' submodules import Tensor, so tensor.py imports them once Tensor exists; these methods look
# them up through the package when called
from tinygrad_cnn import ops


class TensorMethods:
    """Operators and op methods shared by every Tensor (a mixin: no state of its own)."""

    __slots__ = ()

    # ------------------------------------------------------------------ arithmetic

    def __add__(self, other):
        return ops.elementwise.add(self, other)

    def __radd__(self, other):
        return ops.elementwise.add(other, self)

    def __sub__(self, other):
        return ops.elementwise.sub(self, other)

    def __rsub__(self, other):
        return ops.elementwise.sub(other, self)

    def __mul__(self, other):
        return ops.elementwise.mul(self, other)

    def __rmul__(self, other):
        return ops.elementwise.mul(other, self)

    def __truediv__(self, other):
        return ops.elementwise.div(self, other)

    def __rtruediv__(self, other):
        return ops.elementwise.div(other, self)

    def __pow__(self, exponent):
        return ops.elementwise.pow(self, exponent)

    def __rpow__(self, base):
        return ops.elementwise.pow(base, self)

    def __floordiv__(self, other):
        return ops.elementwise_math.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return ops.elementwise_math.floor_divide(other, self)

    def __mod__(self, other):
        return ops.elementwise_math.remainder(self, other)

    def __rmod__(self, other):
        return ops.elementwise_math.remainder(other, self)

    def __matmul__(self, other):
        return ops.linalg.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.linalg.matmul(other, self)

    def __neg__(self):
        return ops.elementwise.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.elementwise.abs(self)

    # comparisons give bool tensors that carry no gradient
    def __eq__(self, other):
        return ops.compare.eq(self, other)

    def __ne__(self, other):
        return ops.compare.ne(self, other)

    def __lt__(self, other):
        return ops.compare.lt(self, other)

    def __le__(self, other):
        return ops.compare.le(self, other)

    def __gt__(self, other):
        return ops.compare.gt(self, other)

    def __ge__(self, other):
        return ops.compare.ge(self, other)

    def __invert__(self):
        return ops.compare.logical_not(self)

    def __and__(self, other):
        return ops.compare.logical_and(self, other)

    def __or__(self, other):
        return ops.compare.logical_or(self, other)

    # ------------------------------------------------------------------ arithmetic methods

    def add(self, other, *, alpha=1):
        """self + alpha * other, broadcasting (``torch.Tensor.add``)."""
        return ops.elementwise.add(self, _scaled(other, alpha, "add"))

    def sub(self, other, *, alpha=1):
        """self - alpha * other, broadcasting (``torch.Tensor.sub``)."""
        return ops.elementwise.sub(self, _scaled(other, alpha, "sub"))

    def mul(self, other):
        """self * other, broadcasting; the ``*`` operator (``tc.mul``)."""
        return ops.elementwise.mul(self, other)

    def div(self, other, *, rounding_mode=None):
        """self / other, broadcasting (integers divide to float32); ``rounding_mode="trunc"``
        rounds toward zero, ``"floor"`` down, integers staying exact integers (``tc.div``)."""
        if rounding_mode is None:
            return ops.elementwise.div(self, other)
        if rounding_mode == "floor":
            return ops.elementwise_math.floor_divide(self, other)
        if rounding_mode != "trunc":
            raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                             f"{rounding_mode!r}")
        floor = ops.elementwise_math.floor_divide(self, other)
        if floor.dtype.kind == "f":
            return ops.elementwise_math.trunc(ops.elementwise.div(self, other))
        # integers: the floor quotient, plus one where the division was inexact and negative
        other = ops.elementwise.as_tensor_operands(self, other)[1]
        inexact = ops.elementwise_math.remainder(self, other) != 0
        negative = (self < 0) != (other < 0)
        return floor + ops.conversion.cast(inexact & negative, floor.dtype)

    def true_divide(self, other):
        """self / other, always true division (``torch.Tensor.true_divide``)."""
        return ops.elementwise.div(self, other)

    def neg(self):
        """-self; the unary ``-`` operator (``tc.neg``)."""
        return ops.elementwise.neg(self)

    negative = neg


    # ------------------------------------------------------------------ elementwise methods

    def exp(self):
        """e ** self elementwise; float32 for integer input (``tc.exp``)."""
        return ops.elementwise.exp(self)

    def log(self):
        """Natural log elementwise; float32 for integer input (``tc.log``)."""
        return ops.elementwise.log(self)

    def sqrt(self):
        """Square root elementwise; float32 for integer input (``tc.sqrt``)."""
        return ops.elementwise.sqrt(self)

    def abs(self):
        """|self| elementwise, gradient 0 at 0 (``tc.abs``)."""
        return ops.elementwise.abs(self)

    def tanh(self):
        """tanh(self) elementwise; float32 for integer input (``tc.tanh``)."""
        return ops.elementwise.tanh(self)

    def square(self):
        """self * self, elementwise; integers stay integers, bool becomes int64
        (``tc.square``)."""
        return ops.elementwise_math.square(self)

    def sigmoid(self):
        """1 / (1 + exp(-self)) elementwise (``tc.sigmoid``)."""
        return ops.elementwise.sigmoid(self)

    def relu(self):
        """max(self, 0) elementwise (``tc.relu``)."""
        return ops.activation.relu(self)

    def leaky_relu(self, negative_slope: float = 0.01):
        """self where self > 0, ``negative_slope * self`` elsewhere (``tc.leaky_relu``)."""
        return ops.activation.leaky_relu(self, negative_slope)

    def clamp(self, min=None, max=None):
        """Values clipped to [min, max], either may be None; also ``clip`` (``tc.clamp``)."""
        return ops.elementwise.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        """The larger of self and ``other`` elementwise, broadcasting (``tc.maximum``)."""
        return ops.elementwise.maximum(self, other)

    def minimum(self, other):
        """The smaller of self and ``other`` elementwise, broadcasting (``tc.minimum``)."""
        return ops.elementwise.minimum(self, other)

    def pow(self, exponent):
        """self ** exponent, a number or a Tensor, broadcasting (``tc.pow``)."""
        return ops.elementwise.pow(self, exponent)

    def sign(self):
        """-1, 0 or 1 elementwise in self's dtype; gradient 0 (``tc.sign``)."""
        return ops.elementwise_math.sign(self)

    def isnan(self):
        """Bool tensor, True where self is NaN (``tc.isnan``)."""
        return ops.compare.isnan(self)

    def isfinite(self):
        """Bool tensor, True where self is neither infinite nor NaN (``tc.isfinite``)."""
        return ops.compare.isfinite(self)

    # [ops-bugs] more elementwise math (ops/elementwise_math.py)
    def floor(self):
        """Largest integer <= self elementwise; gradient 0 (``tc.floor``)."""
        return ops.elementwise_math.floor(self)

    def ceil(self):
        """Smallest integer >= self elementwise; gradient 0 (``tc.ceil``)."""
        return ops.elementwise_math.ceil(self)

    def round(self, decimals: int = 0):
        """self rounded to ``decimals`` places, halves to even; gradient 0 (``tc.round``)."""
        return ops.elementwise_math.round(self, decimals)

    def trunc(self):
        """self rounded toward zero; gradient 0 (``tc.trunc``)."""
        return ops.elementwise_math.trunc(self)

    def remainder(self, other):
        """self % other with the sign of ``other``, as Python's ``%`` (``tc.remainder``)."""
        return ops.elementwise_math.remainder(self, other)

    def fmod(self, other):
        """self - trunc(self / other) * other, with the sign of self, as C's (``tc.fmod``)."""
        return ops.elementwise_math.fmod(self, other)

    def floor_divide(self, other):
        """floor(self / other), ``//``; integers stay integers (``tc.floor_divide``)."""
        return ops.elementwise_math.floor_divide(self, other)

    def reciprocal(self):
        """1 / self elementwise; float32 for integer input (``tc.reciprocal``)."""
        return ops.elementwise_math.reciprocal(self)

    def rsqrt(self):
        """1 / sqrt(self) elementwise; float32 for integer input (``tc.rsqrt``)."""
        return ops.elementwise_math.rsqrt(self)

    def exp2(self):
        """2 ** self elementwise; float32 for integer input (``tc.exp2``)."""
        return ops.elementwise_math.exp2(self)

    def log2(self):
        """Base-2 log elementwise; float32 for integer input (``tc.log2``)."""
        return ops.elementwise_math.log2(self)

    def log10(self):
        """Base-10 log elementwise; float32 for integer input (``tc.log10``)."""
        return ops.elementwise_math.log10(self)

    def log1p(self):
        """log(1 + self) elementwise, accurate for small self (``tc.log1p``)."""
        return ops.elementwise_math.log1p(self)

    def expm1(self):
        """exp(self) - 1 elementwise, accurate for small self (``tc.expm1``)."""
        return ops.elementwise_math.expm1(self)

    def sin(self):
        """Sine elementwise, radians (``tc.sin``)."""
        return ops.elementwise_math.sin(self)

    def cos(self):
        """Cosine elementwise, radians (``tc.cos``)."""
        return ops.elementwise_math.cos(self)

    def isinf(self):
        """Bool tensor, True where self is +inf or -inf (``tc.isinf``)."""
        return ops.compare.isinf(self)

    def isclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
        """Bool tensor, True where |self - other| <= atol + rtol * |other| (``tc.isclose``)."""
        return ops.compare.isclose(self, other, rtol, atol, equal_nan)

    def lerp(self, end, weight):
        """self + weight * (end - self), broadcasting; float tensors (``tc.lerp``)."""
        return ops.elementwise_math.lerp(self, end, weight)

    def logaddexp(self, other):
        """log(exp(self) + exp(other)), stable, broadcasting (``tc.logaddexp``)."""
        return ops.elementwise_math.logaddexp(self, other)

    def erf(self):
        """The error function elementwise (``tc.erf``)."""
        return ops.activation.erf(self)

    def prelu(self, weight):
        """self where self > 0, ``weight * self`` elsewhere; ``weight`` has one element or one per
        channel, dim 1 (``tc.prelu``)."""
        return ops.activation.prelu(self, weight)

    def eq(self, other):
        """Bool tensor, self == other elementwise, broadcasting; the ``==`` operator (``tc.eq``)."""
        return ops.compare.eq(self, other)

    def ne(self, other):
        """Bool tensor, self != other elementwise, broadcasting; the ``!=`` operator."""
        return ops.compare.ne(self, other)

    def lt(self, other):
        """Bool tensor, self < other elementwise, broadcasting; the ``<`` operator."""
        return ops.compare.lt(self, other)

    def le(self, other):
        """Bool tensor, self <= other elementwise, broadcasting; the ``<=`` operator."""
        return ops.compare.le(self, other)

    def gt(self, other):
        """Bool tensor, self > other elementwise, broadcasting; the ``>`` operator."""
        return ops.compare.gt(self, other)

    def ge(self, other):
        """Bool tensor, self >= other elementwise, broadcasting; the ``>=`` operator."""
        return ops.compare.ge(self, other)

    def logical_and(self, other):
        """Bool tensor, self and other (nonzero is true), broadcasting; the ``&`` operator."""
        return ops.compare.logical_and(self, other)

    def logical_or(self, other):
        """Bool tensor, self or other (nonzero is true), broadcasting; the ``|`` operator."""
        return ops.compare.logical_or(self, other)

    def logical_not(self):
        """Bool tensor, not self (zero is false); the ``~`` operator."""
        return ops.compare.logical_not(self)

    def logical_xor(self, other):
        """Bool tensor, exactly one of self and other true (nonzero), broadcasting
        (``tc.logical_xor``)."""
        return ops.compare.logical_xor(self, other)

    def allclose(self, other, rtol: float = 1e-05, atol: float = 1e-08,
                 equal_nan: bool = False) -> bool:
        """Whether |self - other| <= atol + rtol * |other| everywhere, a Python bool
        (``tc.allclose``)."""
        return ops.compare.allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other) -> bool:
        """Whether ``other`` has this shape and these values, a Python bool (``tc.equal``)."""
        return ops.compare.equal(self, other)

    def where(self, condition, other):
        """self where ``condition`` is true, else ``other``, all broadcast
        (``torch.where(condition, self, other)``)."""
        return ops.elementwise.where(condition, self, other)

    # ------------------------------------------------------------------ reductions

    def sum(self, dim=None, keepdim: bool = False):
        """Sum over ``dim`` (None: all dims; an int or a tuple) (``tc.sum``)."""
        return ops.reduction.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim: bool = False):
        """Mean over ``dim`` (None: all dims; an int or a tuple) (``tc.mean``)."""
        return ops.reduction.mean(self, dim, keepdim)

    def max(self, dim=None, keepdim: bool = False):
        """Max of all elements, or ``(values, indices)`` over an int ``dim`` (``tc.max``)."""
        return ops.reduction.max(self, dim, keepdim)

    def min(self, dim=None, keepdim: bool = False):
        """Min of all elements, or ``(values, indices)`` over an int ``dim`` (``tc.min``)."""
        return ops.reduction.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim: bool = False):
        """Max over ``dim`` (None: all; int or tuple); ties share the gradient (``tc.amax``)."""
        return ops.reduction.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim: bool = False):
        """Min over ``dim`` (None: all; int or tuple); ties share the gradient (``tc.amin``)."""
        return ops.reduction.amin(self, dim, keepdim)

    def var(self, dim=None, keepdim: bool = False, correction: int = 1, unbiased=None):
        """Variance over ``dim``: sum((x - mean)^2) / (n - correction) (``tc.var``)."""
        return ops.reduction.var(self, dim, keepdim, correction=correction, unbiased=unbiased)

    def std(self, dim=None, keepdim: bool = False, correction: int = 1, unbiased=None):
        """Standard deviation over ``dim``, sqrt(var) (``tc.std``)."""
        return ops.reduction.std(self, dim, keepdim, correction=correction, unbiased=unbiased)

    def logsumexp(self, dim, keepdim: bool = False):
        """log(sum(exp(self))) over ``dim``, stable (``tc.logsumexp``)."""
        return ops.reduction.logsumexp(self, dim, keepdim)

    def argmax(self, dim=None, keepdim: bool = False):
        """int64 index of the first max along ``dim``, or in the flat tensor (``tc.argmax``)."""
        return ops.reduction.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim: bool = False):
        """int64 index of the first min along ``dim``, or in the flat tensor (``tc.argmin``)."""
        return ops.reduction.argmin(self, dim, keepdim)

    def count_nonzero(self, dim=None):
        """The number of nonzero elements, over all or over ``dim``, int64
        (``tc.count_nonzero``)."""
        return ops.compare.count_nonzero(self, dim)

    def any(self, dim=None, keepdim: bool = False):
        """Bool: is any element over ``dim`` (None: all) nonzero (``ops.reduction.any``)."""
        return ops.reduction.any(self, dim, keepdim)

    def all(self, dim=None, keepdim: bool = False):
        """Bool: is every element over ``dim`` (None: all) nonzero (``ops.reduction.all``)."""
        return ops.reduction.all(self, dim, keepdim)

    def softmax(self, dim: int):
        """exp(self) / sum(exp(self)) along ``dim``, stable (``tc.softmax``)."""
        return ops.loss.softmax(self, dim)

    def log_softmax(self, dim: int):
        """log(softmax(self)) along ``dim``, stable (``tc.log_softmax``)."""
        return ops.loss.log_softmax(self, dim)

    # ------------------------------------------------------------------ matrix products

    def mm(self, mat2):
        """(n, k) @ (k, m) -> (n, m), 2-D only (``tc.mm``)."""
        return ops.linalg.mm(self, mat2)

    def bmm(self, mat2):
        """(b, n, k) @ (b, k, m) -> (b, n, m), 3-D only, no broadcasting (``tc.bmm``)."""
        return ops.linalg.bmm(self, mat2)

    def dot(self, other):
        """The inner product of two 1-D tensors of one length, a 0-d tensor (``tc.dot``)."""
        return ops.linalg.dot(self, other)

    def outer(self, vec2):
        """(n,) x (m,) -> (n, m): self[i] * vec2[j] (``tc.outer``)."""
        return ops.linalg.outer(self, vec2)

    def trace(self):
        """The sum of a 2-D tensor's main diagonal, a 0-d tensor (``tc.trace``)."""
        return ops.linalg.trace(self)

    def matmul(self, other):
        """self @ other: (..., n, k) @ (..., k, m) -> (..., n, m) (``tc.matmul``)."""
        return ops.linalg.matmul(self, other)

    # ------------------------------------------------------------------ scans, sorting, norms

    def prod(self, dim=None, keepdim: bool = False, *, dtype=None):
        """Product of all elements, or over ``dim`` (``tc.prod``)."""
        return ops.scan.prod(self, dim, keepdim, dtype=dtype)

    def cumsum(self, dim: int, *, dtype=None):
        """Running sum along ``dim``: out[i] = self[0] + ... + self[i] (``tc.cumsum``)."""
        return ops.scan.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: int, *, dtype=None):
        """Running product along ``dim``: out[i] = self[0] * ... * self[i] (``tc.cumprod``)."""
        return ops.scan.cumprod(self, dim, dtype=dtype)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        """``(values, indices)`` sorted along ``dim``, always stable (``tc.sort``)."""
        return ops.sort.sort(self, dim, descending, stable)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        """The int64 indices that sort along ``dim``, stable (``tc.argsort``)."""
        return ops.sort.argsort(self, dim, descending, stable)

    def median(self, dim=None, keepdim: bool = False):
        """The lower median; ``(values, indices)`` along ``dim`` when given (``tc.median``)."""
        return ops.sort.median(self, dim, keepdim)

    def nanmedian(self, dim=None, keepdim: bool = False):
        """``median`` skipping NaN (``tc.nanmedian``)."""
        return ops.sort.nanmedian(self, dim, keepdim)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
        """``(values, indices)`` of the ``k`` largest (or smallest) along ``dim`` (``tc.topk``)."""
        return ops.sort.topk(self, k, dim, largest, sorted)

    def unique(self, sorted: bool = True, return_inverse: bool = False,
               return_counts: bool = False, dim=None):
        """The distinct elements, 1-D and ascending; optionally the inverse (self's shape) and the
        counts, as a tuple; no gradient (``tc.unique``)."""
        return ops.sort.unique(self, sorted, return_inverse, return_counts, dim)

    def norm(self, p="fro", dim=None, keepdim: bool = False, dtype=None):
        """The ``p``-norm over ``dim``; "fro" is the 2-norm of the elements (``tc.norm``)."""
        return ops.vector_norm.norm(self, p, dim, keepdim, dtype)


def _scaled(other, alpha, op: str):
    """``alpha * other`` for add/sub's ``alpha`` (other itself when alpha is 1)."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Number):
        raise TypeError(f"{op}: alpha must be a number, got {alpha!r}")
    if alpha == 1:
        return other
    if isinstance(other, numbers.Number):
        return other * alpha
    return ops.elementwise.mul(other, alpha)
