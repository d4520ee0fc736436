"""Record one forward pass as a list of op calls: which Function ran, on which values.

While ``recording()`` is active, every ``Function.apply`` in this process goes through
``Recorder.apply`` (the base class's ``apply`` is swapped for the duration, and restored after,
so that training pays nothing for export). A call whose Tensor inputs all come from constants
(parameters, buffers, numbers) is a constant itself and is not recorded: BatchNorm's
``sqrt(running_var + eps)`` becomes one initializer. Forward hooks on every submodule keep the
name of the module an op runs in, for error messages.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.tensor import Tensor


@dataclass
class Call:
    """One recorded op: ``op`` (the Function class), its positional arguments (Tensors or plain
    values), keyword arguments, the output Tensor and the module it ran in."""

    op: type
    args: tuple
    kwargs: dict
    output: Tensor
    module: str


@dataclass
class Recording:
    calls: list = field(default_factory=list)
    traced: set = field(default_factory=set)  # ids of Tensors computed from the graph input
    keep: list = field(default_factory=list)  # every Tensor seen, alive so that ids stay unique
    modules: list = field(default_factory=lambda: ["the model"])


_active: Recording | None = None
_plain_apply = Function.__dict__["apply"]


def _recording_apply(cls, *args, **kwargs):
    out = _plain_apply.__func__(cls, *args, **kwargs)
    rec = _active
    if rec is None:
        return out
    inputs = [a for a in args if isinstance(a, Tensor)]
    if any(id(t) in rec.traced for t in inputs):
        rec.traced.add(id(out))
        rec.keep.extend(inputs + [out])
        rec.calls.append(Call(cls, args, dict(kwargs), out, rec.modules[-1]))
    return out


@contextlib.contextmanager
def recording(model, example: Tensor):
    """Record the ops of ``model(example)`` inside the block; yields the Recording."""
    global _active
    if _active is not None:
        raise RuntimeError("onnx export: another export is running in this process")
    rec = Recording()
    rec.traced.add(id(example))
    rec.keep.append(example)
    handles = []
    for name, module in model.named_modules():
        label = f"{type(module).__name__} '{name}'" if name else type(module).__name__

        def enter(mod, inputs, label=label):
            rec.modules.append(label)

        def leave(mod, inputs, output):
            rec.modules.pop()

        handles.append(module.register_forward_pre_hook(enter))
        handles.append(module.register_forward_hook(leave))
    _active = rec
    Function.apply = classmethod(_recording_apply)
    try:
        yield rec
    finally:
        Function.apply = _plain_apply
        _active = None
        for h in handles:
            h.remove()
