"""tinygrad_cnn: a small, readable deep-learning framework for convolutional networks.

Arrays live on NumPy ("cpu") or CuPy ("gpu"); the same model code runs on either.
"""

# tensor must be imported first: the ops it pulls in import Tensor back from it.
from tinygrad_cnn.tensor import Tensor, grad  # isort: skip
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from tinygrad_cnn.backend import (
    DeviceMismatchError,
    available_devices,
    get_default_device,
    gpu_available,
    manual_seed,
    set_default_device,
)
from tinygrad_cnn.creation import (
    arange,
    eye,
    full,
    full_like,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from tinygrad_cnn.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygrad_cnn.ops.elementwise import (
    abs,
    clamp,
    clip,
    eq,
    exp,
    ge,
    gt,
    le,
    leaky_relu,
    log,
    lt,
    maximum,
    minimum,
    ne,
    relu,
    sigmoid,
    sqrt,
    tanh,
    where,
)
from tinygrad_cnn.ops.linalg import matmul
from tinygrad_cnn.ops.loss import log_softmax, softmax
from tinygrad_cnn.ops.reduction import (
    amax,
    amin,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    std,
    sum,
    var,
)
from tinygrad_cnn.ops.shape import (
    cat,
    concatenate,
    expand,
    flatten,
    pad,
    permute,
    reshape,
    squeeze,
    stack,
    transpose,
    unsqueeze,
)

# [nn] nn, summary
# [optim] optim, save, load
# [data-train] data, train, models

import numpy as _np  # isort: skip

float16 = _np.float16
float32 = _np.float32
float64 = _np.float64
int8 = _np.int8
int16 = _np.int16
int32 = _np.int32
int64 = _np.int64
uint8 = _np.uint8
bool_ = _np.bool_

__version__ = "0.1.0"
