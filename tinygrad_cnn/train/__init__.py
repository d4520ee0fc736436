"""Training (``tinygrad_cnn.train``): ``fit`` / ``evaluate`` / ``predict``, History, callbacks."""

from tinygrad_cnn.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LRSchedulerCallback,
    ModelCheckpoint,
)
from tinygrad_cnn.train.history import History
from tinygrad_cnn.train.loop import NonFiniteLossError, Trainer, evaluate, fit, predict

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "LRSchedulerCallback",
    "ModelCheckpoint",
    "NonFiniteLossError",
    "Trainer",
    "evaluate",
    "fit",
    "predict",
]
