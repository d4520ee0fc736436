"""More shape ops: flip, roll, repeat, tile, repeat_interleave, split, chunk, unbind, unflatten,
tril/triu, diagonal, meshgrid; t, narrow, select.

Most are compositions of reshape / expand / getitem (ops/shape.py), so their gradients (and
second derivatives) come from those; flip, roll and tril/triu are small Functions whose backward
is the same op on the gradient.
"""

from __future__ import annotations

import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor
from tinygrad_cnn.tensor_shape_methods import _shape_args


class Flip(Function):
    """x reversed along ``dims``, same shape; the gradient flipped back."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return ctx.xp.flip(x, axis=dims)

    @staticmethod
    def backward(ctx, grad):
        return Flip.apply(grad, ctx.dims), None


class Roll(Function):
    """x rolled by ``shifts`` along ``dims`` (elements wrap around), same shape; the gradient
    rolled back."""

    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return ctx.xp.roll(x, shifts, axis=dims)

    @staticmethod
    def backward(ctx, grad):
        back = tuple(-s for s in ctx.shifts) if ctx.dims is not None else -ctx.shifts
        return Roll.apply(grad, back, ctx.dims), None, None


class Triangle(Function):
    """tril (upper=False) or triu (upper=True) of the last two dims; zeros elsewhere."""

    @staticmethod
    def forward(ctx, x, diagonal, upper):
        ctx.diagonal, ctx.upper = diagonal, upper
        return (ctx.xp.triu if upper else ctx.xp.tril)(x, diagonal)

    @staticmethod
    def backward(ctx, grad):
        return Triangle.apply(grad, ctx.diagonal, ctx.upper), None, None


def _int_tuple(value, op: str, what: str) -> tuple[int, ...]:
    items = (value,) if isinstance(value, numbers.Integral) else tuple(value)
    for v in items:
        if not isinstance(v, numbers.Integral):
            raise TypeError(f"{op}: {what} must be ints, got {value!r}")
    return tuple(int(v) for v in items)


def flip(input: Tensor, dims) -> Tensor:
    """``input`` with the order of elements reversed along each dim in ``dims`` (int or tuple)."""
    dims = _int_tuple(dims, "flip", "dims")
    norm = shape_ops.normalize_dims(dims, input.ndim, "flip")
    if input.ndim == 0 or not norm:
        return input
    return Flip.apply(input, norm)


def roll(input: Tensor, shifts, dims=None) -> Tensor:
    """Elements shifted by ``shifts`` along ``dims`` (wrapping round); ``dims=None`` rolls the
    flattened tensor and keeps the shape. ``shifts`` and ``dims`` are ints or equal-length
    tuples."""
    if dims is None:
        if not isinstance(shifts, numbers.Integral):
            shifts = _int_tuple(shifts, "roll", "shifts")
            if len(shifts) != 1:
                raise ValueError(f"roll: with dims=None, shifts must be one int, got {shifts}")
            shifts = shifts[0]
        return Roll.apply(input, int(shifts), None)
    shifts = _int_tuple(shifts, "roll", "shifts")
    dims = _int_tuple(dims, "roll", "dims")
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    dims = tuple(shape_ops.normalize_dim(d, input.ndim, "roll") for d in dims)
    if input.ndim == 0:
        return input
    return Roll.apply(input, shifts, dims)


def repeat(input: Tensor, *sizes) -> Tensor:
    """PyTorch's ``Tensor.repeat``: the whole tensor tiled ``sizes[i]`` times along dim i;
    ``sizes`` has at least ``input.ndim`` entries (extra ones add leading dims)."""
    sizes = _int_tuple(_shape_args(sizes), "repeat", "sizes")
    if len(sizes) < input.ndim:
        raise ValueError(
            f"repeat: {len(sizes)} repeat sizes {sizes} for a {input.ndim}-d tensor; give at "
            f"least one per dim"
        )
    if any(s < 0 for s in sizes):
        raise ValueError(f"repeat: sizes must be non-negative, got {sizes}")
    shape = (1,) * (len(sizes) - input.ndim) + input.shape
    x = shape_ops.reshape(input, tuple(n for s in shape for n in (1, s)))
    x = shape_ops.expand(x, tuple(n for r, s in zip(sizes, shape, strict=True) for n in (r, s)))
    return shape_ops.reshape(x, tuple(r * s for r, s in zip(sizes, shape, strict=True)))


def tile(input: Tensor, dims) -> Tensor:
    """``repeat`` with ones prepended to ``dims`` when it is shorter than ``input.ndim``."""
    dims = _int_tuple(dims, "tile", "dims")
    return repeat(input, (1,) * (input.ndim - len(dims)) + dims)


def repeat_interleave(input: Tensor, repeats=None, dim=None, *, output_size=None) -> Tensor:
    """Each element (slice along ``dim``) repeated ``repeats`` times in place:
    ``[a, b]`` with 2 gives ``[a, a, b, b]``. ``repeats``: an int or a 1-D int tensor with one
    count per element along ``dim`` (or one count for all). ``dim=None`` flattens first.
    ``repeat_interleave(counts)`` alone gives ``repeat_interleave(arange(len(counts)), counts)``.
    """
    if repeats is None:
        counts = input
        if counts.ndim != 1 or counts.dtype.kind not in "iu":
            raise ValueError("repeat_interleave: with no repeats, input must be a 1-D int tensor "
                             f"of counts, got {counts.dtype} of shape {counts.shape}")
        xp = backend.array_module(counts.data)
        input = Tensor._from_array(xp.arange(counts.shape[0]))
        repeats = counts
    x = shape_ops.reshape(input, (-1,)) if dim is None else input
    x = shape_ops.reshape(x, (1,)) if x.ndim == 0 else x
    d = 0 if dim is None else shape_ops.normalize_dim(dim, input.ndim, "repeat_interleave")
    n = x.shape[d]
    if isinstance(repeats, Tensor) and repeats.size == 1 and repeats.ndim <= 1:
        repeats = repeats.item()
    if isinstance(repeats, numbers.Integral):
        if repeats < 0:
            raise ValueError(f"repeat_interleave: repeats must be non-negative, got {repeats}")
        out = shape_ops.unsqueeze(x, d + 1)
        out = shape_ops.expand(out, x.shape[: d + 1] + (int(repeats),) + x.shape[d + 1 :])
        out = shape_ops.reshape(out, x.shape[:d] + (n * int(repeats),) + x.shape[d + 1 :])
    else:
        counts = repeats.data if isinstance(repeats, Tensor) else Tensor(repeats).data
        xp = backend.array_module(x.data)
        counts = backend.to_device(counts, x.device)
        if counts.dtype.kind not in "iu" or counts.ndim != 1 or counts.shape[0] != n:
            raise ValueError(
                f"repeat_interleave: repeats must be an int or a 1-D int tensor with {n} "
                f"entries (the size of dim {d}), got {counts.dtype} of shape {counts.shape}"
            )
        if counts.size and int(counts.min()) < 0:
            raise ValueError("repeat_interleave: repeats must be non-negative")
        # CuPy's repeat takes counts as a host list, NumPy's as an array
        index = xp.repeat(xp.arange(n), backend.to_numpy(counts).tolist())
        out = shape_ops.getitem_arrays(x, (slice(None),) * d + (index,))
    if output_size is not None and out.shape[d] != output_size:
        raise ValueError(f"repeat_interleave: output_size={output_size} but the result has "
                         f"{out.shape[d]} along dim {d}")
    return out


def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces along ``dim``: of ``split_size`` each (the last may be smaller) for an int, or of
    the listed sizes (which must add up to the dim's size). Views with gradients."""
    d = shape_ops.normalize_dim(dim, tensor.ndim, "split")
    if tensor.ndim == 0:
        raise ValueError("split: cannot split a 0-d tensor")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        size = int(split_size_or_sections)
        if size < 0 or (size == 0 and n > 0):
            raise ValueError(f"split: split_size must be positive, got {size}")
        # an empty dim gives one empty piece (PyTorch)
        sizes = [size] * (n // size) + ([n % size] if n % size else []) if n else [0]
    else:
        sizes = list(_int_tuple(split_size_or_sections, "split", "sections"))
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} must be non-negative and add up to {n}, the "
                             f"size of dim {dim} of shape {tensor.shape}")
    pieces, start = [], 0
    for s in sizes:
        index = (slice(None),) * d + (slice(start, start + s),)
        pieces.append(shape_ops.getitem_arrays(tensor, index))
        start += s
    return tuple(pieces)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most ``chunks`` pieces along ``dim``, each of ``ceil(size / chunks)`` elements (the
    last may be smaller, and there may be fewer pieces, as in PyTorch)."""
    if not isinstance(chunks, numbers.Integral) or chunks < 1:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    d = shape_ops.normalize_dim(dim, input.ndim, "chunk")
    n = input.shape[d] if input.ndim else 0
    if n == 0:  # an empty dim gives `chunks` empty pieces (PyTorch)
        return split(input, [0] * chunks, d)
    return split(input, -(-n // chunks), d)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, each without that dim."""
    if input.ndim == 0:
        raise ValueError("unbind: cannot unbind a 0-d tensor")
    d = shape_ops.normalize_dim(dim, input.ndim, "unbind")
    return tuple(shape_ops.getitem_arrays(input, (slice(None),) * d + (i,))
                 for i in range(input.shape[d]))


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    """Dim ``dim`` split into ``sizes`` (one entry may be -1); the inverse of flatten."""
    d = shape_ops.normalize_dim(dim, input.ndim, "unflatten")
    sizes = _int_tuple(sizes, "unflatten", "sizes")
    if not sizes:
        raise ValueError("unflatten: sizes must not be empty")
    n = input.shape[d] if input.ndim else 1
    known = 1
    for s in sizes:
        known *= s if s != -1 else 1
    if sizes.count(-1) > 1 or (n != known if -1 not in sizes else (known == 0 or n % known)):
        raise ValueError(f"unflatten: sizes {sizes} do not multiply up to {n}, the size of dim "
                         f"{dim} of shape {input.shape}")
    return shape_ops.reshape(input, input.shape[:d] + sizes + input.shape[d + 1 :])


