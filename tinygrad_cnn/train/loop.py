"""fit / evaluate / predict: the training loop around a Module, an Optimizer and a loss."""

from __future__ import annotations

import math
import time

from tinygrad_cnn import backend, serialization
from tinygrad_cnn.autograd.grad_mode import no_grad
from tinygrad_cnn.data.dataset import TensorDataset, train_val_split
from tinygrad_cnn.data.loader import DataLoader
from tinygrad_cnn.ops.shape import cat
from tinygrad_cnn.tensor import Tensor
from tinygrad_cnn.train.callbacks import LRSchedulerCallback
from tinygrad_cnn.train.history import History
from tinygrad_cnn.train.progress import Progress


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; ``epoch``, ``batch`` and ``history`` say where."""

    def __init__(self, message: str, epoch: int, batch: int, history: History):
        super().__init__(message)
        self.epoch, self.batch, self.history = epoch, batch, history


class Trainer:
    """The state callbacks see: model, optimizer, loss_fn, history, epoch, stop_training."""

    def __init__(self, model, optimizer, loss_fn, history, callbacks, device):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.history = history
        self.callbacks = list(callbacks)
        self.device = device
        self.epoch = 0
        self.stop_training = False


# --------------------------------------------------------------------------- data


def _is_dataset(data) -> bool:
    return (hasattr(data, "__getitem__") and hasattr(data, "__len__")
            and not hasattr(data, "shape") and not isinstance(data, (tuple, list)))


def _as_dataset(data, what: str):
    """A Dataset from a Dataset, an (inputs, targets) pair, or inputs alone."""
    if _is_dataset(data):
        return data
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise ValueError(f"{what}: expected a Dataset, a DataLoader or an (inputs, targets) "
                             f"pair, got a sequence of {len(data)} items")
        return TensorDataset(*data)
    if isinstance(data, Tensor) or hasattr(data, "shape"):
        return TensorDataset(data)
    raise TypeError(f"{what}: expected a Dataset, a DataLoader, an (inputs, targets) pair or an "
                    f"array, got {type(data).__name__}")


def _loader(data, batch_size, shuffle, device, seed, what):
    if isinstance(data, DataLoader):
        if data.device != device:
            raise ValueError(f"{what}: the DataLoader yields batches on {data.device!r} but the "
                             f"model is on {device!r}; build it with device={device!r}")
        return data
    return DataLoader(_as_dataset(data, what), batch_size=batch_size, shuffle=shuffle, seed=seed,
                      device=device)


def _model_device(model, device):
    """The device to train on: ``device`` (moving the model there), else the model's own."""
    if device is not None:
        device = backend.normalize_device(device)
        model.to(device)
        return device
    for p in model.parameters():
        return p.device
    return backend.get_default_device()


# --------------------------------------------------------------------------- metrics


def _metric_fns(metrics):
    """(name, fn(outputs, targets) -> number of correct/summed values) for each metric."""
    fns = []
    for m in metrics or ():
        if m in ("accuracy", "acc"):
            fns.append(("accuracy", _correct))
        elif callable(m):
            name = getattr(m, "__name__", type(m).__name__)
            fns.append((name, lambda out, y, m=m: float(m(out, y)) * len(y)))
        else:
            raise ValueError(f"unknown metric {m!r}: use 'accuracy' or a callable "
                             "metric(outputs, targets) -> batch mean")
    return fns


def _correct(outputs: Tensor, targets: Tensor) -> float:
    """How many rows of ``outputs`` (B, K) have their largest score at ``targets`` (B,)."""
    if targets.ndim == outputs.ndim:  # one-hot or probability targets
        targets = targets.argmax(dim=1)
    return float(outputs.argmax(dim=1).eq(targets).float().sum().item())


class _Totals:
    """Running sums over an epoch, weighted by batch size."""

    def __init__(self, metric_fns):
        self.metric_fns = metric_fns
        self.count = 0
        self.loss = 0.0
        self.sums = {name: 0.0 for name, _ in metric_fns}

    def add(self, loss_value, outputs, targets) -> None:
        n = len(targets)
        self.count += n
        if loss_value is not None:
            self.loss += loss_value * n
        for name, fn in self.metric_fns:
            self.sums[name] += fn(outputs, targets)

    def logs(self, with_loss: bool = True, prefix: str = "") -> dict:
        out = {f"{prefix}loss": self.loss / max(self.count, 1)} if with_loss else {}
        out.update({f"{prefix}{k}": v / max(self.count, 1) for k, v in self.sums.items()})
        return out


