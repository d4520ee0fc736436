"""Everything a resume needs besides the weights: random generator states and where training
stands (epoch, batch, the epoch's running totals), and matching callbacks to their saved state.

A checkpoint taken at a consistent point of training and restored into the same setup continues
bit for bit as the uninterrupted run would have: the library's generator (dropout, init,
shuffling without a seed, augmentation without its own generator) and every NumPy Generator
reachable from the training DataLoader (its own ``generator``, transforms' ``seed``/``generator``)
are saved and restored.
"""

from __future__ import annotations

import types
import warnings

from tinygrad_cnn import backend
from tinygrad_cnn.tensor import Tensor

_MAX_ITEMS = 256  # longer lists/dicts (file lists, samples) are data, never a generator's home
_MAX_DEPTH = 8


def data_generators(root) -> list:
    """The random generators reachable from ``root`` (a DataLoader) by walking attributes,
    lists, tuples and dicts, in a fixed order; the library's own generator is left out (it is
    saved on its own)."""
    found, seen = [], set()
    library = backend.generator("cpu")

    def visit(obj, depth):
        if id(obj) in seen or depth > _MAX_DEPTH:
            return
        seen.add(id(obj))
        if backend.is_random_generator(obj):
            if obj is not library:
                found.append(obj)
            return
        if obj is None or isinstance(obj, (str, bytes, int, float, bool, Tensor, type,
                                           types.ModuleType)) \
                or backend.is_array(obj) or (callable(obj) and not hasattr(obj, "__dict__")):
            return
        if isinstance(obj, dict):
            if len(obj) <= _MAX_ITEMS:
                for value in obj.values():
                    visit(value, depth + 1)
            return
        if isinstance(obj, (list, tuple)):
            if len(obj) <= _MAX_ITEMS:
                for value in obj:
                    visit(value, depth + 1)
            return
        attributes = getattr(obj, "__dict__", None)
        if isinstance(attributes, dict):
            for value in list(attributes.values()):
                visit(value, depth + 1)

    visit(root, 0)
    return found


def rng_state(generators) -> dict:
    """The library generator's state and those of ``generators`` (plain data for tc.save)."""
    return {"library": backend.get_rng_state(),
            "data": [backend.random_generator_state(g) for g in generators]}


def set_rng_state(state: dict, generators, where: str) -> None:
    """Put back what ``rng_state`` returned (the library's generator and ``generators``)."""
    backend.set_rng_state(state["library"])
    saved = state.get("data", [])
    if len(saved) != len(generators):
        warnings.warn(f"{where}: the checkpoint has {len(saved)} random generators in its data "
                      f"pipeline but this DataLoader has {len(generators)}; their states are "
                      "not restored, so shuffling/augmentation will differ from the original run",
                      RuntimeWarning, stacklevel=3)
        return
    for g, s in zip(generators, saved, strict=True):
        backend.set_random_generator_state(g, s)


def callback_states(callbacks) -> list:
    """[{"type": class name, "state": ...}] for every callback that has state."""
    out = []
    for cb in callbacks:
        state = cb.state_dict()
        if state is not None:
            out.append({"type": type(cb).__name__, "state": state})
    return out


def load_callback_states(callbacks, states) -> None:
    """Give each callback the saved state of the same type and rank (the 2nd ModelCheckpoint
    gets the 2nd saved ModelCheckpoint state)."""
    by_type: dict[str, list] = {}
    for entry in states:
        by_type.setdefault(entry["type"], []).append(entry["state"])
    for cb in callbacks:
        saved = by_type.get(type(cb).__name__)
        if saved:
            cb.load_state_dict(saved.pop(0))


def checkpoint(trainer) -> dict:
    """The training state at ``trainer.position``, as ModelCheckpoint writes it: ``model``,
    ``optimizer``, ``epoch``, ``batch``, ``history``, ``callbacks``, ``rng`` and, for a position
    inside an epoch, what continuing it needs (``batches``, ``epoch_rng``, ``totals``)."""
    position = trainer.position
    if position is None:
        raise RuntimeError("checkpoint: training is in the middle of an update; its state is "
                           "not consistent")
    out = {
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "epoch": int(position["epoch"]),
        "batch": position["batch"],
        "history": trainer.history.to_dict(),
        "callbacks": callback_states(trainer.callbacks),
        "rng": position["rng"],
    }
    if position["batch"] is not None:
        out.update(batches=position["batches"], epoch_rng=position["epoch_rng"],
                   totals=position["totals"])
    return out
