"""The op methods of Tensor: operators (``t + u``, ``t @ w``, ``t[i] > 0``), elementwise math,
reductions, shape and indexing methods. Each forwards to the one description of its op in
``tinygrad_cnn/ops``; Tensor inherits them from TensorMethods, so tensor.py keeps what a tensor
is (its array, device, gradient and the autograd entry points).
"""

from __future__ import annotations

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


    # ------------------------------------------------------------------ elementwise methods

    def exp(self):
        return ops.elementwise.exp(self)

    def log(self):
        return ops.elementwise.log(self)

    def sqrt(self):
        return ops.elementwise.sqrt(self)

    def abs(self):
        return ops.elementwise.abs(self)

    def tanh(self):
        return ops.elementwise.tanh(self)

    def sigmoid(self):
        return ops.elementwise.sigmoid(self)

    def relu(self):
        return ops.activation.relu(self)

    def leaky_relu(self, negative_slope: float = 0.01):
        return ops.activation.leaky_relu(self, negative_slope)

    def clamp(self, min=None, max=None):
        return ops.elementwise.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        return ops.elementwise.maximum(self, other)

    def minimum(self, other):
        return ops.elementwise.minimum(self, other)

    def pow(self, exponent):
        return ops.elementwise.pow(self, exponent)

    def sign(self):
        return ops.elementwise_math.sign(self)

    def isnan(self):
        return ops.compare.isnan(self)

    def isfinite(self):
        return ops.compare.isfinite(self)

    # [ops-bugs] more elementwise math (ops/ops.elementwise_math.py)
    def floor(self):
        return ops.elementwise_math.floor(self)

    def ceil(self):
        return ops.elementwise_math.ceil(self)

    def round(self, decimals: int = 0):
        return ops.elementwise_math.round(self, decimals)

    def trunc(self):
        return ops.elementwise_math.trunc(self)

    def remainder(self, other):
        return ops.elementwise_math.remainder(self, other)

    def fmod(self, other):
        return ops.elementwise_math.fmod(self, other)

    def floor_divide(self, other):
        return ops.elementwise_math.floor_divide(self, other)

    def reciprocal(self):
        return ops.elementwise_math.reciprocal(self)

    def rsqrt(self):
        return ops.elementwise_math.rsqrt(self)

    def exp2(self):
        return ops.elementwise_math.exp2(self)

    def log2(self):
        return ops.elementwise_math.log2(self)

    def log10(self):
        return ops.elementwise_math.log10(self)

    def log1p(self):
        return ops.elementwise_math.log1p(self)

    def expm1(self):
        return ops.elementwise_math.expm1(self)

    def sin(self):
        return ops.elementwise_math.sin(self)

    def cos(self):
        return ops.elementwise_math.cos(self)

    def isinf(self):
        return ops.compare.isinf(self)

    def isclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
        return ops.compare.isclose(self, other, rtol, atol, equal_nan)

    def lerp(self, end, weight):
        return ops.elementwise_math.lerp(self, end, weight)

    def logaddexp(self, other):
        return ops.elementwise_math.logaddexp(self, other)

    def erf(self):
        return ops.activation.erf(self)

    def prelu(self, weight):
        return ops.activation.prelu(self, weight)

    def eq(self, other):
        return ops.compare.eq(self, other)

    # ------------------------------------------------------------------ reductions

    def sum(self, dim=None, keepdim: bool = False):
        return ops.reduction.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim: bool = False):
        return ops.reduction.mean(self, dim, keepdim)

    def max(self, dim=None, keepdim: bool = False):
        return ops.reduction.max(self, dim, keepdim)

    def min(self, dim=None, keepdim: bool = False):
        return ops.reduction.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim: bool = False):
        return ops.reduction.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim: bool = False):
        return ops.reduction.amin(self, dim, keepdim)

    def var(self, dim=None, keepdim: bool = False, correction: int = 1, unbiased=None):
        return ops.reduction.var(self, dim, keepdim, correction=correction, unbiased=unbiased)

    def std(self, dim=None, keepdim: bool = False, correction: int = 1, unbiased=None):
        return ops.reduction.std(self, dim, keepdim, correction=correction, unbiased=unbiased)

    def logsumexp(self, dim, keepdim: bool = False):
        return ops.reduction.logsumexp(self, dim, keepdim)

    def argmax(self, dim=None, keepdim: bool = False):
        return ops.reduction.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim: bool = False):
        return ops.reduction.argmin(self, dim, keepdim)

    def any(self, dim=None, keepdim: bool = False):
        return ops.reduction.any(self, dim, keepdim)

    def all(self, dim=None, keepdim: bool = False):
        return ops.reduction.all(self, dim, keepdim)

    def softmax(self, dim: int):
        return ops.loss.softmax(self, dim)

    def log_softmax(self, dim: int):
        return ops.loss.log_softmax(self, dim)

    # ------------------------------------------------------------------ shape

    def reshape(self, *shape):
        return ops.shape.reshape(self, _shape_args(shape))

    def view(self, *shape):
        return ops.shape.reshape(self, _shape_args(shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return ops.shape.flatten(self, start_dim, end_dim)

    def transpose(self, dim0: int, dim1: int):
        return ops.shape.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return ops.shape.permute(self, _shape_args(dims))

    def squeeze(self, dim=None):
        return ops.shape.squeeze(self, dim)

    def unsqueeze(self, dim: int):
        return ops.shape.unsqueeze(self, dim)

    def expand(self, *shape):
        return ops.shape.expand(self, _shape_args(shape))

    def broadcast_to(self, shape):
        return ops.shape.broadcast_to(self, shape)

    def matmul(self, other):
        return ops.linalg.matmul(self, other)

    # ------------------------------------------------------------------ scans, sorting, norms

    def prod(self, dim=None, keepdim: bool = False, *, dtype=None):
        return ops.scan.prod(self, dim, keepdim, dtype=dtype)

    def cumsum(self, dim: int, *, dtype=None):
        return ops.scan.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: int, *, dtype=None):
        return ops.scan.cumprod(self, dim, dtype=dtype)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        return ops.sort.sort(self, dim, descending, stable)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        return ops.sort.argsort(self, dim, descending, stable)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
        return ops.sort.topk(self, k, dim, largest, sorted)

    def norm(self, p="fro", dim=None, keepdim: bool = False, dtype=None):
        return ops.vector_norm.norm(self, p, dim, keepdim, dtype)

    # ------------------------------------------------------------------ more shape, indexing

    def flip(self, *dims):
        return ops.shape_extra.flip(self, _shape_args(dims))

    def roll(self, shifts, dims=None):
        return ops.shape_extra.roll(self, shifts, dims)

    def repeat(self, *sizes):
        return ops.shape_extra.repeat(self, *sizes)

    def tile(self, *dims):
        return ops.shape_extra.tile(self, _shape_args(dims))

    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        return ops.shape_extra.repeat_interleave(self, repeats, dim, output_size=output_size)

    def split(self, split_size, dim: int = 0):
        return ops.shape_extra.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0):
        return ops.shape_extra.chunk(self, chunks, dim)

    def unbind(self, dim: int = 0):
        return ops.shape_extra.unbind(self, dim)

    def unflatten(self, dim: int, sizes):
        return ops.shape_extra.unflatten(self, dim, sizes)

    def tril(self, diagonal: int = 0):
        return ops.shape_extra.tril(self, diagonal)

    def triu(self, diagonal: int = 0):
        return ops.shape_extra.triu(self, diagonal)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1):
        return ops.shape_extra.diagonal(self, offset, dim1, dim2)

    def gather(self, dim: int, index):
        return ops.indexing.gather(self, dim, index)

    def scatter(self, dim: int, index, src=None, *, value=None, reduce=None):
        return ops.indexing.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self, dim: int, index, src):
        return ops.indexing.scatter_add(self, dim, index, src)

    def index_add(self, dim: int, index, source, *, alpha=1):
        return ops.indexing.index_add(self, dim, index, source, alpha=alpha)

    def index_select(self, dim: int, index):
        return ops.indexing.index_select(self, dim, index)

    def masked_fill(self, mask, value):
        return ops.indexing.masked_fill(self, mask, value)

    def take_along_dim(self, indices, dim=None):
        return ops.indexing.take_along_dim(self, indices, dim)


def _shape_args(args) -> tuple:
    """Accept both t.reshape(2, 3) and t.reshape((2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)
