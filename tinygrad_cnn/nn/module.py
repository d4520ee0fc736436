"""Module: a layer or a model; its parameters and submodules are found by walking its attributes.

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU())
            self.fc = nn.Linear(6 * 28 * 28, 10)

        def forward(self, x):
            return self.fc(self.features(x).flatten(1))

Attributes that are Parameters, Modules, or lists / tuples / dicts of them are found in the
order they were assigned; their dotted names (``features.0.weight``) key ``state_dict()``.
Buffers (non-trainable state such as BatchNorm's running statistics) are declared with
``register_buffer``.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple

from tinygrad_cnn import backend, tensor_inplace
from tinygrad_cnn.autograd.grad_mode import no_grad
from tinygrad_cnn.autograd.hooks import RemovableHandle, add_hook
from tinygrad_cnn.tensor import Tensor

# The Module machinery's own bookkeeping; never walked for parameters or submodules.
_INTERNAL = frozenset({
    "training", "_buffer_names", "_non_persistent", "_forward_hooks", "_forward_pre_hooks",
    "_modules",
})

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
_DATA_SLOT = Tensor.__dict__["data"]  # Tensor's slot, under Parameter's checking property


class Parameter(Tensor):
    """A Tensor that is a trainable weight of a Module: it requires grad unless told otherwise.

    ``Parameter(data, requires_grad=True)`` shares ``data``'s array when ``data`` is a Tensor
    (like PyTorch's ``nn.Parameter``); Python data and NumPy arrays are converted as Tensor does.
    """

    def __init__(self, data=None, requires_grad: bool = True):
        device = version = None
        if data is None:
            data = backend.host_array([], dtype=backend.DEFAULT_FLOAT)
        if isinstance(data, Tensor):  # keep the tensor's array and device, as PyTorch does
            version = tensor_inplace.version_cell(data)  # and its in-place changes
            data, device = data.data, data.device
        super().__init__(data, requires_grad=requires_grad, device=device)
        self._version = version

    # Weight surgery assigns a parameter's data, PyTorch's way (``p.data = new_tensor``): a
    # property here checks it (a Tensor gives its array); activations keep Tensor's plain slot.
    @property
    def data(self):
        """The backend array of the weights; assigning a Tensor takes its array (both then share
        it), an array of either backend is taken as it is, anything else is refused."""
        return _DATA_SLOT.__get__(self, Parameter)

    @data.setter
    def data(self, value) -> None:
        if isinstance(value, Tensor):
            value = value.data
        elif not backend.is_backend_array(value):
            raise TypeError(f"Parameter.data must be a Tensor or a NumPy/CuPy array, got "
                            f"{type(value).__name__}")
        _DATA_SLOT.__set__(self, value)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def _walk(prefix: str, value):
    """(kind, dotted name, object) for the Parameters and Modules inside one attribute value."""
    if isinstance(value, Parameter):
        yield "param", prefix, value
    elif isinstance(value, Module):
        yield "module", prefix, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(f"{prefix}.{i}", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(f"{prefix}.{key}", item)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class Module:
    """Base class of layers and models: subclass it, assign layers in ``__init__``, define
    ``forward``. Calling the module runs ``forward`` (and any registered forward hooks)."""

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_buffer_names", [])
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_forward_hooks", {})
        object.__setattr__(self, "_forward_pre_hooks", {})

    # ------------------------------------------------------------------ attributes

    def __setattr__(self, name, value):
        if "training" not in self.__dict__ and isinstance(value, (Parameter, Module, Tensor)):
            raise AttributeError(
                f"cannot assign {type(value).__name__} '{name}' before Module.__init__() is "
                f"called: call super().__init__() first in {type(self).__name__}.__init__"
            )
        current = self.__dict__.get(name)
        if (isinstance(current, Parameter) and value is not None
                and not isinstance(value, Parameter)):
            raise TypeError(
                f"cannot assign a {type(value).__name__} to parameter '{name}' of "
                f"{type(self).__name__}: expected an nn.Parameter or None"
            )
        if name in self.__dict__.get("_buffer_names", ()) and value is not None and not isinstance(
            value, Tensor
        ):
            raise TypeError(
                f"cannot assign a {type(value).__name__} to buffer '{name}' of "
                f"{type(self).__name__}: expected a Tensor or None"
            )
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Declare non-trainable state (moved by ``to()``, saved by ``state_dict()`` when
        ``persistent``), e.g. BatchNorm's running mean."""
        if "training" not in self.__dict__:
            raise AttributeError("cannot register a buffer before Module.__init__() is called")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if isinstance(self.__dict__.get(name), (Parameter, Module)):
            raise KeyError(f"attribute '{name}' already exists and is not a buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"buffer '{name}' must be a Tensor or None, got {type(tensor).__name__}"
            )
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` (or None) as the child ``name``, as ``self.name = module`` does;
        a container (``Sequential``, ...) appends it under that name (PyTorch's; also
        ``register_module``)."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"add_module: the name must be a non-empty string without '.', got "
                           f"{name!r}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be an nn.Module or None, got "
                            f"{type(module).__name__}")
        current = self.__dict__.get(name)
        if name in _INTERNAL or (name in self.__dict__ and not isinstance(current, Module)
                                 and current is not None) or hasattr(type(self), name):
            raise KeyError(f"add_module: attribute {name!r} already exists and is not a module")
        if "_modules" in self.__dict__:  # a container's children live in its _modules
            self._modules[name] = module
        else:
            setattr(self, name, module)

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The submodule at the dotted path ``target`` ("" is this module), e.g. "layer1.0.conv1";
        an AttributeError names the first part that is missing."""
        module = self
        for i, part in enumerate(target.split(".") if target else []):
            child = dict(module.named_children()).get(part)
            if child is None:
                where = ".".join(target.split(".")[:i]) or type(self).__name__
                raise AttributeError(f"get_submodule: {where} has no submodule {part!r} (path "
                                     f"{target!r})")
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at the dotted path ``target``, e.g. "layer1.0.conv1.weight"."""
        return self._get_state(target, "parameter", Module.named_parameters)

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at the dotted path ``target``, e.g. "bn1.running_mean"."""
        return self._get_state(target, "buffer", Module.named_buffers)

    def _get_state(self, target: str, kind: str, named):
        path, _, name = target.rpartition(".")
        found = dict(named(self.get_submodule(path), recurse=False)).get(name)
        if found is None:
            raise AttributeError(f"get_{kind}: {path or type(self).__name__} has no {kind} "
                                 f"{name!r} (path {target!r})")
        return found

    def _members(self):
        """(name, value) of the attributes to walk, in assignment order (containers override)."""
        return [(k, v) for k, v in self.__dict__.items() if k not in _INTERNAL]

    def _own(self):
        """(kind, name, object) of this module's own parameters, buffers and child modules,
        in definition order; kind is 'param', 'buffer' or 'module'."""
        out = []
        buffer_names = set(self._buffer_names)
        for name, value in self._members():
            if name in buffer_names:
                if isinstance(value, Tensor):
                    out.append(("buffer", name, value))
            else:
                out.extend(_walk(name, value))
        return out

    # ------------------------------------------------------------------ calling

    def forward(self, *args, **kwargs):
        """The module's output for its inputs (what the class docstring says it computes);
        call the module, ``m(x)``, which runs forward and the hooks."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            hook(self, args)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward; a non-None return value
        replaces the output."""
        return add_hook(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs)`` before every forward."""
        return add_hook(self._forward_pre_hooks, hook)

    # ------------------------------------------------------------------ traversal

    def named_children(self):
        """(name, module) of the direct submodules, each once."""
        seen = set()
        for kind, name, obj in self._own():
            if kind == "module" and id(obj) not in seen:
                seen.add(id(obj))
                yield name, obj

    def children(self):
        """The direct submodules, each once."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = ""):
        """(dotted name, module) of this module ('' for itself) and every submodule, each once."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(_join(name, n), m) for n, m in module.named_children()]
            stack.extend(reversed(children))

    def modules(self):
        """This module and every submodule, each once."""
        for _, module in self.named_modules():
            yield module

    def _named_state(self, prefix: str = "", recurse: bool = True):
        """(kind, dotted name, tensor) of parameters and buffers, definition order, depth first."""
        seen_modules = set()

        def visit(module, pre):
            seen_modules.add(id(module))
            for kind, name, obj in module._own():
                full = _join(pre, name)
                if kind == "module":
                    if recurse and id(obj) not in seen_modules:
                        yield from visit(obj, full)
                elif kind == "buffer" and name in module._non_persistent:
                    yield "buffer-np", full, obj
                else:
                    yield kind, full, obj

        yield from visit(self, prefix)

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter) pairs; a parameter shared by two layers is listed once."""
        seen = set()
        for kind, name, t in self._named_state(prefix, recurse):
            if kind == "param" and id(t) not in seen:
                seen.add(id(t))
                yield name, t

    def parameters(self, recurse: bool = True):
        """The Parameters (this module's own only, with ``recurse=False``), each once; e.g. for
        an optimizer."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Tensor) of the buffers, persistent or not."""
        seen = set()
        for kind, name, t in self._named_state(prefix, recurse):
            if kind in ("buffer", "buffer-np") and id(t) not in seen:
                seen.add(id(t))
                yield name, t

    def buffers(self, recurse: bool = True):
        """The buffers, persistent or not, each once."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule (children first) and on self, e.g. for a
        custom initialisation; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and state

    def train(self, mode: bool = True):
        """Training mode (Dropout drops, BatchNorm uses batch statistics) for every submodule."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        """Set ``requires_grad`` of every parameter; ``requires_grad_(False)`` freezes them."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop (or zero in place, with ``set_to_none=False``) every parameter's gradient."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad = Tensor._from_array(backend.array_module(p.grad.data).zeros_like(
                    p.grad.data))

    def num_parameters(self, trainable_only: bool = True) -> int:
        """Number of parameter elements (only those with requires_grad, by default)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def to(self, device=None, dtype=None, non_blocking: bool = False):
        """Move (and/or cast) parameters and buffers in place; the Parameter objects stay the
        same, so an optimizer built earlier keeps updating them. Only floating-point tensors
        are cast by ``dtype``. PyTorch's forms: ``to("gpu")``, ``to(tc.float64)``,
        ``to("gpu", tc.float64)``, ``to(tensor)`` (its device and dtype). Returns self."""
        if isinstance(device, Tensor):
            device, dtype = device.device, device.dtype if dtype is None else dtype
        device, dtype = backend.device_and_dtype(device, dtype, "Module.to")
        if device is not None:
            device = backend.normalize_device(device)
            if device == backend.GPU:
                backend.require_gpu()
        if dtype is not None:
            dtype = backend.check_dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to: dtype must be a floating-point type, got {dtype}")
        for _, _, t in self._unique_state():
            _move_in_place(t, device, dtype)
            if t.grad is not None:
                _move_in_place(t.grad, device, dtype)
        return self

    def _unique_state(self):
        seen = set()
        for kind, name, t in self._named_state():
            if id(t) not in seen:
                seen.add(id(t))
                yield kind, name, t

    def cpu(self):
        """Move parameters and buffers to the CPU in place: ``to("cpu")``."""
        return self.to("cpu")

    def gpu(self):
        """Move parameters and buffers to the GPU in place: ``to("gpu")``; also ``cuda()``."""
        return self.to("gpu")

    cuda = gpu

    def double(self):
        """Cast floating-point parameters and buffers to float64 in place."""
        return self.to(dtype=backend.float64)

    def float(self):
        """Cast floating-point parameters and buffers to float32 in place."""
        return self.to(dtype=backend.float32)

    def half(self):
        """Cast floating-point parameters and buffers to float16 in place."""
        return self.to(dtype=backend.float16)

    def state_dict(self) -> OrderedDict:
        """Parameters and persistent buffers by dotted name, as detached Tensors that share
        memory with the module (copy them if you need a snapshot that training will not
        change)."""
        out = OrderedDict()
        for kind, name, t in self._named_state():
            if kind in ("param", "buffer"):
                out[name] = Tensor._from_array(t.data)
        return out

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values into the parameters and buffers, in place and onto their device.

        ``state_dict`` maps dotted names to Tensors or arrays. A value whose shape or dtype
        differs from the module's raises, naming the key and both shapes (dtypes). With
        ``strict`` (the default) missing or unexpected keys raise too, listing all of them;
        otherwise they are returned as ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a dict, got {type(state_dict).__name__}")
        own = OrderedDict(
            (name, t) for kind, name, t in self._named_state() if kind in ("param", "buffer")
        )
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        name = type(self).__name__
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("missing key(s): " + ", ".join(repr(k) for k in missing))
            if unexpected:
                parts.append("unexpected key(s): " + ", ".join(repr(k) for k in unexpected))
            raise KeyError(f"error loading state_dict into {name}: " + "; ".join(parts))
        # lazy layers (nn.LazyLinear, ...) not called yet take their shapes from the checkpoint
        for prefix, module in self.named_modules():
            materialize = getattr(module, "materialize_from_state_dict", None)
            if materialize is not None:
                materialize(_join(prefix, ""), state_dict)
        updates = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = value.data if isinstance(value, Tensor) else value
            if not hasattr(array, "shape"):
                array = backend.host_array(array)
            if tuple(array.shape) != target.shape:
                raise backend.ShapeError(
                    f"error loading state_dict into {name}: size mismatch for '{key}': the "
                    f"checkpoint has shape {tuple(array.shape)}, the model has {target.shape}"
                )
            if array.dtype != target.dtype:
                raise TypeError(
                    f"error loading state_dict into {name}: dtype mismatch for '{key}': the "
                    f"checkpoint has {array.dtype}, the model has {target.dtype} "
                    "(convert the model with .to(dtype=...) or the checkpoint first)"
                )
            updates.append((target, array))
        # every check passed: now copy, so a failed load leaves the module unchanged
        with no_grad():
            for target, array in updates:
                target.data[...] = backend.to_device(array, target.device)
                target._changed_in_place()
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ display

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (layers override it)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, child in self.named_children():
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_text}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}(" + (f"\n  {extra}" if extra else "")
        return head + "\n" + "\n".join(lines) + "\n)"

    def summary(self, input_shape, **kwargs):
        """Print a layer table for one input of ``input_shape``; see ``tinygrad_cnn.summary``."""
        from tinygrad_cnn.summary import summary  # noqa: PLC0415 - summary builds on nn

        return summary(self, input_shape, **kwargs)


def _move_in_place(t: Tensor, device, dtype) -> None:
    data = t.data
    if device is not None and backend.device_of(data) != device:
        data = backend.to_device(data, device)
    if dtype is not None and data.dtype.kind == "f" and data.dtype != dtype:
        data = data.astype(dtype)
    t.data = data
