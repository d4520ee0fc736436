"""Containers: Identity, Sequential, ModuleList and ModuleDict (PyTorch's), Modules that hold
other Modules in order under names ``"0"``, ``"1"``, ... (or the given keys), so their
parameters and ``state_dict`` keys (``features.0.weight``) follow that order; ParameterList and
ParameterDict hold Parameters the same way (``heads.0``, ``scales.alpha``).
"""

from __future__ import annotations

from collections import OrderedDict

from tinygrad_cnn.nn.module import Module, Parameter
from tinygrad_cnn.tensor import Tensor


class Identity(Module):
    """Returns its input unchanged (a placeholder layer); accepts and ignores any arguments."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class _Container(Module):
    """Shared storage of Sequential / ModuleList / ModuleDict: an ordered name -> module dict."""

    def __init__(self):
        super().__init__()
        object.__setattr__(self, "_modules", OrderedDict())

    def _members(self):
        return list(self._modules.items()) + super()._members()

    def _check(self, module, where: str) -> Module:
        if not isinstance(module, Module):
            raise TypeError(
                f"{type(self).__name__}{where}: expected an nn.Module, got {type(module).__name__}"
            )
        return module

    def __len__(self) -> int:
        return len(self._modules)


class _ModuleSequence(_Container):
    """What Sequential, ModuleList and ParameterList share: iteration over the members in order,
    append and extend (which returns the container, as PyTorch's)."""

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module):
        """Add ``module`` at the end (named by its position)."""
        self._modules[str(len(self._modules))] = self._check(module, ".append")
        return self

    def extend(self, modules):
        """Append each of ``modules`` in order."""
        for module in modules:
            self.append(module)
        return self
        return self


class Sequential(_ModuleSequence):
    """Modules applied in order: ``Sequential(m0, m1, ...)`` or ``Sequential(OrderedDict(...))``
    (named children). Supports ``seq[i]``, ``seq[a:b]`` (a Sequential), ``len``, iteration,
    ``append``."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for key, module in modules[0].items():
                self._modules[str(key)] = self._check(module, f"[{key!r}]")
        else:
            for i, module in enumerate(modules):
                self._modules[str(i)] = self._check(module, f" argument {i}")

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        try:
            return items[index][1]
        except IndexError:
            raise IndexError(
                f"Sequential index {index} is out of range for {len(items)} modules"
            ) from None

    def __setitem__(self, index: int, module: Module) -> None:
        key = list(self._modules)[index]
        self._modules[key] = self._check(module, f"[{index}]")


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters the parent module sees (no forward of its own)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _renumber(self, modules) -> None:
        self._modules.clear()
        for i, module in enumerate(modules):
            self._modules[str(i)] = module

    def __getitem__(self, index):
        values = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(values[index])
        try:
            return values[index]
        except IndexError:
            raise IndexError(
                f"ModuleList index {index} is out of range for {len(values)} modules"
            ) from None

    def __setitem__(self, index: int, module: Module) -> None:
        values = list(self._modules.values())
        values[index] = self._check(module, f"[{index}]")
        self._renumber(values)

    def __delitem__(self, index) -> None:
        values = list(self._modules.values())
        del values[index]
        self._renumber(values)

    def insert(self, index: int, module: Module) -> None:
        """Put ``module`` before position ``index`` (as ``list.insert``); names are renumbered."""
        values = list(self._modules.values())
        values.insert(index, self._check(module, ".insert"))
        self._renumber(values)

    def forward(self, *args, **kwargs):
        """Not defined: a ModuleList raises NotImplementedError; iterate over it instead."""
        raise NotImplementedError("ModuleList has no forward(); iterate over it in your forward")


class _KeyedContainer(_Container):
    """What ModuleDict and ParameterDict share: string keys (no '.'), insertion order, and the
    dict methods; the members are checked by the class's ``_check``."""

    def __getitem__(self, key: str):
        try:
            return self._modules[key]
        except KeyError:
            raise KeyError(
                f"{type(self).__name__} has no key {key!r}; keys are {list(self._modules)}"
            ) from None

    def __setitem__(self, key: str, value) -> None:
        if not isinstance(key, str) or "." in key or not key:
            raise KeyError(f"{type(self).__name__} keys must be non-empty strings without '.', "
                           f"got {key!r}")
        self._modules[key] = self._check(value, f"[{key!r}]")

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        """The keys, in insertion order."""
        return self._modules.keys()

    def values(self):
        """The members, in insertion order."""
        return self._modules.values()

    def items(self):
        """(key, member) pairs, in insertion order."""
        return self._modules.items()

    def get(self, key: str, default=None):
        """The member at ``key``, or ``default``."""
        return self._modules.get(key, default)

    def pop(self, key: str):
        """Remove the member at ``key`` and return it (a KeyError naming the keys when there is
        none)."""
        value = self[key]  # the KeyError that lists the keys
        del self._modules[key]
        return value

    def clear(self) -> None:
        """Remove every member."""
        self._modules.clear()

    def update(self, members) -> None:
        """Set each (key, member) of a mapping or of an iterable of pairs, in order."""
        items = members.items() if hasattr(members, "items") else members
        for key, value in items:
            self[key] = value


class ModuleDict(_KeyedContainer):
    """A dict of modules (string keys, insertion order) whose parameters the parent sees."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def forward(self, *args, **kwargs):
        """Not defined: a ModuleDict raises NotImplementedError; index it instead."""
        raise NotImplementedError("ModuleDict has no forward(); index it in your forward")


# ---------------------------------------------------------------------- parameter containers
# They keep their Parameters in the same ordered dict as the module containers (``_modules``,
# which _Container walks); the walk registers Parameters as parameters, so named_parameters,
# state_dict, to(device) and load_state_dict see them under "0", "1", ... or their keys.


class _ParameterContainer(_Container):
    def _check(self, value, where: str) -> Parameter:
        """A Parameter as it is; a plain Tensor wrapped in one (as PyTorch does)."""
        if isinstance(value, Parameter):
            return value
        if isinstance(value, Tensor):
            return Parameter(value)
        raise TypeError(f"{type(self).__name__}{where}: expected an nn.Parameter or a Tensor, "
                        f"got {type(value).__name__}")

    def __repr__(self) -> str:
        lines = [f"  ({key}): Parameter containing: [{p.dtype} of shape {p.shape}"
                 f"{'' if p.device == 'cpu' else ' on ' + p.device}]"
                 for key, p in self._modules.items()]
        return f"{type(self).__name__}(" + "".join(f"\n{line}" for line in lines) + (
            "\n)" if lines else ")")


class ParameterList(_ModuleSequence, _ParameterContainer):
    """A list of Parameters whose parent module registers them (``heads.0``, ``heads.1``);
    Tensors are wrapped in Parameters. ``append``, ``extend``, indexing, iteration, ``len``."""

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def __getitem__(self, index):
        values = list(self._modules.values())
        if isinstance(index, slice):
            return ParameterList(values[index])
        try:
            return values[index]
        except IndexError:
            raise IndexError(
                f"ParameterList index {index} is out of range for {len(values)} parameters"
            ) from None

    def __setitem__(self, index: int, param) -> None:
        key = list(self._modules)[index]   # the IndexError of a list
        self._modules[key] = self._check(param, f"[{index}]")

    def __iadd__(self, values):
        return self.extend(values)


class ParameterDict(_KeyedContainer, _ParameterContainer):
    """A dict of Parameters (string keys, insertion order) whose parent module registers them
    (``scales.alpha``); Tensors are wrapped in Parameters."""

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)
