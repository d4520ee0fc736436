"""In-place methods of Tensor (``t.add_(u)``, ``t.mul_(0.9)``, ``t.copy_(src)``, ``t -= lr * g``)
and the version counters that keep an in-place change from corrupting a gradient.

**Version counters.** A tensor changed in place (by these methods, ``t[...] = v``, ``zero_``,
an optimizer's step, ``nn.init`` or ``load_state_dict``) records the change in its version,
which it shares with the tensors viewing its memory (an op's output that is a view of its input,
``detach()``). A node that saved the tensor for its backward before the change then refuses to
run that backward, naming the op and the tensor, where it would have computed the gradient from
the new values (PyTorch's "modified by an inplace operation" error). Writing into ``t.data``
directly is not tracked, as with PyTorch's ``.data``.

**Which changes are in place.** tinygrad_cnn has no in-place autograd (PyTorch rewrites the
graph behind an in-place op; here a node's output is never changed under it). So the methods
change a tensor in place only outside the graph: under ``tc.no_grad()``, or when neither the
tensor nor the other operand requires a gradient. A leaf that requires grad refuses them while
grad mode is on (as in PyTorch: ``with tc.no_grad(): w -= lr * w.grad`` is the way); the
methods refuse a tensor in the graph too, naming the out-of-place method to use. The operators
``+=``, ``-=``, ``*=`` and ``/=`` there compute out of place and rebind the name
(``out += identity`` in a residual block gives the right values and gradient; other
references to the old tensor keep its values, where PyTorch's would see the sum).
"""

from __future__ import annotations

import math

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.grad_mode import is_grad_enabled, no_grad

_changes = 0  # in-place changes of tensors so far; a changed tensor's version is the count then


def version_cell(tensor) -> list:
    """``tensor``'s version: a one-element list holding the count of in-place changes at its
    last change (0: never), shared by every tensor viewing the same memory."""
    cell = tensor._version
    if cell is None:
        cell = tensor._version = [0]
    return cell


def share_version(result, out, args) -> None:
    """Give ``result`` (an op's output, array ``out``) the version of the input tensor in
    ``args`` whose memory ``out`` views or is, so that a change through either is seen by
    nodes that saved the other."""
    base = getattr(out, "base", None)
    for a in args:
        data = getattr(a, "data", None)
        if data is not None and hasattr(a, "_version") and (
                data is out or (base is not None and (data is base or getattr(data, "base", None)
                                                      is base))):
            result._version = version_cell(a)
            return


