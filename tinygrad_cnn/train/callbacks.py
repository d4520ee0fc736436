"""Callbacks: hooks that ``fit`` calls at the start/end of training, epochs and batches.

Every hook receives the ``Trainer`` state (model, optimizer, history, epoch, stop_training, ...).
Set ``trainer.stop_training = True`` to end training after the current epoch.
"""

from __future__ import annotations

import csv
import math
import os

from tinygrad_cnn import serialization


class Callback:
    """Base class: override the hooks you need."""

    def on_train_begin(self, trainer) -> None: ...

    def on_epoch_begin(self, trainer, epoch: int) -> None: ...

    def on_batch_end(self, trainer, batch: int, logs: dict) -> None: ...

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None: ...

    def on_train_end(self, trainer) -> None: ...

    def on_interrupt(self, trainer) -> None:
        """Called when Ctrl-C stops training (before fit returns)."""


def _better(mode: str, min_delta: float):
    if mode == "min":
        return lambda new, best: new < best - min_delta
    return lambda new, best: new > best + min_delta


def _resolve_mode(mode: str, monitor: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "min" if "loss" in monitor else "max"
    return mode


def _monitored(logs: dict, monitor: str, who: str) -> float:
    if monitor not in logs:
        raise KeyError(f"{who}: monitored quantity {monitor!r} is not in the epoch's logs "
                       f"{sorted(logs)}; pass val_data or val_split to fit for 'val_*' keys")
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the model gets the weights of its best epoch back.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False):
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor = monitor
        self.patience = int(patience)
        self.mode = _resolve_mode(mode, monitor)
        self.is_better = _better(self.mode, abs(min_delta))
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, trainer) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = None
        self.wait = 0
        self.best_state = None
        self.stopped_epoch = None

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if self.is_better(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_state = _snapshot(trainer.model)
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True
            trainer.history.stopped_early = True
            trainer.history.stop_reason = (
                f"early stopping: {self.monitor} did not improve for {self.wait} epochs "
                f"(best {self.best:.4f} at epoch {self.best_epoch})")
            if self.restore_best_weights and self.best_state is not None:
                trainer.model.load_state_dict(self.best_state)


def _snapshot(model) -> dict:
    """A copy of the model's state_dict (state_dict() shares memory with the live weights)."""
    return {k: v.clone() for k, v in model.state_dict().items()}


class ModelCheckpoint(Callback):
    """Save a checkpoint with ``tc.save`` after each epoch (or only when ``monitor`` improves).

    The checkpoint is a dict: ``model`` (state_dict), ``optimizer`` (state_dict), ``epoch``,
    ``history`` and everything in ``extra`` (e.g. how to rebuild the model). ``fit(resume=path)``
    continues from it; resuming from an end-of-epoch checkpoint with the same ``seed`` gives
    exactly the weights of an uninterrupted run. ``filepath`` may contain ``{epoch}``.

    On Ctrl-C the current (mid-epoch) weights are saved with ``epoch`` = the last finished
    epoch, so a resume runs the interrupted epoch again, starting from them.
    """

    def __init__(self, filepath, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto", extra: dict | None = None):
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.mode = _resolve_mode(mode, monitor)
        self.is_better = _better(self.mode, 0.0)
        self.extra = dict(extra or {})
        self.best = math.inf if self.mode == "min" else -math.inf
        self.last_saved: str | None = None

    def checkpoint(self, trainer, epoch: int) -> dict:
        """The dict this callback writes (epoch = the last finished epoch, 1-based)."""
        schedulers = [cb.scheduler.state_dict() for cb in trainer.callbacks
                      if isinstance(cb, LRSchedulerCallback)]
        return {
            **self.extra,
            "model": trainer.model.state_dict(),
            "optimizer": trainer.optimizer.state_dict(),
            "schedulers": schedulers,
            "epoch": int(epoch),
            "history": trainer.history.to_dict(),
        }

    def _save(self, trainer, epoch: int) -> None:
        path = self.filepath.format(epoch=epoch)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        serialization.save(self.checkpoint(trainer, epoch), path)
        self.last_saved = path

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if not self.is_better(value, self.best):
                return
            self.best = value
        self._save(trainer, epoch)

    def on_interrupt(self, trainer) -> None:
        # Keep the work done so far: the weights as they are now. ``epoch`` stays the last
        # finished one, so a resume runs the interrupted epoch again (from these weights).
        self._save(trainer, trainer.epoch - 1)


class LRSchedulerCallback(Callback):
    """Step a learning-rate scheduler after every epoch.

    Schedulers whose ``step`` takes a metric (ReduceLROnPlateau) get ``logs[monitor]``.
    """

    def __init__(self, scheduler, monitor: str = "val_loss"):
        self.scheduler = scheduler
        self.monitor = monitor

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        if type(self.scheduler).__name__ == "ReduceLROnPlateau":
            self.scheduler.step(_monitored(logs, self.monitor, "LRSchedulerCallback"))
        else:
            self.scheduler.step()


class CSVLogger(Callback):
    """Append one row per epoch (epoch, then every logged number) to a CSV file."""

    def __init__(self, filename, append: bool = False):
        self.filename = os.fspath(filename)
        self.append = append
        self._keys: list[str] | None = None

    def on_train_begin(self, trainer) -> None:
        if not self.append and os.path.exists(self.filename):
            os.remove(self.filename)
        self._keys = None

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        new_file = not os.path.exists(self.filename) or os.path.getsize(self.filename) == 0
        if self._keys is None:
            self._keys = sorted(logs)
        with open(self.filename, "a", newline="") as f:
            writer = csv.writer(f)
            if new_file:
                writer.writerow(["epoch", *self._keys])
            writer.writerow([epoch, *(f"{logs.get(k, math.nan):.6g}" for k in self._keys)])
