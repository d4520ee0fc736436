"""fit / evaluate / predict: the training loop around a Module, an Optimizer and a loss."""

from __future__ import annotations

import math
import signal
import threading
import time
import warnings

from tinygrad_cnn import backend, serialization
from tinygrad_cnn.autograd.grad_mode import no_grad
from tinygrad_cnn.data.dataset import TensorDataset, train_val_split
from tinygrad_cnn.data.loader import DataLoader
from tinygrad_cnn.ops.shape import cat
from tinygrad_cnn.tensor import Tensor
from tinygrad_cnn.train import state as train_state
from tinygrad_cnn.train.history import History
from tinygrad_cnn.train.progress import Progress


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; ``epoch``, ``batch`` and ``history`` say where."""

    def __init__(self, message: str, epoch: int, batch: int, history: History):
        super().__init__(message)
        self.epoch, self.batch, self.history = epoch, batch, history


class Trainer:
    """The state callbacks see: model, optimizer, loss_fn, history, epoch, stop_training.

    ``position``: where training stands, as a checkpoint records it: ``epoch``, ``batch`` (the
    batches of that epoch done; None once the epoch has finished), the random generators' states
    there and the epoch's running totals; None while an update is in progress (between a
    batch's forward and the end of its optimizer step, and while epoch-end callbacks run).
    ``resumed``: fit was given a checkpoint to resume from.
    """

    def __init__(self, model, optimizer, loss_fn, history, callbacks, device):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.history = history
        self.callbacks = list(callbacks)
        self.device = device
        self.epoch = 0
        self.stop_training = False
        self.resumed = False
        self.position: dict | None = None
        self.generators: list = []  # the data pipeline's own random generators
        self.network = model  # what the steps call: the model, or its DistributedDataParallel
        self.distributed = False

    def _at_epoch_end(self, epoch: int) -> None:
        self.position = {"epoch": epoch, "batch": None,
                         "rng": train_state.rng_state(self.generators)}


class _StopRequest:
    """Ctrl-C during fit (SIGINT, main thread): the first finishes the current batch and then
    stops at that consistent point; a second one stops at once (KeyboardInterrupt)."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


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

    def state_dict(self) -> dict:
        return {"count": self.count, "loss": self.loss, "sums": dict(self.sums)}

    def load_state_dict(self, state: dict) -> None:
        self.count, self.loss = int(state["count"]), float(state["loss"])
        self.sums.update({k: float(v) for k, v in state["sums"].items() if k in self.sums})

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
        verbose: int = 1, seed: int | None = None, resume=None, distributed=None) -> History:
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
        resume: a checkpoint path written by ModelCheckpoint (end-of-epoch, best or
            interrupt file): model, optimizer, callbacks' state, history and the random
            generators are restored and training continues where it stopped, bit for bit as
            if it had never stopped.
        distributed: True (or a model wrapped in ``tc.distributed.DistributedDataParallel``)
            trains data-parallel on the ranks ``mpiexec`` started (see docs/distributed.md):
            each rank takes its shard of the training and validation data (``batch_size`` per
            rank), metrics are summed over ranks, and only rank 0 prints, writes checkpoints
            and logs. Resuming works with the same or another number of ranks.

    Returns:
        History with per-epoch ``loss``, each metric, their ``val_`` forms, ``lr`` and ``time``.

    Raises:
        NonFiniteLossError: when the loss becomes NaN or infinite, naming epoch and batch (the
            model's buffers, e.g. BatchNorm's running statistics, are as before that batch).
        ValueError: empty data, or ``resume`` from a checkpoint that already reached ``epochs``.

    Ctrl-C finishes the current batch, then stops: every ModelCheckpoint writes its interrupt
    file (never its end-of-epoch or best file) and fit returns the History with
    ``interrupted=True``. A second Ctrl-C stops at once.
    """
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    epochs = int(epochs)
    network = model
    is_distributed = False
    if distributed or isinstance(model, _ddp_type()):
        from tinygrad_cnn.train import distributed as dist_train  # noqa: PLC0415

        is_distributed = dist_train.wants_distributed(model, distributed)
        model, network = dist_train.wrap(model)
        if not dist_train.is_main_process():
            verbose = 0
    device = _model_device(model, device)
    if val_split is not None:
        if val_data is not None:
            raise ValueError("give either val_data or val_split, not both")
        if isinstance(train_data, DataLoader):
            raise ValueError("val_split needs a Dataset or an (inputs, targets) pair, not a "
                             "DataLoader (split the dataset with train_val_split first)")
        train_data, val_data = train_val_split(_as_dataset(train_data, "train_data"), val_split,
                                               seed=seed)
    if is_distributed and not isinstance(train_data, DataLoader):
        train_loader = dist_train.ShardedLoader(_as_dataset(train_data, "train_data"), batch_size,
                                                device, seed)
    else:
        train_loader = _loader(train_data, batch_size, True, device, seed, "train_data")
    _check_not_empty(train_loader, "fit: train_data")
    if val_data is None:
        val_loader = None
    elif is_distributed and not isinstance(val_data, DataLoader):
        val_loader = dist_train.evaluation_shard(_as_dataset(val_data, "val_data"),
                                                 max(batch_size, 256), device)
    else:
        val_loader = _loader(val_data, max(batch_size, 256), False, device, None, "val_data")
    if val_loader is not None:
        _check_not_empty(val_loader, "fit: val_data")
    metric_fns = _metric_fns(metrics)
    history = History()
    trainer = Trainer(model, optimizer, loss_fn, history, callbacks, device)
    trainer.network, trainer.distributed = network, is_distributed
    trainer.generators = train_state.data_generators(train_loader)
    start_epoch, partial, saved_callbacks = 1, None, None
    if resume is not None:
        trainer.resumed = True
        done, partial, saved_callbacks = _restore(trainer, resume)
        if done >= epochs:
            raise ValueError(f"fit: {resume} has finished epoch {done}, so epochs={epochs} "
                             f"leaves nothing to train; pass epochs > {done} to continue")
        start_epoch = done + 1
    trainer._at_epoch_end(start_epoch - 1)
    if partial is not None:  # until the resumed epoch's next batch is done, we are where it was
        trainer.position = {"epoch": start_epoch, **partial}
    progress = Progress(verbose, epochs)
    for cb in trainer.callbacks:
        cb.on_train_begin(trainer)
    if saved_callbacks is not None:
        train_state.load_callback_states(trainer.callbacks, saved_callbacks)
    epoch = start_epoch
    try:
        with _StopRequest() as stop:
            for epoch in range(start_epoch, epochs + 1):
                trainer.epoch = epoch
                logs = _train_epoch(trainer, train_loader, metric_fns, epoch, progress, stop,
                                    partial if epoch == start_epoch else None)
                if val_loader is not None:
                    logs.update(_evaluate_loader(model, val_loader, loss_fn, metric_fns, "val_",
                                                 f"fit: validation after epoch {epoch}",
                                                 distributed=is_distributed))
                logs["lr"] = float(optimizer.param_groups[0]["lr"])
                logs["time"] = time.perf_counter() - logs.pop("_start")
                trainer.position = None  # callbacks change state (schedulers step) from here
                history.append(epoch, logs)
                progress.end_epoch(epoch, logs, logs["time"])
                for cb in trainer.callbacks:
                    cb.on_epoch_end(trainer, epoch, logs)
                trainer._at_epoch_end(epoch)
                for cb in trainer.callbacks:
                    cb.on_epoch_complete(trainer, epoch, logs)
                if stop.requested:
                    raise KeyboardInterrupt
                if trainer.stop_training:
                    progress.message(history.stop_reason or f"training stopped after epoch {epoch}")
                    break
    except KeyboardInterrupt:
        progress.close()
        _interrupted(trainer, epoch, progress)
    finally:
        progress.close()
    for cb in trainer.callbacks:
        cb.on_train_end(trainer)
    return history


def _ddp_type():
    """DistributedDataParallel's class when tinygrad_cnn.distributed was imported, else a type
    no model is (so a plain fit never imports the distributed package)."""
    import sys  # noqa: PLC0415

    module = sys.modules.get("tinygrad_cnn.distributed.ddp")
    return module.DistributedDataParallel if module is not None else _NeverAModel


class _NeverAModel:
    pass


def _check_not_empty(loader, what: str) -> None:
    n = len(loader.dataset)
    if n == 0:
        raise ValueError(f"{what} is empty (0 samples)")
    if len(loader) == 0:
        raise ValueError(f"{what} gives no batch: {n} samples with batch_size {loader.batch_size} "
                         "and drop_last=True")


def _interrupted(trainer, epoch: int, progress) -> None:
    """Ctrl-C: record it in the History and let callbacks write their interrupt files."""
    history, position = trainer.history, trainer.position
    history.interrupted = True
    if position is None:
        where = f"during epoch {epoch}, in the middle of an update"
    elif position["batch"] is None:
        where = f"after epoch {position['epoch']}"
    else:
        where = (f"during epoch {position['epoch']}, after batch {position['batch']} of "
                 f"{position['batches']}")
    history.stop_reason = f"interrupted (Ctrl-C) {where}"
    for cb in trainer.callbacks:
        cb.on_interrupt(trainer)
    saved = [cb.last_saved for cb in trainer.callbacks if getattr(cb, "last_saved", None)]
    if position is None:
        note = "; no interrupt checkpoint (the state was mid-update), earlier files are intact"
    elif saved:
        note = f"; checkpoint saved to {saved[-1]} (resume continues from there)"
    else:
        note = ""
    progress.message(f"{history.stop_reason}{note}")


def _batches_from(loader, first: int):
    """An iterator over ``loader``'s batches from batch ``first`` on: our loaders skip the
    earlier ones without fetching them (a resumed epoch of 23,000 photos does not decode the
    part already trained on); any other iterable is read past them."""
    if first and hasattr(loader, "_iter_from"):
        return loader._iter_from(first)
    batches = iter(loader)
    for _ in range(first):
        next(batches)
    return batches


def _train_epoch(trainer, loader, metric_fns, epoch, progress, stop, partial=None) -> dict:
    """One epoch of training steps; ``partial`` (from an interrupt checkpoint) continues one."""
    model, optimizer, loss_fn = trainer.model, trainer.optimizer, trainer.loss_fn
    network = trainer.network  # the model, or its DistributedDataParallel wrapper
    start = time.perf_counter()
    model.train()
    loader.set_epoch(epoch)
    for cb in trainer.callbacks:
        cb.on_epoch_begin(trainer, epoch)
    totals = _Totals(metric_fns)
    if partial is not None:  # the generators as they were when the interrupted epoch began
        train_state.set_rng_state(partial["epoch_rng"], trainer.generators, "fit(resume=...)")
    epoch_rng = train_state.rng_state(trainer.generators)  # what this epoch's order comes from
    n = len(loader)
    first = 0 if partial is None else int(partial["batch"])
    batches = _batches_from(loader, first)  # the epoch's order, past the batches trained on
    if partial is not None:
        train_state.set_rng_state(partial["rng"], trainer.generators, "fit(resume=...)")
        totals.load_state_dict(partial["totals"])
    trainer.position = {"epoch": epoch, "batch": first, "batches": n, "epoch_rng": epoch_rng,
                        "rng": train_state.rng_state(trainer.generators),
                        "totals": totals.state_dict()}
    progress.start_epoch(epoch, n, first)
    buffers = list(model.buffers())
    for b, (x, y) in enumerate(batches, start=first):
        trainer.position = None
        # a non-finite batch must leave no trace: BatchNorm updates its statistics in forward
        kept = [(buf, buf.clone()) for buf in buffers]
        outputs = network(x)
        loss = loss_fn(outputs, y)
        value = float(loss.item())
        if not math.isfinite(value):
            for buf, copy in kept:
                buf.data = copy.data
            progress.close()
            lr = optimizer.param_groups[0]["lr"]
            raise NonFiniteLossError(
                f"training stopped: the loss became {value} at epoch {epoch}, batch {b + 1} of "
                f"{n}; try a lower learning rate (now {lr:g}) and check the inputs for "
                "NaN/inf values", epoch=epoch, batch=b + 1, history=trainer.history)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with no_grad():
            totals.add(value, outputs.detach(), y)
        trainer.position = {"epoch": epoch, "batch": b + 1, "batches": n, "epoch_rng": epoch_rng,
                            "rng": train_state.rng_state(trainer.generators),
                            "totals": totals.state_dict()}
        running = totals.logs()
        progress.update(running)
        for cb in trainer.callbacks:
            cb.on_batch_end(trainer, b, {"loss": value, **running})
        if stop.requested and b + 1 < n:  # Ctrl-C: stop here, at a consistent point
            raise KeyboardInterrupt
    if trainer.distributed:  # the epoch's metrics over every rank's samples
        from tinygrad_cnn.train import distributed as dist_train  # noqa: PLC0415

        dist_train.sum_over_ranks(totals)
    logs = totals.logs()
    logs["_start"] = start
    return logs


def _restore(trainer, path):
    """Load a ModelCheckpoint file into the trainer: returns (the last finished epoch, what
    continuing an interrupted epoch needs or None, the callbacks' saved states or None)."""
    ckpt = serialization.load(path)
    if not isinstance(ckpt, dict):
        raise ValueError(f"resume: {path} holds a {type(ckpt).__name__}, not a checkpoint "
                         "written by ModelCheckpoint")
    missing = [k for k in ("model", "optimizer", "epoch") if k not in ckpt]
    if missing:
        raise ValueError(f"resume: {path} has no {', '.join(map(repr, missing))} entry; it was "
                         "not written by ModelCheckpoint")
    for what, target in (("model", trainer.model), ("optimizer", trainer.optimizer)):
        try:
            target.load_state_dict(ckpt[what])
        except (KeyError, ValueError, TypeError) as e:
            message = e.args[0] if isinstance(e, KeyError) and e.args else e
            raise ValueError(f"resume: the {what} state in {path} does not fit this "
                             f"{type(target).__name__} ({message}); build the {what} the "
                             "checkpoint was trained with") from None
    callbacks = ckpt.get("callbacks")
    if callbacks is None and "schedulers" in ckpt:  # written before callbacks had state
        callbacks = [{"type": "LRSchedulerCallback", "state": s} for s in ckpt["schedulers"]]
    if "history" in ckpt:
        restored = History.from_dict(ckpt["history"])
        trainer.history.history, trainer.history.epochs = restored.history, restored.epochs
    if "rng" in ckpt:
        train_state.set_rng_state(ckpt["rng"], trainer.generators, "fit(resume=...)")
    epoch, batch = int(ckpt["epoch"]), ckpt.get("batch")
    if batch is None:
        return epoch, None, callbacks
    partial = {k: ckpt[k] for k in ("batch", "batches", "epoch_rng", "rng", "totals")}
    return epoch - 1, partial, callbacks


# --------------------------------------------------------------------------- evaluate / predict


def _evaluate_loader(model, loader, loss_fn, metric_fns, prefix="", who="evaluate",
                     distributed=False) -> dict:
    was_training = getattr(model, "training", False)
    model.eval()
    totals = _Totals(metric_fns)
    bad_inputs = 0  # samples with a NaN/inf input, counted in batches whose loss is not finite
    try:
        with no_grad():
            for x, y in loader:
                outputs = model(x)
                value = None if loss_fn is None else float(loss_fn(outputs, y).item())
                if value is not None and not math.isfinite(value):
                    bad_inputs += _non_finite_samples(x)
                totals.add(value, outputs, y)
    finally:
        model.train(was_training)
    if distributed:  # each rank saw its own shard: sum the totals
        from tinygrad_cnn.train import distributed as dist_train  # noqa: PLC0415

        dist_train.sum_over_ranks(totals)
    logs = totals.logs(with_loss=loss_fn is not None, prefix=prefix)
    loss = logs.get(f"{prefix}loss", 0.0)
    if not math.isfinite(loss):
        cause = (f"{bad_inputs} of {totals.count} samples have NaN or infinite inputs"
                 if bad_inputs else "no input is NaN/inf: the model's outputs are not finite")
        warnings.warn(f"{who}: the loss is {loss}; {cause}", RuntimeWarning, stacklevel=3)
    return logs


def _non_finite_samples(x) -> int:
    """How many rows of the batch ``x`` (B, ...) hold a NaN or infinite value."""
    if not isinstance(x, Tensor) or x.dtype.kind != "f":
        return 0
    return int((~x.isfinite().reshape(len(x), -1).all(dim=1)).sum().item())


def evaluate(model, data, loss_fn=None, metrics=("accuracy",), batch_size: int = 256,
             device=None) -> dict:
    """Loss (when ``loss_fn`` is given) and metrics of ``model`` on ``data``, averaged over samples.

    ``data``: a Dataset, an ``(inputs, targets)`` pair or a DataLoader. Runs in eval mode
    without building a graph. Returns e.g. ``{"loss": 0.08, "accuracy": 0.975}``.
    """
    device = _model_device(model, device)
    loader = _loader(data, batch_size, False, device, None, "evaluate data")
    _check_not_empty(loader, "evaluate: the data")
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
