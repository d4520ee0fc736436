"""Optimizers (PyTorch's update rules) and learning-rate schedulers (``optim.lr_scheduler``)."""

from tinygrad_cnn.optim import lr_scheduler
from tinygrad_cnn.optim.adadelta import Adadelta
from tinygrad_cnn.optim.adagrad import Adagrad
from tinygrad_cnn.optim.adam import Adam, AdamW
from tinygrad_cnn.optim.adamax import Adamax
from tinygrad_cnn.optim.nadam import NAdam
from tinygrad_cnn.optim.optimizer import Optimizer
from tinygrad_cnn.optim.radam import RAdam
from tinygrad_cnn.optim.rmsprop import RMSprop
from tinygrad_cnn.optim.sgd import SGD

__all__ = [
    "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "NAdam", "Optimizer", "RAdam", "RMSprop",
    "SGD", "lr_scheduler",
]
