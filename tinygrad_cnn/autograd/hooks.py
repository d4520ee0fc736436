"""Hooks: functions the user registers on a tensor's gradient (``Tensor.register_hook``) or on a
module's forward (``Module.register_forward_hook``), and the handle that removes one."""

from __future__ import annotations

import itertools

_keys = itertools.count()  # one sequence for every hook dict: a removed key is never reused


class RemovableHandle:
    """Returned by ``register_hook`` and ``register_forward_hook``; ``handle.remove()``
    unregisters the hook (again: nothing)."""

    def __init__(self, hooks: dict, key: int):
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        """Unregister the hook (nothing if it is gone already)."""
        self._hooks.pop(self._key, None)


def add_hook(hooks: dict, hook) -> RemovableHandle:
    """Put ``hook`` last in ``hooks`` (called in insertion order) under a fresh key."""
    key = next(_keys)
    hooks[key] = hook
    return RemovableHandle(hooks, key)


def run_grad_hooks(hooks: dict, grad):
    """``grad`` (a Tensor) passed through each of a tensor's gradient hooks in order: a Tensor a
    hook returns replaces it (same shape), None keeps it."""
    from tinygrad_cnn.tensor import Tensor  # noqa: PLC0415 - tensor imports the engine

    for hook in list(hooks.values()):
        result = hook(grad)
        if result is None:
            continue
        if not isinstance(result, Tensor):
            raise TypeError(f"register_hook: a hook must return a Tensor or None, got "
                            f"{type(result).__name__}")
        if result.shape != grad.shape:
            raise RuntimeError(f"register_hook: a hook returned a gradient of shape "
                               f"{result.shape} for a tensor of shape {grad.shape}")
        grad = result
    return grad
