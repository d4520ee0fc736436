"""tinygrad_cnn.train: fit / evaluate / predict, History, callbacks, resume, Ctrl-C, NaN stop."""

import csv
import math

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import nn
from tinygrad_cnn.data import DataLoader, TensorDataset
from tinygrad_cnn.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LRSchedulerCallback,
    ModelCheckpoint,
    NonFiniteLossError,
    evaluate,
    fit,
    predict,
)


def _blobs(n=64, seed=0):
    """Two classes of 1x4x4 images: class 1 is brighter on the left half."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, 1, 4, 4)).astype(np.float32) * 0.5
    x[:, :, :, :2] += 1.5 * y[:, None, None, None]
    return x, y.astype(np.int64)


def _linear_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 2))


def _conv_model():
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 2))


def _state(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- fit / History


def test_fit_history_shape_and_learning(device):
    x, y = _blobs()
    model = _linear_model()
    opt = tc.optim.Adam(model.parameters(), lr=0.05)
    history = fit(model, opt, nn.CrossEntropyLoss(), (x, y), epochs=3, batch_size=16,
                  val_split=0.25, device=device, verbose=0, seed=0)
    assert isinstance(history, History) and len(history) == 3 and history.epochs == [1, 2, 3]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.8
    assert next(iter(model.parameters())).device == tc.backend.normalize_device(device)


def test_fit_metrics_match_evaluate_and_predict():
    x, y = _blobs(40)
    model = _linear_model()
    fit(model, tc.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), (x, y), 2,
        verbose=0, seed=1)
    logits = predict(model, x, batch_size=7)
    assert logits.shape == (40, 2) and logits.device == "cpu"
    with tc.no_grad():
        direct = model(tc.tensor(x)).numpy()
    np.testing.assert_allclose(logits.numpy(), direct, rtol=1e-5, atol=1e-6)
    # reference: accuracy and mean cross-entropy computed with NumPy from the logits
    z = direct - direct.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    result = evaluate(model, TensorDataset(x, y), loss_fn=nn.CrossEntropyLoss(), batch_size=9)
    assert result["accuracy"] == pytest.approx(np.mean(direct.argmax(1) == y))
    assert result["loss"] == pytest.approx(-logp[np.arange(40), y].mean(), rel=1e-5)
    assert set(evaluate(model, (x, y))) == {"accuracy"}  # no loss_fn, no loss


def test_fit_custom_metric_and_dataloader():
    x, y = _blobs(32)
    model = _linear_model()

    def error_rate(out, target):
        return 1.0 - float(out.argmax(dim=1).eq(target).float().mean().item())

    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=0)
    history = fit(model, tc.optim.Adam(model.parameters(), lr=0.05), nn.CrossEntropyLoss(),
                  loader, 2, metrics=("accuracy", error_rate), verbose=0)
    for a, e in zip(history["accuracy"], history["error_rate"], strict=True):
        assert a + e == pytest.approx(1.0)


def test_fit_bad_arguments():
    x, y = _blobs(16)
    model = _linear_model()
    opt = tc.optim.SGD(model.parameters(), lr=0.1)
    loss = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="either val_data or val_split"):
        fit(model, opt, loss, (x, y), 1, val_data=(x, y), val_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="not a DataLoader"):
        fit(model, opt, loss, DataLoader(TensorDataset(x, y)), 1, val_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="epochs must be a non-negative integer"):
        fit(model, opt, loss, (x, y), -1, verbose=0)
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        fit(model, opt, loss, (x, y), 1, metrics=("f1",), verbose=0)
    with pytest.raises(ValueError, match="sequence of 3 items"):
        fit(model, opt, loss, (x, y, y), 1, verbose=0)


def test_verbose_prints_one_line_per_epoch(capsys):
    x, y = _blobs(16)
    model = _linear_model()
    fit(model, tc.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), (x, y), 2,
        verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[1] for ln in lines] == ["1/2", "2/2"] and "accuracy" in lines[0]
    fit(model, tc.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), (x, y), 1,
        verbose=0)
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------- NaN / Ctrl-C


def test_nan_loss_stops_with_epoch_and_batch():
    x, y = _blobs(32)
    model = _linear_model()
    base = nn.CrossEntropyLoss()
    calls = []

    def loss_fn(out, target):  # becomes NaN on the 6th batch: epoch 2, batch 2 (4 per epoch)
        calls.append(1)
        value = base(out, target)
        return value * float("nan") if len(calls) == 6 else value

    with pytest.raises(NonFiniteLossError, match=r"became nan at epoch 2, batch 2 of 4") as info:
        fit(model, tc.optim.SGD(model.parameters(), lr=0.1), loss_fn, (x, y), 5, batch_size=8,
            verbose=0)
    assert info.value.epoch == 2 and info.value.batch == 2 and len(info.value.history) == 1


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_inf_loss_from_huge_learning_rate():
    x, y = _blobs(32)
    x = x * 1e6
    model = _linear_model()
    with pytest.raises(NonFiniteLossError, match=r"at epoch \d+, batch \d+ of 4; try a lower"):
        fit(model, tc.optim.SGD(model.parameters(), lr=1e30), nn.CrossEntropyLoss(), (x, y), 50,
            batch_size=8, verbose=0)


class _InterruptAt(Callback):
    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, trainer, batch, logs):
        if trainer.epoch == self.epoch and batch == self.batch:
            raise KeyboardInterrupt


def _run(epochs, seed=3, callbacks=(), resume=None, init_seed=11):
    x, y = _blobs(48, seed=5)
    tc.manual_seed(init_seed)
    model = _conv_model()
    opt = tc.optim.Adam(model.parameters(), lr=0.02)
    history = fit(model, opt, nn.CrossEntropyLoss(), (x, y), epochs, batch_size=8,
                  val_split=0.25, callbacks=callbacks, verbose=0, seed=seed, resume=resume)
    return model, history


def test_checkpoint_resume_equals_uninterrupted_training(tmp_path):
    full_model, full_history = _run(4)
    path = tmp_path / "ckpt.npz"
    _run(2, callbacks=[ModelCheckpoint(path)])
    # a differently initialised model: everything must come from the checkpoint
    resumed, history = _run(4, resume=path, init_seed=99)
    assert history.epochs == [1, 2, 3, 4]
    for key, value in _state(full_model).items():
        np.testing.assert_array_equal(_state(resumed)[key], value, err_msg=key)
    np.testing.assert_allclose(history["loss"], full_history["loss"], rtol=1e-6)


def test_ctrl_c_saves_its_own_checkpoint_and_resume_continues_the_epoch(tmp_path):
    path = tmp_path / "ckpt.npz"
    checkpoint = ModelCheckpoint(path)
    model, history = _run(3, callbacks=[checkpoint, _InterruptAt(epoch=2, batch=1)])
    assert history.interrupted and len(history) == 1
    assert history.stop_reason == "interrupted (Ctrl-C) during epoch 2, after batch 2 of 5"
    assert tc.load(path)["epoch"] == 1  # the end-of-epoch file is left alone
    saved = tc.load(tmp_path / "ckpt.interrupted.npz")
    assert (saved["epoch"], saved["batch"]) == (2, 2)
    for key, value in _state(model).items():  # the weights as they were when stopped
        np.testing.assert_array_equal(saved["model"][key].numpy(), value, err_msg=key)
    resumed, history = _run(3, resume=tmp_path / "ckpt.interrupted.npz", init_seed=99)
    full_model, _ = _run(3)
    assert history.epochs == [1, 2, 3] and not history.interrupted
    for key, value in _state(full_model).items():
        np.testing.assert_array_equal(_state(resumed)[key], value, err_msg=key)


def test_ctrl_c_without_checkpoint_returns_history():
    _, history = _run(3, callbacks=[_InterruptAt(epoch=1, batch=0)])
    assert history.interrupted and len(history) == 0


# --------------------------------------------------------------------------- callbacks


def test_early_stopping_after_patience():
    x, y = _blobs(32)
    model = _linear_model()
    stop = EarlyStopping(monitor="loss", patience=2, min_delta=1e-3)
    # a negligible lr: the loss cannot improve, so training stops after 1 + patience + 1 epochs
    history = fit(model, tc.optim.SGD(model.parameters(), lr=1e-12), nn.CrossEntropyLoss(), (x, y),
                  20, callbacks=[stop], verbose=0)
    assert len(history) == 4 and history.stopped_early and stop.stopped_epoch == 4
    assert "loss did not improve for 3 epochs" in history.stop_reason


def test_early_stopping_restores_best_weights():
    x, y = _blobs(32)
    model = _linear_model()
    snapshots = []

    class Record(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            snapshots.append((logs["val_loss"], _state(trainer.model)))

    stop = EarlyStopping(patience=0, restore_best_weights=True)
    # a large learning rate makes val_loss go up and down
    fit(model, tc.optim.SGD(model.parameters(), lr=5.0), nn.CrossEntropyLoss(), (x, y), 30,
        val_data=_blobs(32, seed=1), callbacks=[Record(), stop], verbose=0, seed=0)
    best_loss, best_state = min(snapshots, key=lambda s: s[0])
    assert stop.best == pytest.approx(best_loss)
    for key, value in best_state.items():
        np.testing.assert_array_equal(_state(model)[key], value)


def test_early_stopping_errors():
    with pytest.raises(KeyError, match="'val_loss' is not in the epoch's logs"):
        x, y = _blobs(16)
        model = _linear_model()
        fit(model, tc.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), (x, y), 2,
            callbacks=[EarlyStopping()], verbose=0)
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'"):
        EarlyStopping(mode="up")


def test_model_checkpoint_best_only_and_extra(tmp_path):
    x, y = _blobs(32)
    model = _linear_model()
    ckpt = ModelCheckpoint(tmp_path / "best-{epoch}.npz", monitor="accuracy",
                           save_best_only=True, extra={"model_name": "tiny"})
    history = fit(model, tc.optim.Adam(model.parameters(), lr=0.05), nn.CrossEntropyLoss(),
                  (x, y), 4, callbacks=[ckpt], verbose=0, seed=0)
    saved = sorted(p.name for p in tmp_path.iterdir())
    best = [e for e, a in zip(history.epochs, history["accuracy"], strict=True)
            if a == max(history["accuracy"][:e])]
    assert saved == sorted(f"best-{e}.npz" for e in best)  # only epochs that improved
    data = tc.load(tmp_path / saved[-1])
    assert data["model_name"] == "tiny" and set(data["model"]) == set(model.state_dict())


def test_lr_scheduler_callback_and_csv_logger(tmp_path):
    x, y = _blobs(16)
    model = _linear_model()
    opt = tc.optim.SGD(model.parameters(), lr=0.4)
    sched = tc.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    log = tmp_path / "log.csv"
    history = fit(model, opt, nn.CrossEntropyLoss(), (x, y), 3,
                  callbacks=[LRSchedulerCallback(sched), CSVLogger(log)], verbose=0)
    assert history["lr"] == pytest.approx([0.4, 0.2, 0.1])
    rows = list(csv.DictReader(log.open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [float(r["loss"]) for r in rows] == pytest.approx(history["loss"], rel=1e-5)


def test_reduce_lr_on_plateau_gets_the_metric():
    x, y = _blobs(16)
    model = _linear_model()
    opt = tc.optim.SGD(model.parameters(), lr=1e-12)
    sched = tc.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    history = fit(model, opt, nn.CrossEntropyLoss(), (x, y), 3, val_data=(x, y),
                  callbacks=[LRSchedulerCallback(sched)], verbose=0)
    # val_loss is flat, so the lr is halved after epochs 2 and 3
    assert history["lr"] == pytest.approx([1e-12, 1e-12, 5e-13])
    assert opt.param_groups[0]["lr"] == pytest.approx(2.5e-13)


# --------------------------------------------------------------------------- History


def test_history_round_trip_and_plot(tmp_path):
    h = History()
    h.append(1, {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.2, "val_accuracy": 0.4})
    h.append(2, {"loss": 0.5, "accuracy": 0.8})
    assert h["val_loss"][1] != h["val_loss"][1]  # missing values are NaN
    assert math.isnan(h["val_accuracy"][1])
    again = History.from_dict(h.to_dict())
    assert again.epochs == [1, 2] and again["loss"] == [1.0, 0.5]
    with pytest.raises(KeyError, match="History has no 'f1'"):
        h["f1"]
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (the main extra)")
    path = h.plot(tmp_path / "curves.png", title="test")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path
    with pytest.raises(ValueError, match="no epoch has finished"):
        History().plot(tmp_path / "empty.png")


def test_progress_bar_of_a_resumed_epoch_starts_at_its_batch(monkeypatch):
    pytest.importorskip("tqdm", reason="tqdm draws the bar (the main extra)")
    from tinygrad_cnn.train.progress import Progress

    monkeypatch.setattr(Progress, "_use_bar", lambda self: True)
    progress = Progress(verbose=1, epochs=3)
    progress.start_epoch(2, 10, done=4)  # resumed after batch 4 of 10: six more steps fill it
    for _ in range(6):
        progress.update({"loss": 0.5})
    assert (progress._bar.n, progress._bar.total) == (10, 10)
    progress.close()
