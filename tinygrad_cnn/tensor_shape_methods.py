"""The shape, indexing and layout methods of Tensor (``t.reshape(2, 3)``, ``t.transpose(0, 1)``,
``t.gather(1, index)``, ...): a mixin as TensorMethods, each forwarding to its op in
``tinygrad_cnn/ops``.
"""

from __future__ import annotations

from tinygrad_cnn import ops


class TensorShapeMethods:
    """Shape, indexing and layout methods shared by every Tensor (a mixin: no state of its own)."""

    __slots__ = ()

    # ------------------------------------------------------------------ shape

    def reshape(self, *shape):
        """This tensor with shape ``shape`` (ints or one tuple; one may be -1) (``tc.reshape``)."""
        return ops.shape.reshape(self, _shape_args(shape))

    def view(self, *shape):
        """``reshape``; copies where PyTorch's ``view`` would raise (``tc.reshape``)."""
        return ops.shape.reshape(self, _shape_args(shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        """Dims ``start_dim`` to ``end_dim`` merged into one (``tc.flatten``)."""
        return ops.shape.flatten(self, start_dim, end_dim)

    def transpose(self, dim0: int, dim1: int):
        """Dims ``dim0`` and ``dim1`` swapped (``tc.transpose``)."""
        return ops.shape.transpose(self, dim0, dim1)

    def permute(self, *dims):
        """Dims reordered: output dim i is dim ``dims[i]`` (ints or one tuple) (``tc.permute``)."""
        return ops.shape.permute(self, _shape_args(dims))

    def squeeze(self, dim=None):
        """Size-1 dims removed: all of them, or those in ``dim`` (``tc.squeeze``)."""
        return ops.shape.squeeze(self, dim)

    def unsqueeze(self, dim: int):
        """A size-1 dim inserted at ``dim`` (``tc.unsqueeze``)."""
        return ops.shape.unsqueeze(self, dim)

    def expand(self, *shape):
        """Broadcast to ``shape`` without copying; -1 keeps a dim's size (``tc.expand``)."""
        return ops.shape.expand(self, _shape_args(shape))

    def broadcast_to(self, shape):
        """Broadcast to ``shape`` by NumPy's rules (``tc.broadcast_to``)."""
        return ops.shape.broadcast_to(self, shape)

    def t(self):
        """A 2-D tensor transposed; 0-d and 1-D ones as they are (``tc.t``)."""
        return ops.shape_extra.t(self)

    @property
    def mT(self):  # noqa: N802 - PyTorch's name
        """The last two dims swapped, (..., n, m) -> (..., m, n)."""
        if self.data.ndim < 2:
            raise ValueError(f"mT: needs at least 2 dims, got shape {tuple(self.data.shape)}")
        return ops.shape.transpose(self, -2, -1)

    def narrow(self, dim: int, start, length: int):
        """``length`` elements of ``dim`` from ``start`` (negative counts from the end), a view
        (``tc.narrow``)."""
        return ops.shape_extra.narrow(self, dim, start, length)

    def select(self, dim: int, index):
        """Index ``index`` of ``dim``, the dim removed (``tc.select``)."""
        return ops.shape_extra.select(self, dim, index)

    def view_as(self, other):
        """``reshape(other.shape)`` (``torch.Tensor.view_as``)."""
        return ops.shape.reshape(self, _other_shape(other, "view_as"))

    def reshape_as(self, other):
        """``reshape(other.shape)``."""
        return ops.shape.reshape(self, _other_shape(other, "reshape_as"))

    def expand_as(self, other):
        """``expand(other.shape)``: broadcast to ``other``'s shape without copying."""
        return ops.shape.expand(self, _other_shape(other, "expand_as"))

    # ------------------------------------------------------------------ layout

    def dim(self) -> int:
        """Number of dims (``ndim``)."""
        return self.data.ndim

    def is_contiguous(self) -> bool:
        """Whether the elements lie in row-major order without gaps (C-contiguous)."""
        return bool(self.data.flags.c_contiguous)

    def contiguous(self):
        """This tensor when it is contiguous, else a contiguous copy (differentiable, as
        ``clone``)."""
        return self if self.is_contiguous() else ops.conversion.clone(self)

    # ------------------------------------------------------------------ more shape, indexing

    def flip(self, *dims):
        """Elements in reverse order along each dim in ``dims`` (``tc.flip``)."""
        return ops.shape_extra.flip(self, _shape_args(dims))

    def roll(self, shifts, dims=None):
        """Elements shifted by ``shifts`` along ``dims``, wrapping round (``tc.roll``)."""
        return ops.shape_extra.roll(self, shifts, dims)

    def repeat(self, *sizes):
        """The whole tensor tiled ``sizes[i]`` times along dim i (``ops.shape_extra.repeat``)."""
        return ops.shape_extra.repeat(self, *sizes)

    def tile(self, *dims):
        """``repeat`` with ones prepended to ``dims`` when it is short (``tc.tile``)."""
        return ops.shape_extra.tile(self, _shape_args(dims))

    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        """Each slice along ``dim``, ``repeats`` times in a row (``tc.repeat_interleave``)."""
        return ops.shape_extra.repeat_interleave(self, repeats, dim, output_size=output_size)

    def split(self, split_size, dim: int = 0):
        """Pieces along ``dim``: ``split_size`` long (the last may be shorter), or of the listed
        sizes (``tc.split``)."""
        return ops.shape_extra.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0):
        """At most ``chunks`` pieces along ``dim``, each ceil(size / chunks) long but the last
        (``tc.chunk``)."""
        return ops.shape_extra.chunk(self, chunks, dim)

    def unbind(self, dim: int = 0):
        """The slices along ``dim``, each without that dim (``tc.unbind``)."""
        return ops.shape_extra.unbind(self, dim)

    def unflatten(self, dim: int, sizes):
        """Dim ``dim`` split into ``sizes`` (one may be -1) (``tc.unflatten``)."""
        return ops.shape_extra.unflatten(self, dim, sizes)

    def tril(self, diagonal: int = 0):
        """Lower triangle of the last two dims, 0 above diagonal ``diagonal`` (``tc.tril``)."""
        return ops.shape_extra.tril(self, diagonal)

    def triu(self, diagonal: int = 0):
        """Upper triangle of the last two dims, 0 below diagonal ``diagonal`` (``tc.triu``)."""
        return ops.shape_extra.triu(self, diagonal)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1):
        """The (dim1, dim2) diagonal, shifted by ``offset``, as the last dim (``tc.diagonal``)."""
        return ops.shape_extra.diagonal(self, offset, dim1, dim2)

    def gather(self, dim: int, index):
        """out[i][j] = self[i][index[i][j]] for dim=1; ``index``'s shape (``tc.gather``)."""
        return ops.indexing.gather(self, dim, index)

    def scatter(self, dim: int, index, src=None, *, value=None, reduce=None):
        """A copy with out[i][index[i][j]] = src[i][j] for dim=1 (``tc.scatter``)."""
        return ops.indexing.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self, dim: int, index, src):
        """A copy with out[i][index[i][j]] += src[i][j] for dim=1 (``tc.scatter_add``)."""
        return ops.indexing.scatter_add(self, dim, index, src)

    def index_add(self, dim: int, index, source, *, alpha=1):
        """A copy with ``alpha * source`` added at ``index`` along ``dim`` (``tc.index_add``)."""
        return ops.indexing.index_add(self, dim, index, source, alpha=alpha)

    def index_select(self, dim: int, index):
        """The slices at the 1-D ``index`` along ``dim`` (``tc.index_select``)."""
        return ops.indexing.index_select(self, dim, index)

    def masked_fill(self, mask, value):
        """``value`` where the bool ``mask`` is true, self elsewhere (``tc.masked_fill``)."""
        return ops.indexing.masked_fill(self, mask, value)

    def take(self, index):
        """The elements at ``index`` of this tensor read as 1-D, in ``index``'s shape
        (``tc.take``)."""
        return ops.indexing.take(self, index)

    def masked_select(self, mask):
        """The elements where the bool ``mask`` (broadcast) is true, 1-D (``tc.masked_select``)."""
        return ops.indexing.masked_select(self, mask)

    def nonzero(self, *, as_tuple: bool = False):
        """The indices of the nonzero elements: (count, ndim) int64, or a tuple of ndim 1-D
        tensors with ``as_tuple=True`` (``tc.nonzero``)."""
        return ops.indexing.nonzero(self, as_tuple=as_tuple)

    def take_along_dim(self, indices, dim=None):
        """Values at ``indices`` along ``dim`` (None: flattened) (``tc.take_along_dim``)."""
        return ops.indexing.take_along_dim(self, indices, dim)


def _shape_args(args) -> tuple:
    """Accept both t.reshape(2, 3) and t.reshape((2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _other_shape(other, op: str) -> tuple:
    """The shape of ``other``, a Tensor, for the ``*_as`` methods."""
    if not isinstance(other, TensorShapeMethods):  # every Tensor is one
        raise TypeError(f"{op}: other must be a Tensor, got {type(other).__name__}")
    return other.shape
