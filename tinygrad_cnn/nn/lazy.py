"""LazyLinear and LazyConv2d: in_features / in_channels inferred from the first input, as
PyTorch's lazy modules.

    model = nn.Sequential(nn.Conv2d(3, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.LazyLinear(2))          # no 32*30*30 worked out by hand
    model(tc.zeros(1, 3, 64, 64))                    # the first call creates the weight

Until the first call the weight and bias are ``UninitializedParameter``s: real Parameters holding
an empty (0,) array (``numel() == 0``), so ``parameters()``, ``to()``, ``double()`` and an
optimizer built before the call all work. The first call (or loading a state_dict that holds
the weight) gives them their shape **in place** (the same Parameter objects, so an optimizer
built earlier keeps updating them), initialises them as the eager layer does, and turns the
layer into that layer (``LazyLinear`` becomes ``Linear``), as PyTorch's ``cls_to_become``.
"""

from __future__ import annotations

from tinygrad_cnn import backend
from tinygrad_cnn.nn.layers import Conv2d, Linear
from tinygrad_cnn.nn.module import Module, Parameter
from tinygrad_cnn.tensor import Tensor


class UninitializedParameter(Parameter):
    """A Parameter whose shape is not known yet: it holds an empty (0,) array of its dtype and
    device until ``materialize(shape)`` gives it a zero-filled array of that shape and turns it
    into a plain Parameter (the object stays the same)."""

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        dtype = backend.DEFAULT_FLOAT if dtype is None else backend.check_dtype(dtype)
        super().__init__(Tensor(backend.host_array([], dtype=dtype), device=device),
                         requires_grad)

    def materialize(self, shape) -> None:
        """Give it a zero-filled array of ``shape`` (same dtype and device) and make it a plain
        Parameter, in place; its gradient is dropped."""
        xp = backend.array_module(self.data)
        self.data = xp.zeros(tuple(int(n) for n in shape), dtype=self.data.dtype)
        self.grad = None
        self.__class__ = Parameter

    def __repr__(self) -> str:
        return f"<UninitializedParameter(dtype={self.dtype}, device={self.device!r})>"


def _uninitialized(module: Module) -> bool:
    return any(isinstance(p, UninitializedParameter) for p in module.parameters(recurse=False))


class _LazyMixin:
    """The first call infers the input size, gives the parameters their shapes and initialises
    them; ``load_state_dict`` does the same from the checkpoint's weight shape."""

    cls_to_become: type = Module

    def has_uninitialized_params(self) -> bool:
        return _uninitialized(self)

    def reset_parameters(self) -> None:
        # nothing to draw before the shapes are known (the random stream stays as PyTorch's)
        if not self.__dict__.get("_building") and not _uninitialized(self):
            super().reset_parameters()

    def _materialize(self, in_size: int) -> None:
        raise NotImplementedError

    def initialize_parameters(self, x: Tensor) -> None:
        """Give the parameters their shapes from the input ``x`` and initialise them."""
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        if _uninitialized(self) and args:
            self.initialize_parameters(args[0])   # self is now a cls_to_become (no super())
        return Module.__call__(self, *args, **kwargs)

    def _finish(self) -> None:
        self.reset_parameters()
        self.__class__ = self.cls_to_become

    def materialize_from_state_dict(self, prefix: str, state_dict) -> None:
        """Before the first call, take the input size from ``state_dict[prefix + 'weight']``
        (called by Module.load_state_dict, so a checkpoint loads into a fresh lazy model)."""
        weight = state_dict.get(prefix + "weight")
        if weight is not None and _uninitialized(self) and len(weight.shape) >= 2:
            self._materialize(int(weight.shape[1]) * getattr(self, "groups", 1))
            self._finish()


class LazyLinear(_LazyMixin, Linear):
    """Linear(in_features, out_features) with in_features = the last dim of the first input:
    (*, in) -> (*, out_features). Becomes a ``Linear`` after the first call."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features = 0
        self.out_features = int(out_features)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.bias = UninitializedParameter(device=device, dtype=dtype) if bias else None

    def initialize_parameters(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.ndim == 0:
            raise ValueError(f"{type(self).__name__}(out_features={self.out_features}): expected "
                             f"an input (*, in_features), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        self._materialize(x.shape[-1])
        self._finish()

    def _materialize(self, in_size: int) -> None:
        self.in_features = int(in_size)
        self.weight.materialize((self.out_features, self.in_features))
        if self.bias is not None:
            self.bias.materialize((self.out_features,))


class LazyConv2d(_LazyMixin, Conv2d):
    """Conv2d with in_channels = dim 1 of the first (N, C, H, W) input; the other arguments
    are Conv2d's. Becomes a ``Conv2d`` after the first call."""

    cls_to_become = Conv2d

    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None,
                 dtype=None):
        # Conv2d checks every argument; in_channels = groups is a placeholder that passes them,
        # and its weight is replaced before anything is drawn for it (see reset_parameters)
        object.__setattr__(self, "_building", True)
        super().__init__(groups, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, device, dtype)
        object.__delattr__(self, "_building")
        self.in_channels = 0
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.bias = UninitializedParameter(device=device, dtype=dtype) if bias else None

    def initialize_parameters(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.ndim != 4:
            raise ValueError(f"{type(self).__name__}({self.out_channels}, kernel_size="
                             f"{self.kernel_size}): expected a 4-D input (N, C, H, W), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        self._materialize(x.shape[1])
        self._finish()

    def _materialize(self, in_size: int) -> None:
        if in_size % self.groups:
            raise ValueError(f"{type(self).__name__}: the input's {in_size} channels are not "
                             f"divisible by groups={self.groups}")
        self.in_channels = int(in_size)
        self.weight.materialize((self.out_channels, in_size // self.groups) + self.kernel_size)
        if self.bias is not None:
            self.bias.materialize((self.out_channels,))