class TensorInPlace:
    """In-place methods and version counting shared by every Tensor (a mixin: no state of its
    own; ``_version`` is a slot of Tensor, None until a version is needed: version_cell)."""

    __slots__ = ()

    def _changed_in_place(self) -> None:
        """Record that this tensor's values changed in place: nodes that saved it, or a tensor
        viewing its memory, before now refuse their backward."""
        global _changes
        _changes += 1
        version_cell(self)[0] = _changes

    # ------------------------------------------------------------------ arithmetic

    def add_(self, other, *, alpha=1):
        """``self += alpha * other`` in place (broadcasting ``other`` to self's shape)."""
        return self._in_place("add_", other, lambda t, o: t.add(o, alpha=alpha))

    def sub_(self, other, *, alpha=1):
        """``self -= alpha * other`` in place."""
        return self._in_place("sub_", other, lambda t, o: t.sub(o, alpha=alpha))

    def mul_(self, other):
        """``self *= other`` in place."""
        return self._in_place("mul_", other, lambda t, o: t * o)

    def div_(self, other, *, rounding_mode=None):
        """``self /= other`` in place (``rounding_mode`` as ``div``)."""
        return self._in_place("div_", other, lambda t, o: t.div(o, rounding_mode=rounding_mode))

    def clamp_(self, min=None, max=None):  # noqa: A002 - PyTorch's argument names
        """Values limited to [min, max] in place (``clamp``)."""
        return self._in_place("clamp_", None, lambda t, _: t.clamp(min, max))

    def lerp_(self, end, weight):
        """``self += weight * (end - self)`` in place (an exponential moving average's update:
        ``ema.lerp_(p, 1 - decay)``)."""
        return self._in_place("lerp_", (end, weight), lambda t, _: t.lerp(end, weight))

    def masked_fill_(self, mask, value):
        """``value`` written where the bool ``mask`` (broadcast to self) is true."""
        return self._in_place("masked_fill_", value, lambda t, _: t.masked_fill(mask, value))

    def scatter_(self, dim: int, index, src=None, *, value=None, reduce=None):
        """``scatter`` in place: ``self[i][index[i][j]] = src[i][j]`` for dim=1 (or ``value``)."""
        return self._in_place("scatter_", src, lambda t, _: t.scatter(dim, index, src,
                                                                       value=value, reduce=reduce))

    def scatter_add_(self, dim: int, index, src):
        """``scatter_add`` in place: ``src`` added at ``index`` along ``dim``."""
        return self._in_place("scatter_add_", src, lambda t, _: t.scatter_add(dim, index, src))

    def index_add_(self, dim: int, index, source, *, alpha=1):
        """``index_add`` in place: ``alpha * source`` added at ``index`` along ``dim``."""
        return self._in_place("index_add_", source,
                              lambda t, _: t.index_add(dim, index, source, alpha=alpha))

    def __iadd__(self, other):
        return self._in_place_or_rebind("+=", other, lambda t, o: t + o)

    def __isub__(self, other):
        return self._in_place_or_rebind("-=", other, lambda t, o: t - o)

    def __imul__(self, other):
        return self._in_place_or_rebind("*=", other, lambda t, o: t * o)

    def __itruediv__(self, other):
        return self._in_place_or_rebind("/=", other, lambda t, o: t / o)

    def __ifloordiv__(self, other):
        return self._in_place_or_rebind("//=", other, lambda t, o: t // o)

    def __imod__(self, other):
        return self._in_place_or_rebind("%=", other, lambda t, o: t % o)

    def __ipow__(self, other):
        return self._in_place_or_rebind("**=", other, lambda t, o: t ** o)

    def __iand__(self, other):
        return self._in_place_or_rebind("&=", other, lambda t, o: t & o)

    def __ior__(self, other):
        return self._in_place_or_rebind("|=", other, lambda t, o: t | o)

    # ------------------------------------------------------------------ filling and copying

    def zero_(self):
        """Fill with zeros in place."""
        return self.fill_(0)

    def normal_(self, mean: float = 0.0, std: float = 1.0):
        """Filled with draws from N(mean, std^2) in place (``nn.init.normal_``)."""
        from tinygrad_cnn.nn import init  # noqa: PLC0415 - nn imports Tensor

        self._refuse_in_graph("normal_", None, "tc.randn_like(t) * std + mean")
        return init.normal_(self, mean, std)

    def uniform_(self, a: float = 0.0, b: float = 1.0):
        """Filled with draws from U(a, b) in place (``nn.init.uniform_``)."""
        from tinygrad_cnn.nn import init  # noqa: PLC0415

        self._refuse_in_graph("uniform_", None, "tc.rand_like(t) * (b - a) + a")
        return init.uniform_(self, a, b)

    def fill_(self, value):
        """Every element set to ``value`` (a number, or a tensor of one element) in place."""
        self._refuse_in_graph("fill_", None, "tc.full_like(t, value)")
        if hasattr(value, "shape"):  # a Tensor or an array
            if math.prod(value.shape) != 1:
                raise backend.ShapeError(f"fill_: expected a number or a one-element tensor, "
                                         f"got shape {tuple(value.shape)}")
            value = value.item()
        xp = backend.array_module(self.data)
        self.data[...] = backend.full(xp, self.shape, value, self.dtype)
        self._changed_in_place()
        return self

    def copy_(self, src, non_blocking: bool = False):
        """``src``'s values copied in place (from either device, cast to self's dtype,
        broadcast to self's shape). ``non_blocking`` is accepted for PyTorch's signature."""
        self._refuse_in_graph("copy_", src, "src.to(t.device, t.dtype) or tc.where")
        from tinygrad_cnn.tensor import Tensor  # noqa: PLC0415 - tensor.py imports this mixin

        value = src.data if isinstance(src, Tensor) else src
        if not hasattr(value, "shape"):
            value = backend.host_array(value)
        try:
            target = backend.broadcast_shapes(tuple(value.shape), self.shape)
        except ValueError:
            target = None
        if target != self.shape:
            raise backend.ShapeError(f"copy_: the source has shape {tuple(value.shape)}, which "
                                     f"does not broadcast to the destination's {self.shape}")
        value = backend.to_device(value, self.device)
        self.data[...] = value.astype(self.dtype, copy=False)
        self._changed_in_place()
        return self

    # ------------------------------------------------------------------ the rules

    def _refuse_in_graph(self, op: str, other, instead: str) -> None:
        """Raise unless ``op`` may change this tensor in place (see the module's docstring)."""
        self._check_writable(op)
        if not is_grad_enabled():
            return
        if self._requires_grad and self._node is None:
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad (shape {self.shape}) cannot be changed "
                "in place while grad mode is on (its gradient would be wrong); do it under "
                "tc.no_grad(), as an optimizer does")
        others = other if isinstance(other, tuple) else (other,)
        if self._requires_grad or any(getattr(o, "_requires_grad", False) for o in others):
            raise RuntimeError(
                f"{op}: tinygrad_cnn cannot change a tensor in the autograd graph in place "
                f"(shape {self.shape}); use the out-of-place form ({instead}), or do it under "
                "tc.no_grad() if no gradient should flow")

    def _check_writable(self, op: str) -> None:
        reason = backend.unwritable_reason(self.data)
        if reason is not None:
            raise RuntimeError(f"{op}: this tensor (shape {self.shape}) cannot be changed in "
                               f"place: {reason}; change a clone() instead")

    def _in_place(self, op: str, other, compute):
        self._refuse_in_graph(op, other, f"t = t.{op.rstrip('_')}(...)")
        return self._store(op, other, compute)

    def _in_place_or_rebind(self, op: str, other, compute):
        if is_grad_enabled() and (self._requires_grad or getattr(other, "_requires_grad", False)):
            if self._requires_grad and self._node is None:
                self._refuse_in_graph(op, other, "")  # a leaf: refused, as in PyTorch
            return compute(self, other)  # in the graph: a new node, the name rebound
        return self._store(op, other, compute)

    def _store(self, op: str, other, compute):
        """``compute(self, other)``, computed out of place, written into self's array."""
        self._check_writable(op)
        with no_grad():
            result = compute(self, other)
        if result.shape != self.shape:
            raise backend.ShapeError(
                f"{op}: the result has shape {result.shape} but the tensor changed in place has "
                f"shape {self.shape}; the other operand ({getattr(other, 'shape', other)}) may "
                "broadcast to it, not beyond it")
        if not backend.can_store(result.dtype, self.dtype):
            raise TypeError(f"{op}: the result's dtype {result.dtype} cannot be stored in place "
                            f"in a tensor of dtype {self.dtype}")
        self.data[...] = result.data
        self._changed_in_place()
        return self
