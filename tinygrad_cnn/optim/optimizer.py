"""Optimizer: parameter groups, per-parameter state, and a state_dict that resumes bit for bit.

Subclasses implement ``step()`` on backend arrays: ``xp = backend.array_module(p.data)`` picks
NumPy or CuPy, so one update rule serves both devices. Updates write into ``p.data`` in place and
record no graph; gradients are read, never written (autograd may share one gradient array between
several tensors).
"""

from __future__ import annotations

import copy
import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.grad_mode import enable_grad
from tinygrad_cnn.tensor import Tensor

_STEP = "step"  # the one state entry that is a Python int rather than a tensor


class Optimizer:
    """Base class: ``Optimizer(params, defaults)``.

    ``params`` is an iterable of Tensors that require grad, or an iterable of dicts (parameter
    groups) each with a ``"params"`` entry and optional per-group options that override
    ``defaults``. ``state[p]`` holds the per-parameter buffers (Tensors on ``p``'s device) and
    ``param_groups`` the groups with every option filled in.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict] = {}
        self.param_groups: list[dict] = []
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params should be an iterable of Tensors or dicts, but got a single "
                "Tensor; wrap it in a list: [tensor]"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(_SET_MESSAGE)
        params = list(params)
        if len(params) == 0:
            raise ValueError(f"{name} got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    # ------------------------------------------------------------------ groups

    def add_param_group(self, param_group: dict) -> None:
        """Add a group ``{"params": [...], option: value, ...}``; missing options take defaults."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(
                f"{name}: a parameter group must be a dict, got {type(param_group).__name__}"
            )
        if "params" not in param_group:
            raise ValueError(f"{name}: parameter group {len(self.param_groups)} has no 'params'")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(_SET_MESSAGE)
        else:
            params = list(params)
        index = len(self.param_groups)
        if len(params) == 0:
            raise ValueError(f"{name}: parameter group {index} has an empty parameter list")
        for i, p in enumerate(params):
            where = f"{name}: parameter {i} of group {index}"
            if not isinstance(p, Tensor):
                raise TypeError(f"{where} is a {type(p).__name__}, not a Tensor")
            if not p.requires_grad:
                raise ValueError(
                    f"{where} (shape {p.shape}) does not require grad; optimize only trainable "
                    "tensors (e.g. filter on p.requires_grad)"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"{where} (shape {p.shape}) is not a leaf tensor: it was produced by an "
                    "operation; optimize the leaf it was computed from"
                )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if id(p) in seen:
                raise ValueError(
                    f"{name}: parameter {i} of group {index} (shape {p.shape}) appears in more "
                    "than one parameter group (or twice in one)"
                )
            seen.add(id(p))
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_hyperparameters(group, f"{name} (group {index})")
        self.param_groups.append(group)

    def _check_hyperparameters(self, group: dict, where: str) -> None:
        """Raise ValueError naming the option and value when one is out of range (subclasses)."""
        lr = group.get("lr")
        if not isinstance(lr, numbers.Real) or isinstance(lr, bool) or not lr > 0:
            raise ValueError(f"{where}: invalid learning rate lr={lr!r}, expected a number > 0")

    # ------------------------------------------------------------------ step

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every gradient: ``.grad = None``, or fresh zeros with ``set_to_none=False``."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    # a fresh array: the old one may be shared with another tensor's gradient
                    g = p.grad.data
                    p.grad = Tensor._from_array(backend.array_module(g).zeros_like(g))

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    state = self._state_for(p)
                    if not self._fused_update(p, state, group):
                        self._update(p, gradient(p, group["maximize"]), state, group)
                    p._changed_in_place()  # a graph built before the step cannot backward now
        return loss

    def _fused_update(self, p: Tensor, state: dict, group: dict) -> bool:
        """The same update as ``_update`` in one CUDA kernel (tinygrad_cnn.cuda.optim), where
        ``cuda.enabled_for`` the data's array module and the arrays suit it; returns whether it
        ran (False: ``_update`` runs instead). Subclasses with a kernel override it."""
        return False

    def _update(self, p: Tensor, g, state: dict, group: dict) -> None:
        """The update rule: change ``p.data`` in place given its gradient array ``g`` (never to
        be written to), its ``state`` dict and its param ``group``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _update()")

    def _evaluate(self, closure):
        """Run the closure (it re-evaluates the loss and calls backward) with grad mode on."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _state_for(self, p: Tensor) -> dict:
        """``state[p]``, its tensors moved to ``p``'s device if the parameter moved since."""
        state = self.state.setdefault(p, {})
        for key, value in state.items():
            if (isinstance(value, Tensor) and type(value.data) is not type(p.data)
                    and value.device != p.device):
                state[key] = Tensor._from_array(backend.to_device(value.data, p.device))
        return state

    # ------------------------------------------------------------------ state_dict

    def state_dict(self) -> dict:
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index]}]}``.

        Parameters are numbered across groups in order, as in PyTorch, so the dict can be loaded
        into a new optimizer built over new parameter tensors. State tensors are copies (a
        snapshot), unlike PyTorch, which returns references to the live buffers.
        """
        index_of, groups = {}, []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
                packed["params"].append(index_of[id(p)])
            groups.append(packed)
        state = {}
        for p, entries in self.state.items():
            if id(p) in index_of:
                state[index_of[id(p)]] = {k: _snapshot(v) for k, v in entries.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore options and state saved by ``state_dict()`` into this optimizer's parameters.

        Groups must match in number and size. State tensors are copied onto each parameter's
        device and cast to its floating dtype.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            keys = sorted(map(str, state_dict)) if isinstance(state_dict, dict) else None
            raise ValueError(
                f"{name}.load_state_dict: expected a dict with keys 'state' and 'param_groups', "
                f"got {keys if keys is not None else type(state_dict).__name__}"
            )
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the saved state has {len(saved_groups)} parameter "
                f"groups but this optimizer has {len(self.param_groups)}"
            )
        param_of = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: saved group {i} has {len(saved['params'])} "
                    f"parameters but this optimizer's group {i} has {len(group['params'])}"
                )
            for index, p in zip(saved["params"], group["params"], strict=True):
                param_of[index] = p
        new_state = {}
        for index, entries in state_dict["state"].items():
            if index not in param_of:
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter index {index!r}, which no "
                    "saved parameter group lists"
                )
            p = param_of[index]
            new_state[p] = {k: _restore(v, p, k, f"{name}.load_state_dict: state[{index}]")
                            for k, v in entries.items()}
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            options = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            new_groups.append({**options, "params": group["params"]})
        self.state = new_state
        self.param_groups = new_groups


_SET_MESSAGE = (
    "optimizer parameters must be in an ordered collection (a list or tuple), not a set: a "
    "set's order changes between runs, which would scramble state_dict(); use a list"
)


def _snapshot(value):
    if isinstance(value, Tensor):
        return Tensor._from_array(value.data.copy())
    return copy.deepcopy(value)


def _restore(value, p: Tensor, key: str, where: str):
    """A copy of one saved state entry, on ``p``'s device and, for float tensors, in its dtype."""
    if key == _STEP:
        return int(value.item()) if isinstance(value, Tensor) else int(value)
    if isinstance(value, Tensor) or hasattr(value, "shape"):
        array = value.data if isinstance(value, Tensor) else value
        if tuple(array.shape) != p.shape:
            raise ValueError(
                f"{where}[{key!r}] has shape {tuple(array.shape)} but the parameter has shape "
                f"{p.shape}"
            )
        array = backend.to_device(array, p.device)
        if array.dtype.kind == "f":
            array = array.astype(p.dtype)  # astype copies, so the loaded dict stays untouched
        else:
            array = array.copy()
        return Tensor._from_array(array)
    return copy.deepcopy(value)


