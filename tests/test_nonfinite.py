"""Non-finite values and empty data in fit / evaluate (issue 13, section 3): a NaN batch leaves
no trace in the model, NaN validation data is reported and handled by the callbacks, and empty
data is a clear error."""

import math
import warnings

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import nn
from tinygrad_cnn.train import (
    Callback,
    EarlyStopping,
    ModelCheckpoint,
    NonFiniteLossError,
    evaluate,
    fit,
)


def _blobs(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, 1, 4, 4)).astype(np.float32) * 0.5
    x[:, :, :, :2] += 1.5 * y[:, None, None, None]
    return x, y.astype(np.int64)


def _bn_model():
    tc.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(48, 2))


def _buffers(model):
    return {k: v.numpy().copy() for k, v in model.named_buffers()}


class _Buffers(Callback):
    def on_batch_end(self, trainer, batch, logs):
        self.last = _buffers(trainer.model)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_batch_leaves_batchnorm_statistics_alone(bad):
    x, y = _blobs(64)
    model = _bn_model()
    opt = tc.optim.SGD(model.parameters(), lr=0.05)
    fit(model, opt, nn.CrossEntropyLoss(), (x, y), 1, batch_size=8, verbose=0)
    x_bad = x.copy()
    x_bad[21, 0, 1, 1] = bad  # in the third batch (no shuffling: a DataLoader without shuffle)
    loader = tc.data.DataLoader(tc.data.TensorDataset(x_bad, y), batch_size=8)
    seen = _Buffers()
    params = {k: v.numpy().copy() for k, v in model.named_parameters()}
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, batch 3 of 8"):
        fit(model, opt, nn.CrossEntropyLoss(), loader, 1, callbacks=[seen], verbose=0)
    after = _buffers(model)
    for key, value in seen.last.items():  # as after batch 2, the last good one
        np.testing.assert_array_equal(after[key], value, err_msg=key)
        assert np.isfinite(after[key]).all(), key
    assert after["1.num_batches_tracked"] == 8 + 2
    # the parameters moved only by the two good batches
    assert all(np.isfinite(v.numpy()).all() for v in model.parameters())
    assert any(not np.array_equal(v.numpy(), params[k]) for k, v in model.named_parameters())
    assert evaluate(model, (x, y))["accuracy"] > 0.8


def test_nan_in_validation_data_is_reported():
    x, y = _blobs(64)
    xv, yv = _blobs(16, seed=1)
    xv[[3, 7]] = np.nan
    model = _bn_model()
    with pytest.warns(RuntimeWarning, match=r"validation after epoch 1: the loss is nan; 2 of 16 "
                                            r"samples have NaN or infinite inputs"):
        history = fit(model, tc.optim.SGD(model.parameters(), lr=0.05), nn.CrossEntropyLoss(),
                      (x, y), 1, val_data=(xv, yv), verbose=0)
    assert math.isnan(history["val_loss"][0])
    with pytest.warns(RuntimeWarning, match=r"evaluate: the loss is nan; 2 of 16 samples"):
        evaluate(model, (xv, yv), loss_fn=nn.CrossEntropyLoss())


def test_early_stopping_and_best_checkpoint_handle_nan(tmp_path):
    x, y = _blobs(64)
    xv, yv = _blobs(16, seed=1)
    xv[0] = np.nan
    model = _bn_model()
    stopper = EarlyStopping(patience=1)
    best = ModelCheckpoint(tmp_path / "best.ckpt", save_best_only=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(model, tc.optim.SGD(model.parameters(), lr=0.05), nn.CrossEntropyLoss(),
                      (x, y), 5, val_data=(xv, yv), callbacks=[stopper, best], verbose=0)
    messages = [str(w.message) for w in caught]
    assert any("EarlyStopping: val_loss is nan at epoch 1; counted as not improving" in m
               for m in messages), messages
    assert any("ModelCheckpoint: val_loss is nan at epoch 1;" in m and "best.ckpt is not written"
               in m for m in messages), messages
    assert history.epochs == [1, 2] and history.stopped_early
    assert history.stop_reason == ("early stopping: val_loss did not improve for 2 epochs (no "
                                   "finite value yet; it was NaN/inf at epochs [1, 2])")
    assert not (tmp_path / "best.ckpt").exists()


def test_nan_then_finite_validation_loss():
    stopper = EarlyStopping(patience=3)
    trainer = type("T", (), {})()
    stopper.on_train_begin(trainer)
    with pytest.warns(RuntimeWarning):
        stopper.on_epoch_end(trainer, 1, {"val_loss": math.nan})
    stopper.on_epoch_end(trainer, 2, {"val_loss": 0.5})
    assert (stopper.best, stopper.best_epoch, stopper.wait) == (0.5, 2, 0)


def test_empty_data_is_an_error():
    model = _bn_model()
    opt = tc.optim.SGD(model.parameters(), lr=0.05)
    x, y = _blobs(16)
    empty = (x[:0], y[:0])
    with pytest.raises(ValueError, match=r"fit: train_data is empty \(0 samples\)"):
        fit(model, opt, nn.CrossEntropyLoss(), empty, 1, verbose=0)
    with pytest.raises(ValueError, match=r"fit: val_data is empty \(0 samples\)"):
        fit(model, opt, nn.CrossEntropyLoss(), (x, y), 1, val_data=empty, verbose=0)
    loader = tc.data.DataLoader(tc.data.TensorDataset(x[:5], y[:5]), batch_size=8,
                                drop_last=True)
    with pytest.raises(ValueError, match=r"gives no batch: 5 samples with batch_size 8"):
        fit(model, opt, nn.CrossEntropyLoss(), loader, 1, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: the data is empty \(0 samples\)"):
        evaluate(model, empty)
