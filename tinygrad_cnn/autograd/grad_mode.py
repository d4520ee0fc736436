"""Grad mode: whether operations record a graph for backward.

The mode is per thread, as in PyTorch: ``no_grad`` in one thread (or the engine switching
recording off inside ``backward``) never changes what another thread records. A new thread
starts with recording on.
"""

from __future__ import annotations

import contextlib
import threading

_state = threading.local()  # .enabled: this thread's mode (absent: True, the default)


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad record the graph (in this thread)."""
    return getattr(_state, "enabled", True)


def _set(mode: bool) -> None:
    _state.enabled = mode


class set_grad_enabled(contextlib.ContextDecorator):
    """Turn graph recording on or off inside a ``with`` block or a decorated function, in the
    calling thread only."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.previous = None

    def _recreate_cm(self):
        # a decorated function may recurse or run in parallel: give each call its own state
        return set_grad_enabled(self.mode)

    def __enter__(self):
        self.previous = is_grad_enabled()
        _set(self.mode)
        return self

    def __exit__(self, *exc):
        _set(self.previous)
        return False


class no_grad(set_grad_enabled):
    """Context manager and decorator (``@no_grad()`` or ``@no_grad``): operations inside record
    no graph (inference, parameter updates)."""

    def __new__(cls, func=None):
        if func is not None:  # used bare as @no_grad
            return cls()(func)
        return super().__new__(cls)

    def __init__(self, func=None):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Context manager and decorator (``@enable_grad()`` or ``@enable_grad``): record the graph
    again inside a ``no_grad`` block."""

    def __new__(cls, func=None):
        if func is not None:  # used bare as @enable_grad
            return cls()(func)
        return super().__new__(cls)

    def __init__(self, func=None):
        super().__init__(True)


class inference_mode(set_grad_enabled):
    """PyTorch's ``inference_mode``: ``no_grad`` for inference (``with tc.inference_mode():``,
    ``@tc.inference_mode()`` or bare ``@tc.inference_mode``). ``inference_mode(False)`` leaves
    the mode as it is. Tensors made inside are ordinary tensors (PyTorch's inference tensors,
    which refuse later use in autograd, have no counterpart here)."""

    def __new__(cls, mode=True):
        if callable(mode):  # used bare as @inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode=True):
        super().__init__(False)
        self.active = bool(mode)

    def _recreate_cm(self):
        return inference_mode(self.active)

    def __enter__(self):
        self.previous = is_grad_enabled()
        if self.active:
            _set(False)
        return self
