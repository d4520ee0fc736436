"""Grad mode: whether operations record a graph for backward."""

from __future__ import annotations

import contextlib

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad record the graph."""
    return _grad_enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Turn graph recording on or off inside a ``with`` block or a decorated function."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.previous = None

    def _recreate_cm(self):
        # a decorated function may recurse or run in parallel: give each call its own state
        return set_grad_enabled(self.mode)

    def __enter__(self):
        global _grad_enabled
        self.previous = _grad_enabled
        _grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.previous
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
