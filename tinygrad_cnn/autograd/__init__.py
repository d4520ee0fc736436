"""Reverse-mode autograd: the Function contract (function.py) and the graph walk (engine.py)."""
