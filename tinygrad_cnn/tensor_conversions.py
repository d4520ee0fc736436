"""The conversion methods of Tensor: ``to`` in PyTorch's forms, ``cpu``/``gpu``, dtype casts
(``float()``, ``long()``, ``type()``, ...) and the ``new_*`` factories that take this tensor's
dtype and device (a mixin, split from tensor.py when it passed 600 lines)."""

from __future__ import annotations

# ops' submodules and creation import Tensor, so they are looked up through their packages when
# a method is called (tensor.py imports them once Tensor exists)
import tinygrad_cnn
from tinygrad_cnn import backend, ops

_LEGACY_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
                 "uint8": "ByteTensor", "int8": "CharTensor", "int16": "ShortTensor",
                 "int32": "IntTensor", "int64": "LongTensor", "bool": "BoolTensor"}
_LEGACY_DTYPES = {name: dtype for dtype, name in _LEGACY_NAMES.items()}


def _creation():
    return tinygrad_cnn.creation


class TensorConversions:
    """Device moves, dtype casts and ``new_*`` factories shared by every Tensor (a mixin: no
    state of its own)."""

    __slots__ = ()

    def to(self, device=None, dtype=None, non_blocking: bool = False,
           copy: bool = False):
        """This tensor on ``device`` and/or as ``dtype`` (PyTorch's forms: ``to("gpu")``,
        ``to(tc.float64)``, ``to("gpu", tc.float64)``, ``to(other_tensor)``: its device and
        dtype); differentiable; ``self`` when nothing changes, unless ``copy``.
        ``non_blocking`` is accepted for PyTorch's signature."""
        if isinstance(device, TensorConversions):  # a Tensor
            if dtype is not None:
                raise TypeError("to: got a tensor to match and a dtype; pass one of them")
            device, dtype = device.device, device.dtype
        device, dtype = backend.device_and_dtype(device, dtype, "to")
        out = self
        if device is not None and backend.normalize_device(device) != self.device:
            out = ops.conversion.to_device(out, backend.normalize_device(device))
        if dtype is not None and backend.check_dtype(dtype) != self.dtype:
            out = ops.conversion.cast(out, dtype)
        return ops.conversion.clone(out) if copy and out is self else out

    def cpu(self):
        """``to("cpu")``: ``self`` when it is there already."""
        return self.to("cpu")

    def gpu(self):
        """``to("gpu")``: ``self`` when it is there already; also ``cuda()``."""
        return self.to("gpu")

    cuda = gpu

    def astype(self, dtype):
        """This tensor converted to ``dtype``, ``self`` when it has that dtype already
        (differentiable between float dtypes)."""
        return ops.conversion.cast(self, dtype)

    def float(self):
        """``astype(float32)``."""
        return self.astype(backend.float32)

    def double(self):
        """``astype(float64)``."""
        return self.astype(backend.float64)

    def long(self):
        """``astype(int64)``."""
        return self.astype(backend.int64)

    def int(self):
        """``astype(int32)`` (PyTorch's ``int()``; ``long()`` is int64)."""
        return self.astype(backend.int32)

    def half(self):
        """``astype(float16)``."""
        return self.astype(backend.float16)

    def bool(self):
        """``astype(bool)``: nonzero is True."""
        return self.astype(backend.bool_)

    def type_as(self, other):
        """``astype(other.dtype)``."""
        return self.astype(other.dtype)

    def type(self, dtype=None, non_blocking: bool = False):
        """PyTorch's ``type``: without ``dtype`` the legacy type name ("tinygrad_cnn.FloatTensor",
        "tinygrad_cnn.cuda.LongTensor"); with a dtype, ``astype(dtype)``; with such a name (or
        torch's, "torch.cuda.FloatTensor"), that dtype and device."""
        if dtype is None:
            where = "tinygrad_cnn.cuda." if self.device == backend.GPU else "tinygrad_cnn."
            return where + _LEGACY_NAMES[self.dtype.name]
        if isinstance(dtype, str) and dtype.split(".")[-1] in _LEGACY_DTYPES:
            device = backend.GPU if ".cuda." in dtype else backend.CPU
            return self.to(device, _LEGACY_DTYPES[dtype.split(".")[-1]])
        return self.astype(dtype)

    # ------------------------------------------------------------------ new tensors like this one

    def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False):
        """Zeros of shape ``size``, with this tensor's dtype and device unless given."""
        return _creation().zeros(*size, **self._like(dtype, device), requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False):
        """Ones of shape ``size``, with this tensor's dtype and device unless given."""
        return _creation().ones(*size, **self._like(dtype, device), requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False):
        """An unset tensor (``tc.empty``) of shape ``size``, this tensor's dtype and device
        unless given."""
        return _creation().empty(*size, **self._like(dtype, device), requires_grad=requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None,
                 requires_grad: bool = False):
        """``fill_value`` in shape ``size``, with this tensor's dtype and device unless given."""
        return _creation().full(size, fill_value, **self._like(dtype, device),
                             requires_grad=requires_grad)

    def new_tensor(self, data, *, dtype=None, device=None, requires_grad: bool = False):
        """A copy of ``data`` as a tensor with this tensor's dtype and device unless given."""
        return _creation().tensor(data, **self._like(dtype, device), requires_grad=requires_grad)

    def _like(self, dtype, device) -> dict:
        return {"dtype": self.dtype if dtype is None else dtype,
                "device": self.device if device is None else device}
