"""Callbacks: hooks that ``fit`` calls at the start/end of training, epochs and batches.

Every hook receives the ``Trainer`` state (model, optimizer, history, epoch, stop_training, ...).
Set ``trainer.stop_training = True`` to end training after the current epoch.

At the end of an epoch ``fit`` calls every callback's ``on_epoch_end`` (in list order), then
every callback's ``on_epoch_complete``: by then the epoch's state is final whatever the order
(schedulers have stepped), and that is where ModelCheckpoint writes.
"""

from __future__ import annotations

import csv
import math
import os
import warnings

from tinygrad_cnn import serialization
from tinygrad_cnn.train import state as train_state


class Callback:
    """Base class: override the hooks you need."""

    def on_train_begin(self, trainer) -> None:
        """Called once before the first epoch (on resume, before ``load_state_dict``)."""

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        """Called before epoch ``epoch`` (counted from 1) trains."""

    def on_batch_end(self, trainer, batch: int, logs: dict) -> None:
        """Called after each training step; ``batch`` counts from 0 within the epoch, ``logs``
        holds the epoch's running averages so far (``loss`` and the metrics)."""

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        """Called after epoch ``epoch`` (from 1) with its ``logs``: ``loss`` and the metrics,
        ``val_*`` when validating, ``lr`` and ``time`` (seconds)."""

    def on_epoch_complete(self, trainer, epoch: int, logs: dict) -> None:
        """Called after every callback's on_epoch_end: the epoch's state is final."""

    def on_train_end(self, trainer) -> None:
        """Called once before ``fit`` returns: after the last epoch, an early stop or Ctrl-C."""

    def on_interrupt(self, trainer) -> None:
        """Called when Ctrl-C stops training (before fit returns). ``trainer.position`` is
        where training stands (None when it stopped in the middle of an update)."""

    def state_dict(self) -> dict | None:
        """What a resume needs to carry on as if never stopped (None: nothing)."""
        return None

    def load_state_dict(self, state: dict) -> None:
        """Put back what state_dict returned (fit(resume=...) calls it after on_train_begin)."""


def _main_process() -> bool:
    from tinygrad_cnn.train.distributed import is_main_process  # noqa: PLC0415

    return is_main_process()


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


def _nan_warning(who: str, monitor: str, value: float, epoch: int, consequence: str) -> None:
    warnings.warn(f"{who}: {monitor} is {value} at epoch {epoch}; {consequence} (a NaN or "
                  "infinite value never counts as an improvement)", RuntimeWarning, stacklevel=3)