# --------------------------------------------------------------------------- fit


def fit(model, optimizer, loss_fn, train_data, epochs: int, batch_size: int = 32, val_data=None,
        val_split: float | None = None, metrics=("accuracy",), callbacks=(), device=None,
        verbose: int = 1, seed: int | None = None, resume=None) -> History:
    """Train ``model`` for ``epochs`` epochs and return its History.

    Args:
        model: a ``tc.nn.Module`` mapping inputs (B, ...) to outputs (B, K).
        optimizer: a ``tc.optim`` optimizer over ``model.parameters()``.
        loss_fn: ``loss_fn(outputs, targets) -> scalar Tensor``, e.g. ``nn.CrossEntropyLoss()``.
        train_data: a Dataset, an ``(inputs, targets)`` pair of arrays/Tensors, or a DataLoader.
        epochs: the last epoch to train (with ``resume``, training continues up to it).
        batch_size: samples per step (ignored when ``train_data`` is a DataLoader).
        val_data: data evaluated after every epoch (same forms as ``train_data``).
        val_split: instead of val_data, hold out this fraction of ``train_data`` with a
            stratified, shuffled ``train_val_split`` (never the unshuffled tail of the data).
        metrics: "accuracy" and/or callables ``metric(outputs, targets) -> batch mean``.
        callbacks: Callback objects (EarlyStopping, ModelCheckpoint, ...).
        device: "cpu" or "gpu"; the model is moved there. Default: where the model is.
        verbose: 0 silent; 1 progress bar on a terminal + a line per epoch; 2 lines only.
        seed: makes shuffling and the validation split reproducible, epoch by epoch.
        resume: a checkpoint path written by ModelCheckpoint: model, optimizer, history and
            the epoch count are restored and training continues after that epoch.

    Returns:
        History with per-epoch ``loss``, each metric, their ``val_`` forms, ``lr`` and ``time``.

    Raises:
        NonFiniteLossError: when the loss becomes NaN or infinite, naming epoch and batch.
    """
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    device = _model_device(model, device)
    if val_split is not None:
        if val_data is not None:
            raise ValueError("give either val_data or val_split, not both")
        if isinstance(train_data, DataLoader):
            raise ValueError("val_split needs a Dataset or an (inputs, targets) pair, not a "
                             "DataLoader (split the dataset with train_val_split first)")
        train_data, val_data = train_val_split(_as_dataset(train_data, "train_data"), val_split,
                                               seed=seed)
    train_loader = _loader(train_data, batch_size, True, device, seed, "train_data")
    val_loader = None if val_data is None else _loader(val_data, max(batch_size, 256), False,
                                                       device, None, "val_data")
    metric_fns = _metric_fns(metrics)
    history = History()
    trainer = Trainer(model, optimizer, loss_fn, history, callbacks, device)
    start_epoch = 0
    if resume is not None:
        start_epoch = _restore(trainer, resume)
    progress = Progress(verbose, int(epochs))
    for cb in trainer.callbacks:
        cb.on_train_begin(trainer)
    epoch = start_epoch
    try:
        for epoch in range(start_epoch + 1, int(epochs) + 1):
            trainer.epoch = epoch
            logs = _train_epoch(trainer, train_loader, metric_fns, epoch, progress)
            if val_loader is not None:
                logs.update(_evaluate_loader(model, val_loader, loss_fn, metric_fns, "val_"))
            logs["lr"] = float(optimizer.param_groups[0]["lr"])
            logs["time"] = time.perf_counter() - logs.pop("_start")
            history.append(epoch, logs)
            progress.end_epoch(epoch, logs, logs["time"])
            for cb in trainer.callbacks:
                cb.on_epoch_end(trainer, epoch, logs)
            if trainer.stop_training:
                progress.message(history.stop_reason or f"training stopped after epoch {epoch}")
                break
    except KeyboardInterrupt:
        progress.close()
        history.interrupted = True
        history.stop_reason = f"interrupted (Ctrl-C) during epoch {epoch}"
        for cb in trainer.callbacks:
            cb.on_interrupt(trainer)
        saved = [cb.last_saved for cb in trainer.callbacks if getattr(cb, "last_saved", None)]
        where = f"; checkpoint saved to {saved[-1]}" if saved else ""
        progress.message(f"{history.stop_reason}{where}")
    finally:
        progress.close()
    for cb in trainer.callbacks:
        cb.on_train_end(trainer)
    return history