def _check_matrix(input: Tensor, op: str) -> None:
    if input.ndim < 2:
        raise ValueError(f"{op}: input must have at least 2 dims, got shape {input.shape}")


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (on and below diagonal ``diagonal``), 0 above."""
    _check_matrix(input, "tril")
    return Triangle.apply(input, int(diagonal), False)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (on and above diagonal ``diagonal``), 0 below."""
    _check_matrix(input, "triu")
    return Triangle.apply(input, int(diagonal), True)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of dims (dim1, dim2), shifted right by ``offset`` (left when negative), as
    the last dim of the result; the other dims keep their order."""
    _check_matrix(input, "diagonal")
    a = shape_ops.normalize_dim(dim1, input.ndim, "diagonal")
    b = shape_ops.normalize_dim(dim2, input.ndim, "diagonal")
    if a == b:
        raise ValueError(f"diagonal: dim1 and dim2 name the same dim {a}")
    rest = [i for i in range(input.ndim) if i not in (a, b)]
    x = shape_ops.permute(input, rest + [a, b])
    row0, col0 = max(-offset, 0), max(offset, 0)
    length = max(0, min(input.shape[a] - row0, input.shape[b] - col0))
    xp = backend.array_module(input.data)
    steps = xp.arange(length)
    return shape_ops.getitem_arrays(x, (Ellipsis, steps + row0, steps + col0))


def meshgrid(*tensors, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D (or 0-d) tensors: output i varies along dim i (``"ij"``), or,
    with ``"xy"``, the first two dims swapped (Cartesian, as NumPy's default). Gradients sum
    back to each input. ``meshgrid(a, b)`` and ``meshgrid([a, b])`` both work."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor) or t.ndim > 1:
            raise ValueError(f"meshgrid: input {i} must be a 0-d or 1-D tensor, got "
                             f"{getattr(t, 'shape', type(t).__name__)}")
    flat = [shape_ops.reshape(t, (-1,)) for t in tensors]
    position = list(range(len(flat)))
    if indexing == "xy" and len(flat) >= 2:
        position[0], position[1] = 1, 0
    shape = [0] * len(flat)
    for t, p in zip(flat, position, strict=True):
        shape[p] = t.shape[0]
    out = []
    for t, p in zip(flat, position, strict=True):
        view = [1] * len(flat)
        view[p] = t.shape[0]
        out.append(shape_ops.expand(shape_ops.reshape(t, tuple(view)), tuple(shape)))
    return tuple(out)



# ---------------------------------------------------------------------- views: t, narrow, select


def t(input: Tensor) -> Tensor:
    """The transpose of a 2-D tensor, (n, m) -> (m, n); a 0-D or 1-D tensor is returned as is.
    More than 2 dims is an error (use ``transpose`` or ``permute``)."""
    if input.ndim > 2:
        raise backend.ShapeError(f"t: expected a tensor with at most 2 dims, got shape "
                                 f"{input.shape} (use transpose or permute)")
    return shape_ops.transpose(input, 0, 1) if input.ndim == 2 else input


def _int_arg(value, op: str, name: str) -> int:
    """An int argument (a Python or NumPy integer, or a 0-d integer tensor), or a TypeError."""
    if isinstance(value, Tensor) and value.ndim == 0 and value.dtype.kind in "iu":
        return int(value.item())
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    return int(value)


def narrow(input: Tensor, dim: int, start, length: int) -> Tensor:
    """``length`` elements of dim ``dim`` from ``start`` on (a view, as PyTorch's):
    ``narrow(x, 1, 2, 3)`` is ``x[:, 2:5]``. ``start`` lies in ``[-size, size]`` (negative counts
    from the end) and ``start + length`` may not pass the dim's size; the other dims are kept."""
    if input.ndim == 0:
        raise backend.ShapeError("narrow: cannot be applied to a 0-d tensor")
    d = shape_ops.normalize_dim(dim, input.ndim, "narrow")
    start, length = _int_arg(start, "narrow", "start"), _int_arg(length, "narrow", "length")
    size = input.shape[d]
    if not -size <= start <= size:
        raise IndexError(f"narrow: start {start} is out of range for dim {dim} of size {size} "
                         f"(expected {-size}..{size}; shape {input.shape})")
    if length < 0:
        raise ValueError(f"narrow: length must be non-negative, got {length}")
    start = start + size if start < 0 else start
    if start + length > size:
        raise backend.ShapeError(f"narrow: start {start} + length {length} exceeds the size "
                                 f"{size} of dim {dim} (shape {input.shape})")
    return shape_ops.getitem_arrays(input, (slice(None),) * d + (slice(start, start + length),))


def select(input: Tensor, dim: int, index) -> Tensor:
    """The slice at ``index`` along ``dim``, without that dim (a view): ``select(x, 1, 2)`` is
    ``x[:, 2]``, shape (n, m, k) -> (n, k). ``index`` lies in ``[-size, size)``."""
    if input.ndim == 0:
        raise IndexError("select: cannot be applied to a 0-d tensor")
    d = shape_ops.normalize_dim(dim, input.ndim, "select")
    index = _int_arg(index, "select", "index")
    size = input.shape[d]
    if not -size <= index < size:
        raise IndexError(f"select: index {index} is out of range for dim {dim} of size {size} "
                         f"(expected {-size}..{size - 1}; shape {input.shape})")
    return shape_ops.getitem_arrays(input, (slice(None),) * d + (index,))
