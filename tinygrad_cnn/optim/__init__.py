"""Optimizers (PyTorch's update rules) and learning-rate schedulers (``optim.lr_scheduler``)."""

from tinygrad_cnn.optim import lr_scheduler
from tinygrad_cnn.optim.adagrad import Adagrad
from tinygrad_cnn.optim.adam import Adam, AdamW
from tinygrad_cnn.optim.optimizer import Optimizer
from tinygrad_cnn.optim.rmsprop import RMSprop
from tinygrad_cnn.optim.sgd import SGD

__all__ = ["Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]
