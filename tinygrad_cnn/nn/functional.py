"""The stateless user API, with PyTorch's names: ``import tinygrad_cnn.nn.functional as F``.

Every function here is defined in ``tinygrad_cnn/ops/``; this module only gathers them.
"""

# activations and softmax (core ops)
from tinygrad_cnn.ops.elementwise import leaky_relu, relu, sigmoid, tanh
from tinygrad_cnn.ops.loss import log_softmax, softmax

# [conv-pool] convolution and pooling (ops/conv.py, ops/pool.py, ops/windows.py)
from tinygrad_cnn.ops.conv import conv2d, conv_transpose2d
from tinygrad_cnn.ops.pool import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    lp_pool2d,
    max_pool2d,
)

# [layers] linear, dropout, normalization, other activations

# [losses] losses (ops/loss.py)