class EarlyStopping(Callback):
    """Stop after more than ``patience`` epochs in a row in which ``monitor`` did not improve by
    ``min_delta`` (``patience=2``: at the third; PyTorch's ReduceLROnPlateau counts so, Keras's
    EarlyStopping stops one epoch sooner).

    With ``restore_best_weights=True`` the model gets the weights of its best epoch back when
    training ends after an early stop. A NaN or infinite ``monitor`` value never counts as an
    improvement (it counts towards ``patience``) and is reported with a RuntimeWarning.
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
        """Reset the best value, the patience count and the saved weights."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = None
        self.wait = 0
        self.best_state = None
        self.stopped_epoch = None
        self.non_finite_epochs: list[int] = []

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        """Compare ``logs[monitor]`` with the best so far; after more than ``patience`` epochs
        without improvement set ``trainer.stop_training``."""
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if not math.isfinite(value):
            self.non_finite_epochs.append(epoch)
            _nan_warning("EarlyStopping", self.monitor, value, epoch,
                         f"counted as not improving ({self.wait + 1} of patience {self.patience})")
        elif self.is_better(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_state = _snapshot(trainer.model)
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True
            trainer.history.stopped_early = True
            if self.best_epoch is None:
                best = f"no finite value yet; it was NaN/inf at epochs {self.non_finite_epochs}"
            else:
                best = f"best {self.best:.4f} at epoch {self.best_epoch}"
            trainer.history.stop_reason = (
                f"early stopping: {self.monitor} did not improve for {self.wait} epochs ({best})")

    def on_train_end(self, trainer) -> None:
        """Load the best epoch's weights back after an early stop, with
        ``restore_best_weights``."""
        # after the last checkpoint was written, so that one holds the last epoch's weights
        if self.stopped_epoch is not None and self.restore_best_weights \
                and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch,
                "non_finite_epochs": list(self.non_finite_epochs),
                "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.stopped_epoch = state.get("stopped_epoch")
        self.non_finite_epochs = list(state.get("non_finite_epochs", []))
        self.best_state = state.get("best_state")


def _snapshot(model) -> dict:
    """A copy of the model's state_dict (state_dict() shares memory with the live weights)."""
    return {k: v.clone() for k, v in model.state_dict().items()}


class ModelCheckpoint(Callback):
    """Save a checkpoint with ``tc.save`` after each epoch (or only when ``monitor`` improves).

    The checkpoint is a dict: ``model`` (state_dict), ``optimizer`` (state_dict), ``epoch``,
    ``history``, ``callbacks`` (schedulers', EarlyStopping's, ModelCheckpoint's own state),
    ``rng`` (the random generators' states) and everything in ``extra`` (e.g. how to rebuild
    the model). It is written after every callback's ``on_epoch_end``, so it holds the epoch's
    final state whatever the callbacks' order. ``fit(resume=path)`` continues from it bit for
    bit. ``filepath`` may contain ``{epoch}``.

    With ``save_best_only``, a NaN or infinite ``monitor`` value is never an improvement: no
    file is written and a RuntimeWarning says so.

    On Ctrl-C the end-of-epoch and best files are left alone: the state where training stopped
    goes to ``interrupt_filepath`` (default: ``filepath`` with ``.interrupted`` before its
    extension, e.g. ``run.interrupted.ckpt``; ``{epoch}`` and ``{batch}`` are filled in; None:
    no interrupt file), labelled with its position: ``epoch`` (the epoch it stopped in) and
    ``batch`` (the batches of that epoch done; None when the epoch had finished).
    ``fit(resume=...)`` from it continues with the next batch.
    """

    def __init__(self, filepath, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto", extra: dict | None = None, interrupt_filepath="auto"):
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.mode = _resolve_mode(mode, monitor)
        self.is_better = _better(self.mode, 0.0)
        self.extra = dict(extra or {})
        if interrupt_filepath == "auto":
            root, ext = os.path.splitext(self.filepath)
            interrupt_filepath = f"{root}.interrupted{ext}"
        self.interrupt_filepath = None if interrupt_filepath is None else \
            os.fspath(interrupt_filepath)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.last_saved: str | None = None
        self._due = False

    def checkpoint(self, trainer) -> dict:
        """The dict this callback writes: the trainer's state at ``trainer.position``."""
        return {**self.extra, **train_state.checkpoint(trainer)}

    def _write(self, trainer, path: str) -> None:
        if trainer.distributed and not _main_process():  # rank 0 writes for every rank
            return
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        serialization.save(self.checkpoint(trainer), path)
        self.last_saved = path

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        """Decide whether this epoch is written (every epoch, or with ``save_best_only`` when
        ``monitor`` improved); ``on_epoch_complete`` writes it."""
        self._due = True
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if not math.isfinite(value):
                _nan_warning("ModelCheckpoint", self.monitor, value, epoch,
                             f"{self.filepath.format(epoch=epoch)} is not written")
                self._due = False
            elif not self.is_better(value, self.best):
                self._due = False
            else:
                self.best = value

    def on_epoch_complete(self, trainer, epoch: int, logs: dict) -> None:
        if self._due:
            self._due = False
            self._write(trainer, self.filepath.format(epoch=epoch))

    def on_interrupt(self, trainer) -> None:
        position = trainer.position
        if self.interrupt_filepath is None or position is None:
            return
        self._write(trainer, self.interrupt_filepath.format(epoch=position["epoch"],
                                                            batch=position["batch"]))

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]


class LRSchedulerCallback(Callback):
    """Step a learning-rate scheduler after every epoch.

    Schedulers whose ``step`` takes a metric (ReduceLROnPlateau) get ``logs[monitor]``.
    """

    def __init__(self, scheduler, monitor: str = "val_loss"):
        self.scheduler = scheduler
        self.monitor = monitor

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        """``scheduler.step()``, or ``scheduler.step(logs[monitor])`` for ReduceLROnPlateau."""
        if type(self.scheduler).__name__ == "ReduceLROnPlateau":
            self.scheduler.step(_monitored(logs, self.monitor, "LRSchedulerCallback"))
        else:
            self.scheduler.step()

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state)


class CSVLogger(Callback):
    """Append one row per epoch (epoch, then every logged number) to a CSV file."""

    def __init__(self, filename, append: bool = False):
        self.filename = os.fspath(filename)
        self.append = append
        self._keys: list[str] | None = None

    def on_train_begin(self, trainer) -> None:
        """Delete an existing file, unless ``append`` or resuming (rank 0 only)."""
        if trainer.distributed and not _main_process():  # rank 0 writes the log
            return
        # a resumed run keeps the rows of the epochs it restored
        if not self.append and not trainer.resumed and os.path.exists(self.filename):
            os.remove(self.filename)
        self._keys = None

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        """Append the epoch's row, after a header row when the file is new (rank 0 only)."""
        if trainer.distributed and not _main_process():
            return
        new_file = not os.path.exists(self.filename) or os.path.getsize(self.filename) == 0
        if self._keys is None:
            self._keys = sorted(logs)
        with open(self.filename, "a", newline="") as f:
            writer = csv.writer(f)
            if new_file:
                writer.writerow(["epoch", *self._keys])
            writer.writerow([epoch, *(f"{logs.get(k, math.nan):.6g}" for k in self._keys)])
