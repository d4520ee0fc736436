"""Warm-up, composed, restarting and cyclical schedulers (PyTorch's), re-exported by
``tinygrad_cnn.optim.lr_scheduler``: LinearLR, ConstantLR, SequentialLR,
CosineAnnealingWarmRestarts, OneCycleLR, PolynomialLR, CyclicLR.

Each follows PyTorch 2.13's arithmetic (its recursive ``get_lr`` forms where PyTorch uses them),
so the lr sequences are the same floats step for step.
"""

from __future__ import annotations

import math
import numbers
import types
from bisect import bisect_right

from tinygrad_cnn.optim.lr_scheduler import LRScheduler, _copy
from tinygrad_cnn.optim.optimizer import Optimizer


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _positive_int(value, name: str, where: str) -> None:
    if not _is_int(value) or value <= 0:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")


def _check_optimizer(optimizer, where: str) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{where}: {type(optimizer).__name__} is not an Optimizer")


def _per_group(value, name: str, optimizer: Optimizer, where: str) -> list:
    """``value`` for every parameter group: a number, or a list/tuple with one per group."""
    n = len(optimizer.param_groups)
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise ValueError(f"{where}: {name} must have one value per parameter group ({n}), got "
                         f"{len(values)}")
    for v in values:
        if not _is_real(v):
            raise ValueError(f"{where}: {name} must be a number (or one per group), got {v!r}")
    return values


