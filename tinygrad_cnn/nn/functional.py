"""The stateless user API, with PyTorch's names: ``import tinygrad_cnn.nn.functional as F``.

Every function here is defined in ``tinygrad_cnn/ops/``; this module only gathers them.
"""

# activations and softmax (core ops)
from tinygrad_cnn.ops.activation import leaky_relu, relu
from tinygrad_cnn.ops.elementwise import sigmoid, tanh
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
from tinygrad_cnn.ops.activation import erf, gelu, softplus
from tinygrad_cnn.ops.dense import linear
from tinygrad_cnn.ops.normalization import batch_norm, dropout

# [losses] losses (ops/loss.py)
from tinygrad_cnn.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from tinygrad_cnn.ops.loss_extra import (
    cosine_similarity,
    huber_loss,
    kl_div,
    local_response_norm,
    pairwise_distance,
)
# [losses-margin] margin, embedding and likelihood losses (ops/loss_margin.py)
from tinygrad_cnn.ops.loss_margin import (
    cosine_embedding_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_loss,
)

# [ops-bugs] more activations (ops/activation.py)
from tinygrad_cnn.ops.activation import (
    celu,
    elu,
    hardsigmoid,
    hardswish,
    hardtanh,
    logsigmoid,
    mish,
    prelu,
    relu6,
    selu,
    silu,
    softsign,
)

# [layers-vocab] padding modes, 1-D conv and pooling (through the 2-D ops), resampling
from tinygrad_cnn.ops.conv1d import avg_pool1d, conv1d, max_pool1d
from tinygrad_cnn.ops.padding import pad
from tinygrad_cnn.ops.resample import interpolate, pixel_shuffle, pixel_unshuffle
from tinygrad_cnn.ops.norms import dropout2d, group_norm, instance_norm, layer_norm
from tinygrad_cnn.ops.unfold import fold, unfold

# [ops-vocab] normalize, softmin, one_hot
from tinygrad_cnn.ops.indexing import embedding, one_hot
from tinygrad_cnn.ops.vector_norm import normalize, softmin

# [layers-helper] more activations, rms_norm, channel_shuffle, dropout1d, 1-D adaptive pools
from tinygrad_cnn.ops.activation_extra import glu, hardshrink, softshrink, tanhshrink, threshold
from tinygrad_cnn.ops.conv1d import adaptive_avg_pool1d, adaptive_max_pool1d
from tinygrad_cnn.ops.norms import dropout1d, rms_norm
from tinygrad_cnn.ops.resample import channel_shuffle