def check_nonnegative(value, name: str, where: str) -> None:
    """Raise ValueError unless ``value`` is a real number >= 0."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{where}: invalid {name}={value!r}, expected a number >= 0")


def check_betas(betas, where: str) -> None:
    """Raise ValueError unless ``betas`` is a pair of numbers in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        if not isinstance(beta, numbers.Real) or isinstance(beta, bool) or not 0 <= beta < 1:
            raise ValueError(f"{where}: invalid beta parameter at index {i}: {beta!r}, "
                             "expected 0 <= beta < 1")


def check_adam_hyperparameters(group: dict, where: str) -> None:
    """The Adam family's checks (Adam, AdamW, NAdam, RAdam, Adamax): eps >= 0, betas in [0, 1),
    weight_decay >= 0."""
    check_nonnegative(group["eps"], "epsilon value eps", where)
    check_betas(group["betas"], where)
    check_nonnegative(group["weight_decay"], "weight_decay", where)


def decay_weights(p: Tensor, g, lr: float, weight_decay: float, decoupled: bool):
    """Weight decay before an update: decoupled (AdamW's) shrinks ``p`` in place by
    ``1 - lr * weight_decay``; coupled adds ``weight_decay * p`` to the gradient. Returns the
    gradient to use (a new array when coupled; ``g`` is never written to)."""
    if weight_decay != 0:
        if decoupled:
            p.data *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * p.data
    return g


def update_moments(xp, g, m, v, beta1: float, beta2: float):
    """m = beta1 m + (1 - beta1) g and v = beta2 v + (1 - beta2) g**2, in place and in torch's
    order of operations (its lerp_ and addcmul_), through one temporary array, which is
    returned for the caller to reuse (its contents are spent)."""
    tmp = xp.subtract(g, m)
    tmp *= 1 - beta1
    m += tmp  # = beta1 * m + (1 - beta1) * g, as torch's lerp_
    xp.multiply(g, g, out=tmp)
    tmp *= 1 - beta2
    v *= beta2
    v += tmp
    return tmp


def gradient(p: Tensor, maximize: bool):
    """The array to descend along: ``p.grad`` (negated when maximizing), never written to."""
    g = p.grad.data
    return -g if maximize else g