def _momentum_key(optimizer: Optimizer, where: str) -> bool:
    """Whether the optimizer keeps its momentum as ``betas[0]`` (Adam) rather than
    ``momentum`` (SGD, RMSprop); ValueError when it has neither."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError(f"{where}: cycle_momentum=True needs an optimizer with 'momentum' or "
                         f"'betas' (got {type(optimizer).__name__}); pass cycle_momentum=False")
    return "betas" in optimizer.defaults


def _set_momentum(group: dict, momentum: float, use_beta1: bool) -> None:
    if use_beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum


class ConstantLR(LRScheduler):
    """lr = base_lr * factor for epochs 0 .. total_iters-1, then base_lr.

    Applied as PyTorch does, to the current lr: times ``factor`` at epoch 0, times
    ``1 / factor`` at epoch ``total_iters``, unchanged otherwise.
    """

    def __init__(self, optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1):
        if not _is_real(factor) or not 0 < factor <= 1:
            raise ValueError(f"ConstantLR: factor must be a number in (0, 1], got {factor!r}")
        _positive_int(total_iters, "total_iters", "ConstantLR")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [group["lr"] * self.factor for group in groups]
        if self.last_epoch != self.total_iters:
            return [group["lr"] for group in groups]
        return [group["lr"] * (1.0 / self.factor) for group in groups]

    def _get_closed_form_lr(self):
        return [base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """lr = base_lr * (start_factor + (end_factor - start_factor) * min(epoch, total_iters)
    / total_iters): a linear warm-up (or decay) over ``total_iters`` epochs, then constant.

    Computed recursively from the current lr, as PyTorch does: at epoch 0 the lr is
    ``base_lr * start_factor``; at epoch e in 1 .. total_iters it is multiplied by
    ``1 + (end - start) / (total_iters * start + (e - 1) * (end - start))``.
    """

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not _is_real(start_factor) or not 0 < start_factor <= 1:
            raise ValueError(
                f"LinearLR: start_factor must be a number in (0, 1], got {start_factor!r}"
            )
        if not _is_real(end_factor) or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be a number in [0, 1], got {end_factor!r}")
        _positive_int(total_iters, "total_iters", "LinearLR")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return [group["lr"] for group in groups]
        delta = self.end_factor - self.start_factor
        ratio = 1.0 + delta / (self.total_iters * self.start_factor
                               + (self.last_epoch - 1) * delta)
        return [group["lr"] * ratio for group in groups]

    def _get_closed_form_lr(self):
        return [base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                           * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]


class PolynomialLR(LRScheduler):
    """lr = base_lr * (1 - min(epoch, total_iters) / total_iters) ** power: decays to 0 at epoch
    ``total_iters`` and stays there.

    Computed recursively, as PyTorch does: from epoch 1 to total_iters the current lr is
    multiplied by ``((1 - e / total_iters) / (1 - (e - 1) / total_iters)) ** power``.
    """

    def __init__(self, optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1):
        _positive_int(total_iters, "total_iters", "PolynomialLR")
        if not _is_real(power) or not power >= 0:
            raise ValueError(f"PolynomialLR: power must be a number >= 0, got {power!r}")
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        groups = self.optimizer.param_groups
        if self._is_initial or self.last_epoch > self.total_iters:
            return [group["lr"] for group in groups]
        decay = ((1.0 - self.last_epoch / self.total_iters)
                 / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [group["lr"] * decay for group in groups]

    def _get_closed_form_lr(self):
        return [base_lr * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters)
                ** self.power for base_lr in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run ``schedulers[i]`` from ``milestones[i-1]`` (0 for the first) until the next
    milestone: lr = schedulers[i]'s lr at (epoch - milestones[i-1]).

    The children must be built on the same optimizer, before this one; building SequentialLR
    resets every group's lr to ``initial_lr``, undoes the children's first steps and takes the
    first one's again. At a milestone the next child restarts at its epoch 0 (its closed form
    when it has one, as in PyTorch). ``state_dict()`` holds the children's state dicts.
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch: int = -1):
        _check_optimizer(optimizer, "SequentialLR")
        schedulers, milestones = list(schedulers), list(milestones)
        if len(schedulers) < 1:
            raise ValueError("SequentialLR: schedulers must hold at least one scheduler, got 0")
        for i, scheduler in enumerate(schedulers):
            if not isinstance(scheduler, LRScheduler):
                raise TypeError(f"SequentialLR: schedulers[{i}] is a {type(scheduler).__name__}, "
                                "not an LRScheduler (ReduceLROnPlateau cannot be sequenced)")
            if scheduler.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: schedulers[{i}] ({type(scheduler).__name__}) "
                                 "belongs to another optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expected {len(schedulers) - 1} milestones (one fewer "
                             f"than the {len(schedulers)} schedulers), got {len(milestones)}")
        for i, m in enumerate(milestones):
            if not _is_int(m) or m < 0 or (i > 0 and m < milestones[i - 1]):
                raise ValueError("SequentialLR: milestones must be non-decreasing ints >= 0, got "
                                 f"{milestones!r}")
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._recursive_undo()
        idx = bisect_right(milestones, 0)
        schedulers[idx]._initial_step()
        self._last_lr = schedulers[idx].get_last_lr()

    def _recursive_undo(self, scheduler=None) -> None:
        """Take back the first step that each (nested) child's constructor took."""
        scheduler = self if scheduler is None else scheduler
        if hasattr(scheduler, "_schedulers"):
            for child in scheduler._schedulers:
                self._recursive_undo(child)
        elif hasattr(scheduler, "last_epoch"):
            scheduler.last_epoch -= 1

    def step(self) -> None:
        """Advance one epoch with the child whose interval holds the new epoch."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict:
        """Own attributes (not the optimizer) plus each child's ``state_dict()``."""
        state = {k: _copy(v) for k, v in self.__dict__.items()
                 if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore own attributes and every child's state (the dict is not modified)."""
        state_dict = dict(state_dict)
        children = state_dict.pop("_schedulers")
        if len(children) != len(self._schedulers):
            raise ValueError(f"SequentialLR.load_state_dict: the saved state has "
                             f"{len(children)} schedulers, this one {len(self._schedulers)}")
        super().load_state_dict(state_dict)
        for scheduler, child in zip(self._schedulers, children, strict=True):
            scheduler.load_state_dict(child)


class CosineAnnealingWarmRestarts(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2 (SGDR).

    ``T_cur`` counts the epochs since the last restart; when it reaches ``T_i`` the lr restarts
    at base_lr and ``T_i`` becomes ``T_i * T_mult`` (``T_i`` = T_0 at first). ``step()`` takes
    no epoch (PyTorch's fractional ``step(epoch + i / iters)`` is not supported).
    """

    def __init__(self, optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1):
        _positive_int(T_0, "T_0", "CosineAnnealingWarmRestarts")
        if not _is_int(T_mult) or T_mult < 1:
            raise ValueError(
                f"CosineAnnealingWarmRestarts: T_mult must be an int >= 1, got {T_mult!r}"
            )
        if not _is_real(eta_min) or not eta_min >= 0:
            raise ValueError(
                f"CosineAnnealingWarmRestarts: eta_min must be a number >= 0, got {eta_min!r}"
            )
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [self.eta_min + (base_lr - self.eta_min)
                * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base_lr in self.base_lrs]

    def step(self) -> None:
        """Advance one epoch: ``T_cur += 1``, restarting (and growing ``T_i``) at ``T_i``."""
        self._step_count += 1
        if self.last_epoch < 0:
            epoch = 0
            self.T_i = self.T_0
            self.T_cur = 0
        else:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        self.last_epoch = epoch
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class OneCycleLR(LRScheduler):
    """The 1cycle policy, one ``step()`` per batch for ``total_steps`` (or
    ``epochs * steps_per_epoch``) steps.

    With initial_lr = max_lr / div_factor and min_lr = initial_lr / final_div_factor, the lr
    anneals from initial_lr up to max_lr over the first ``pct_start * total_steps - 1`` steps,
    then down to min_lr at step ``total_steps - 1``; ``three_phase=True`` goes back down to
    initial_lr symmetrically first and only then to min_lr. Annealing from a to b over a phase,
    at fraction p of it: ``cos``: b + (a - b) / 2 * (1 + cos(pi * p)); ``linear``: a + (b - a) * p.
    With ``cycle_momentum`` the momentum (``betas[0]`` for Adam) anneals inversely between
    ``max_momentum`` and ``base_momentum``. Stepping past ``total_steps`` raises ValueError.
    """

    def __init__(self, optimizer, max_lr, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1):
        where = "OneCycleLR"
        _check_optimizer(optimizer, where)
        self.optimizer = optimizer
        if total_steps is not None:
            _positive_int(total_steps, "total_steps", where)
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            _positive_int(epochs, "epochs", where)
            _positive_int(steps_per_epoch, "steps_per_epoch", where)
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError(f"{where}: pass total_steps, or both epochs and steps_per_epoch")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"{where}: pct_start must be a float in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"{where}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if not _is_real(value) or not value > 0:
                raise ValueError(f"{where}: {name} must be a number > 0, got {value!r}")
        if three_phase:
            self._schedule_phases = [
                {"end_step": float(pct_start * self.total_steps) - 1, "start_lr": "initial_lr",
                 "end_lr": "max_lr", "start_momentum": "max_momentum",
                 "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * self.total_steps) - 2, "start_lr": "max_lr",
                 "end_lr": "initial_lr", "start_momentum": "base_momentum",
                 "end_momentum": "max_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"},
            ]
        else:
            self._schedule_phases = [
                {"end_step": float(pct_start * self.total_steps) - 1, "start_lr": "initial_lr",
                 "end_lr": "max_lr", "start_momentum": "max_momentum",
                 "end_momentum": "base_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            ]
        self._anneal_func_type = anneal_strategy
        max_lrs = _per_group(max_lr, "max_lr", optimizer, where)
        for v in max_lrs:
            if not v > 0:
                raise ValueError(f"{where}: max_lr must be > 0, got {v!r}")
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            self.use_beta1 = _momentum_key(optimizer, where)
            max_momentums = _per_group(max_momentum, "max_momentum", optimizer, where)
            base_momentums = _per_group(base_momentum, "base_momentum", optimizer, where)
        if last_epoch == -1:
            for i, group in enumerate(optimizer.param_groups):
                group["initial_lr"] = max_lrs[i] / div_factor
                group["max_lr"] = max_lrs[i]
                group["min_lr"] = group["initial_lr"] / final_div_factor
                if self.cycle_momentum:
                    _set_momentum(group, max_momentums[i], self.use_beta1)
                    group["max_momentum"] = max_momentums[i]
                    group["base_momentum"] = base_momentums[i]
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _anneal(kind: str, start: float, end: float, pct: float) -> float:
        if kind == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {step_num} times, past total_steps="
                             f"{self.total_steps}")
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == last:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lr = self._anneal(self._anneal_func_type, group[phase["start_lr"]],
                                      group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal(self._anneal_func_type,
                                                group[phase["start_momentum"]],
                                                group[phase["end_momentum"]], pct)
                        _set_momentum(group, momentum, self.use_beta1)
                    break
                start_step = phase["end_step"]
            lrs.append(lr)
        return lrs


class CyclicLR(LRScheduler):
    """Cyclical learning rates (CLR), one ``step()`` per batch.

    With cycle = floor(1 + t / (up + down)), x = 1 + t / (up + down) - cycle and
    r = up / (up + down): scale = x / r while x <= r, else (x - 1) / (r - 1); then
    lr = base_lr + (max_lr - base_lr) * scale * f, where f is 1 (``triangular``),
    1 / 2 ** (cycle - 1) (``triangular2``), gamma ** t (``exp_range``) or ``scale_fn`` of the
    cycle (``scale_mode="cycle"``) or of t (``"iterations"``). With ``cycle_momentum`` the
    momentum (``betas[0]`` for Adam) = max_momentum - (max_momentum - base_momentum) * scale * f.
    The constructor sets every group's lr to ``base_lr``. ``state_dict()`` does not store a
    plain-function ``scale_fn`` (a callable object's ``__dict__`` is stored).
    """

    def __init__(self, optimizer, base_lr, max_lr, step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn=None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum=0.8, max_momentum=0.9,
                 last_epoch: int = -1):
        where = "CyclicLR"
        _check_optimizer(optimizer, where)
        self.optimizer = optimizer
        base_lrs = _per_group(base_lr, "base_lr", optimizer, where)
        self.max_lrs = _per_group(max_lr, "max_lr", optimizer, where)
        _positive_int(step_size_up, "step_size_up", where)
        if step_size_down is not None:
            _positive_int(step_size_down, "step_size_down", where)
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(f"{where}: mode must be 'triangular', 'triangular2' or 'exp_range' "
                             f"(or pass scale_fn), got {mode!r}")
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"{where}: scale_fn is a {type(scale_fn).__name__}, not callable")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(
                f"{where}: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}"
            )
        if not _is_real(gamma) or not gamma > 0:
            raise ValueError(f"{where}: gamma must be a number > 0, got {gamma!r}")
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups, strict=True):
                group["lr"] = lr
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        if scale_fn is None:  # the built-in modes fix the scale mode, as in PyTorch
            self.scale_mode = "iterations" if mode == "exp_range" else "cycle"
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            self.use_beta1 = _momentum_key(optimizer, where)
            self.base_momentums = _per_group(base_momentum, "base_momentum", optimizer, where)
            self.max_momentums = _per_group(max_momentum, "max_momentum", optimizer, where)
            if last_epoch == -1:
                for m_max, m_base, group in zip(self.max_momentums, self.base_momentums,
                                                optimizer.param_groups, strict=True):
                    _set_momentum(group, m_max, self.use_beta1)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x) -> float:
        """The amplitude scale at cycle (or iteration) ``x``: ``scale_fn``, or the mode's."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self):
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base_lr + (max_lr - base_lr) * scale_factor * scale
               for base_lr, max_lr in zip(self.base_lrs, self.max_lrs, strict=True)]
        if self.cycle_momentum:
            for m_base, m_max, group in zip(self.base_momentums, self.max_momentums,
                                            self.optimizer.param_groups, strict=True):
                _set_momentum(group, m_max - (m_max - m_base) * scale_factor * scale,
                              self.use_beta1)
        return lrs

    def state_dict(self) -> dict:
        """Every attribute except the optimizer; ``scale_fn`` as in LambdaLR (a plain function
        is not stored, a callable object's ``__dict__`` is)."""
        state = {k: _copy(v) for k, v in self.__dict__.items()
                 if k not in ("optimizer", "_scale_fn_custom")}
        fn = self._scale_fn_custom
        state["_scale_fn_custom"] = (None if fn is None or isinstance(fn, types.FunctionType)
                                     else dict(fn.__dict__))
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the attributes; a stored ``scale_fn`` object's attributes are updated."""
        state_dict = dict(state_dict)
        saved = state_dict.pop("_scale_fn_custom", None)
        super().load_state_dict(state_dict)
        if saved is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(saved)