def _train_epoch(trainer, loader, metric_fns, epoch, progress) -> dict:
    model, optimizer, loss_fn = trainer.model, trainer.optimizer, trainer.loss_fn
    start = time.perf_counter()
    model.train()
    loader.set_epoch(epoch)
    for cb in trainer.callbacks:
        cb.on_epoch_begin(trainer, epoch)
    totals = _Totals(metric_fns)
    progress.start_epoch(epoch, len(loader))
    for b, (x, y) in enumerate(loader):
        outputs = model(x)
        loss = loss_fn(outputs, y)
        value = float(loss.item())
        if not math.isfinite(value):
            progress.close()
            lr = optimizer.param_groups[0]["lr"]
            raise NonFiniteLossError(
                f"training stopped: the loss became {value} at epoch {epoch}, batch {b + 1} of "
                f"{len(loader)}; try a lower learning rate (now {lr:g}) and check the inputs for "
                "NaN/inf values", epoch=epoch, batch=b + 1, history=trainer.history)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with no_grad():
            totals.add(value, outputs.detach(), y)
        running = totals.logs()
        progress.update(running)
        for cb in trainer.callbacks:
            cb.on_batch_end(trainer, b, {"loss": value, **running})
    logs = totals.logs()
    logs["_start"] = start
    return logs


def _restore(trainer, path) -> int:
    """Load a ModelCheckpoint file into the trainer; returns the last finished epoch."""
    ckpt = serialization.load(path)
    for key in ("model", "optimizer", "epoch"):
        if key not in ckpt:
            raise ValueError(f"resume: {path} has no {key!r} entry; it was not written by "
                             "ModelCheckpoint")
    trainer.model.load_state_dict(ckpt["model"])
    trainer.optimizer.load_state_dict(ckpt["optimizer"])
    schedulers = [cb.scheduler for cb in trainer.callbacks if isinstance(cb, LRSchedulerCallback)]
    for scheduler, state in zip(schedulers, ckpt.get("schedulers", []), strict=False):
        scheduler.load_state_dict(state)
    if "history" in ckpt:
        restored = History.from_dict(ckpt["history"])
        trainer.history.history, trainer.history.epochs = restored.history, restored.epochs
    return int(ckpt["epoch"])


# --------------------------------------------------------------------------- evaluate / predict


def _evaluate_loader(model, loader, loss_fn, metric_fns, prefix="") -> dict:
    was_training = getattr(model, "training", False)
    model.eval()
    totals = _Totals(metric_fns)
    try:
        with no_grad():
            for x, y in loader:
                outputs = model(x)
                value = None if loss_fn is None else float(loss_fn(outputs, y).item())
                totals.add(value, outputs, y)
    finally:
        model.train(was_training)
    return totals.logs(with_loss=loss_fn is not None, prefix=prefix)


def evaluate(model, data, loss_fn=None, metrics=("accuracy",), batch_size: int = 256,
             device=None) -> dict:
    """Loss (when ``loss_fn`` is given) and metrics of ``model`` on ``data``, averaged over samples.

    ``data``: a Dataset, an ``(inputs, targets)`` pair or a DataLoader. Runs in eval mode
    without building a graph. Returns e.g. ``{"loss": 0.08, "accuracy": 0.975}``.
    """
    device = _model_device(model, device)
    loader = _loader(data, batch_size, False, device, None, "evaluate data")
    return _evaluate_loader(model, loader, loss_fn, _metric_fns(metrics))


def predict(model, data, batch_size: int = 256, device=None) -> Tensor:
    """The model's outputs for every input, concatenated on the CPU: (N, K) for a classifier.

    ``data``: inputs (N, C, H, W) as an array/Tensor, a Dataset (its first field), or a
    DataLoader. Apply ``tc.softmax(out, dim=1)`` for class probabilities.
    """
    device = _model_device(model, device)
    loader = _loader(data, batch_size, False, device, None, "predict data")
    was_training = getattr(model, "training", False)
    model.eval()
    outputs = []
    try:
        with no_grad():
            for batch in loader:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                outputs.append(model(x).to("cpu"))
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("predict: the data is empty")
    return cat(outputs, dim=0)
