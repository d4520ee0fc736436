"""Tensor: one backend array (NumPy or CuPy) plus what autograd needs to differentiate it."""

from __future__ import annotations

import weakref
from collections import namedtuple

from tinygrad_cnn import backend, tensor_inplace
from tinygrad_cnn.autograd import engine
from tinygrad_cnn.autograd.hooks import RemovableHandle, add_hook
from tinygrad_cnn.tensor_conversions import TensorConversions
from tinygrad_cnn.tensor_inplace import TensorInPlace
from tinygrad_cnn.tensor_methods import TensorMethods
from tinygrad_cnn.tensor_shape_methods import TensorShapeMethods

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])

_STATE_SLOTS = ("data", "grad", "_requires_grad", "_node", "_grad_hooks")  # not _version


def _is_python_data(data) -> bool:
    return not backend.is_array(data)


def _to_backend_array(data, dtype=None, device=None):
    """Convert Python data, NumPy or CuPy arrays, or a Tensor into a backend array."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (str, bytes)):
        raise TypeError(f"cannot make a tensor from a {type(data).__name__}: {data!r:.40}")
    if dtype is not None:
        dtype = backend.check_dtype(dtype)
    if backend.is_gpu_array(data):
        array = data if dtype is None else data.astype(dtype, copy=False)
    else:
        python_data = _is_python_data(data)
        try:
            array = backend.host_array(data, dtype=dtype)
        except (ValueError, TypeError, OverflowError) as e:
            why = _why_not_numbers(data) if python_data else None
            raise TypeError(why or f"cannot make a tensor from {type(data).__name__}: {e}") \
                from None
        if python_data and (array.dtype.kind in "OUS" or array.dtype.str[1:] == "u8"):
            why = _why_not_numbers(data)
            if why:
                raise TypeError(why)
        if dtype is None and python_data and array.dtype == backend.float64:
            # Python floats become float32, as in PyTorch
            array = array.astype(backend.DEFAULT_FLOAT)
        if dtype is None and python_data and array.dtype.kind in "iu":
            array = array.astype(backend.DEFAULT_INT)
        if not array.dtype.isnative:  # e.g. big-endian '>f4' from a file: same values, native
            array = array.astype(array.dtype.newbyteorder("="))
    backend.check_dtype(array.dtype)
    target = backend.normalize_device(device) if device is not None else None
    if target is None and not backend.is_gpu_array(array):
        target = backend.get_default_device()
    if target is not None:
        array = backend.to_device(array, target)
    return array


_INT64_RANGE = (-(2**63), 2**63 - 1)


def _why_not_numbers(data) -> str | None:
    """Why Python data is not a (nested) list of numbers: an iterator, None, an integer beyond
    int64, something else, or a ragged list; None when nothing is found."""
    if not isinstance(data, (list, tuple)) and hasattr(data, "__iter__") \
            and not hasattr(data, "__len__"):
        return (f"cannot make a tensor from a {type(data).__name__} (an iterator, read only "
                "once): pass a list, e.g. Tensor(list(values))")
    level = [("data", data)]
    while level:
        sequences = [(p, v) for p, v in level if isinstance(v, (list, tuple))]
        if sequences and len(sequences) != len(level):
            (ps, vs), (po, vo) = sequences[0], next((p, v) for p, v in level
                                                    if not isinstance(v, (list, tuple)))
            return (f"cannot make a tensor from a ragged nested list: {ps} is a "
                    f"{type(vs).__name__} but {po} is a {type(vo).__name__}")
        if not sequences:
            break
        lengths = {len(v) for _, v in sequences}
        if len(lengths) > 1:
            (p0, v0) = sequences[0]
            p1, v1 = next((p, v) for p, v in sequences if len(v) != len(v0))
            return (f"cannot make a tensor from a ragged nested list: {p0} has {len(v0)} "
                    f"elements but {p1} has {len(v1)}")
        level = [(f"{p}[{i}]", x) for p, v in sequences for i, x in enumerate(v)]
    for path, value in level:
        if value is None:
            return f"cannot make a tensor from {path} = None: a tensor holds numbers only"
        if isinstance(value, int) and not isinstance(value, bool) \
                and not _INT64_RANGE[0] <= value <= _INT64_RANGE[1]:
            return (f"cannot make a tensor from {path} = {value}: it does not fit in int64, the "
                    "largest integer dtype (pass it as a float, e.g. float(x))")
        if isinstance(value, (str, bytes, dict, set)) or hasattr(value, "__next__"):
            return (f"cannot make a tensor from {path}, a {type(value).__name__} "
                    f"({value!r:.40}): a tensor holds numbers only")
    return None


class _Size(int):
    """``Tensor.size``: the number of elements (an int, NumPy's ``size``) that, called, is
    PyTorch's ``size()``: the shape, or with a dim the size of that dim."""

    def __new__(cls, count, shape):
        self = super().__new__(cls, count)
        self.shape = tuple(shape)
        return self

    def __reduce__(self):  # pickled or copied, it is the plain int
        return int, (int(self),)

    def __call__(self, dim=None):
        if dim is None:
            return self.shape
        return self.shape[shape_ops.normalize_dim(dim, len(self.shape), "size")]


class Tensor(TensorMethods, TensorShapeMethods, TensorInPlace, TensorConversions):
    """An n-dimensional array on the CPU (NumPy) or GPU (CuPy) that can record its gradient.

    ``Tensor(data, requires_grad=False, dtype=None, device=None)``: ``data`` is Python numbers or
    lists, a NumPy or CuPy array, or a Tensor. Python floats become float32; NumPy arrays keep
    their dtype (float64 stays float64).
    """

    # _grad_hooks (a leaf's register_hook hooks) is set only on a leaf that has some
    # _version: None, or the one-element list tensor_inplace.py shares between views
    __slots__ = ("data", "grad", "_requires_grad", "_node", "_grad_hooks", "_version",
                 "__weakref__")
    __array_priority__ = 1000  # make ndarray <op> Tensor call Tensor's reflected operator

    def __init__(self, data, requires_grad: bool = False, dtype=None, device=None):
        self.data = _to_backend_array(data, dtype, device)
        self.grad: Tensor | None = None
        self._node = None
        self._version = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _from_array(cls, array, requires_grad: bool = False, node=None) -> Tensor:
        """Wrap a backend array without copying or checking (used by ops and the engine)."""
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t._requires_grad = requires_grad
        t._node = node
        t._version = None
        return t

    def __getstate__(self):
        """Pickled or copied without its version: a version is a count of this process's
        in-place changes, meaningless in another process and for a copy's new memory."""
        slots = {name: getattr(self, name) for name in _STATE_SLOTS if hasattr(self, name)}
        return (getattr(self, "__dict__", None) or None, slots)

    def __copy__(self):
        """A shallow copy shares the array, so it shares the version too."""
        out = type(self).__new__(type(self))
        out.__setstate__(self.__getstate__())
        out._version = tensor_inplace.version_cell(self)
        return out

    def __setstate__(self, state) -> None:
        attributes, slots = state
        if attributes:
            self.__dict__.update(attributes)
        for name, value in slots.items():
            setattr(self, name, value)
        self._version = None

    # ------------------------------------------------------------------ attributes

    @property
    def requires_grad(self) -> bool:
        """Whether backward computes a gradient for this tensor; only floating tensors can
        require one, and only a leaf's can be switched off."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if value and not backend.is_floating(self.data.dtype):
            raise TypeError(
                f"only floating-point tensors can require gradients, this one is {self.dtype}"
            )
        if not value and self._node is not None:
            raise RuntimeError(
                "requires_grad can only be changed on leaf tensors; use .detach() on a tensor "
                "produced by an operation"
            )
        self._requires_grad = value

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dim, a tuple of ints (PyTorch's ``size()``)."""
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        """Number of dims, ``len(shape)``."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """Number of elements, an int like NumPy's ``size``; called, PyTorch's ``size()``:
        ``t.size()`` is the shape and ``t.size(dim)`` the size of one dim."""
        return _Size(self.data.size, self.data.shape)

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.data.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes of all the elements, ``numel() * itemsize``."""
        return int(self.data.nbytes)

    def element_size(self) -> int:
        """Bytes per element (``torch.Tensor.element_size``)."""
        return self.data.itemsize

    def numel(self) -> int:
        """Number of elements, an int (the ``size`` property)."""
        return int(self.data.size)

    @property
    def dtype(self):
        """The element type, a NumPy dtype (e.g. dtype('float32')) on either device."""
        return self.data.dtype

    @property
    def device(self) -> str:
        """Where the data lives: 'cpu' (a NumPy array) or 'gpu' (a CuPy array)."""
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        """True unless an op recorded in the graph made this tensor (``grad_fn`` is None)."""
        return self._node is None

    @property
    def grad_fn(self):
        """The Function node that produced this tensor (None for leaves)."""
        return self._node

    @property
    def T(self) -> Tensor:
        """The dims reversed: shape (a, b, c) becomes (c, b, a) (``tc.permute``)."""
        return shape_ops.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    # ------------------------------------------------------------------ conversion

    def numpy(self):
        """The values as a NumPy array (shares memory on the CPU, a copy from the GPU)."""
        return backend.to_numpy(self.data)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule of this tensor's memory, for ``np.from_dlpack(t)``,
        ``torch.from_dlpack(t)``, ``cupy.from_dlpack(t)`` (zero-copy; see docs/interop.md).
        As in PyTorch, a tensor that requires grad must be detached first."""
        if self._requires_grad:
            raise RuntimeError("Can't export tensors that require grad, use tensor.detach()")
        kwargs = {k: v for k, v in (("stream", stream), ("max_version", max_version),
                                    ("dl_device", dl_device), ("copy", copy)) if v is not None}
        return self.data.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        """(DLPack device type, device id): (1, 0) on the CPU, (2, id) on a CUDA GPU."""
        return self.data.__dlpack_device__()

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item() needs a tensor with one element, this one has shape {self.shape}"
            )
        return self.data.reshape(()).item()

    def tolist(self):
        """The values as (nested lists of) Python numbers; a 0-d tensor gives one number."""
        return self.numpy().tolist()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (no gradient flows through it); an in-place
        change of either is seen by the nodes that saved the other."""
        out = Tensor._from_array(self.data)
        out._version = tensor_inplace.version_cell(self)
        return out

    def clone(self) -> Tensor:
        """A differentiable copy."""
        return conversion.clone(self)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place; returns self."""
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if self._node is not None:
            self._node._retained_output_ref = weakref.ref(self)

    def register_hook(self, hook) -> RemovableHandle:
        """Call ``hook(grad)`` with this tensor's whole gradient of each backward pass (and
        ``tc.grad``) before it is used; a Tensor it returns (same shape) replaces the gradient,
        None keeps it. Hooks run in the order registered; a leaf's before ``.grad`` is
        accumulated, ``retain_grad``'s ``.grad`` after them (PyTorch's rules).
        ``handle.remove()`` unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not "
                               "require grad")
        if not callable(hook):
            raise TypeError(f"register_hook: hook must be callable, got {hook!r}")
        owner = self if self._node is None else self._node  # a non-leaf's: on its node
        hooks = getattr(owner, "_grad_hooks", None)
        if hooks is None:
            hooks = owner._grad_hooks = {}
        return add_hook(hooks, hook)

    # ------------------------------------------------------------------ autograd

    def backward(self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False):
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        ``gradient`` is d(loss)/d(self); it may be omitted only for a one-element tensor.
        ``retain_graph`` defaults to ``create_graph``; without it the graph's saved values are
        freed. ``create_graph=True`` records the backward pass itself, for higher derivatives.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the computation "
                "had requires_grad=True (or it ran under no_grad())"
            )
        gradient = _initial_gradient(self, gradient, "backward()")
        if retain_graph is None:
            retain_graph = create_graph
        engine.run_backward(
            [self], [gradient], retain_graph=retain_graph, create_graph=create_graph
        )

    # ------------------------------------------------------------------ Python protocol

    def __repr__(self) -> str:
        body = backend.array2string(
            self.data, separator=", ", prefix="tensor(", precision=4, threshold=200
        )
        extras = [f"dtype={self.dtype}"]
        if self.device != backend.CPU:
            extras.append(f"device='{self.device}'")
        if self._node is not None:
            extras.append(f"grad_fn={self._node!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({body}, {', '.join(extras)})"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __array__(self, dtype=None, copy=None):
        if self.device != backend.CPU:
            raise TypeError(
                "cannot convert a GPU tensor to a NumPy array implicitly; "
                "call .numpy() or .to('cpu') first"
            )
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.size != 1 or self.dtype.kind not in "iu":
            raise TypeError("only integer tensors of one element can be used as an index")
        return int(self.item())

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ indexing

    def __getitem__(self, index):
        return shape_ops.getitem(self, index)

    def __setitem__(self, index, value):
        self._refuse_in_graph("t[...] = v (in-place assignment)", value,
                              "a new tensor, e.g. with tc.where or tc.cat")
        index = shape_ops.index_to_arrays(index, self.data)
        self.data[index] = value.data if isinstance(value, Tensor) else value
        self._changed_in_place()


def _initial_gradient(output: Tensor, gradient, caller: str) -> Tensor:
    """The gradient a backward pass starts from: ones for a scalar, else the one given."""
    if gradient is None:
        if output.data.size != 1:
            raise RuntimeError(
                f"{caller}: grad can be created implicitly only for one-element outputs, this "
                f"output has shape {output.shape}; pass gradient= (a tensor of that shape)"
            )
        return Tensor._from_array(backend.ones_from_host(output.shape, output.dtype,
                                                         output.device))
    if not isinstance(gradient, Tensor):
        gradient = Tensor(gradient, dtype=output.dtype, device=output.device)
    if gradient.shape != output.shape:
        raise RuntimeError(
            f"{caller}: gradient has shape {gradient.shape} but the output has shape {output.shape}"
        )
    if gradient.device != output.device:
        raise backend.DeviceMismatchError(
            f"{caller}: gradient is on {gradient.device} but the output is on {output.device}; "
            "move it with .to(...)"
        )
    return gradient


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned instead of stored in ``.grad``.

    ``outputs``/``inputs``: a Tensor or a sequence of Tensors. ``grad_outputs``: d(loss)/d(output)
    for each output (may be None for one-element outputs). With ``create_graph=True`` the result is
    itself differentiable. An input the outputs do not depend on gives an error, or None with
    ``allow_unused=True``.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single_input = isinstance(inputs, Tensor)
    inputs = [inputs] if single_input else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: input {i} is not a tensor that requires grad")
    roots, root_grads = [], []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs, strict=False)):
        if not out.requires_grad:
            raise RuntimeError(
                f"grad: output {i} does not require grad (it does not depend on any input that "
                "requires grad)"
            )
        roots.append(out)
        root_grads.append(_initial_gradient(out, g, "grad"))
    if retain_graph is None:
        retain_graph = create_graph
    result = engine.run_backward(
        roots, root_grads, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs
    )
    for i, g in enumerate(result):
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} (shape {inputs[i].shape}) was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
    return tuple(result)


# The ops import Tensor from this module, so they are imported after it is defined; the ones
# TensorMethods calls only need importing (it reaches them as attributes of ``tinygrad_cnn.ops``).
from tinygrad_cnn.ops import (  # noqa: E402, F401
    activation,
    compare,
    conversion,
    elementwise,
    elementwise_math,
    indexing,
    linalg,
    loss,
    reduction,
    scan,
    shape_extra,
    sort,
    vector_norm,
)
from tinygrad_cnn.ops import shape as shape_ops  # noqa: E402
