"""Neural-network building blocks: layers (Modules), their functional forms and initialisers."""

from tinygrad_cnn.nn import functional

# [conv-pool] conv_output_size
from tinygrad_cnn.ops.windows import conv_output_size

# [modules] Module, Parameter, containers, layers, init, utils
from tinygrad_cnn.nn import init
from tinygrad_cnn.nn.activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tinygrad_cnn.nn.activation import Softmin
# [ops-bugs] more activation layers
from tinygrad_cnn.nn.activation import (
    CELU,
    ELU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LogSigmoid,
    Mish,
    PReLU,
    ReLU6,
    SiLU,
    Softplus,
    Softsign,
)
from tinygrad_cnn.nn.embedding import Embedding
from tinygrad_cnn.nn.layers import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool2d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Flatten,
    Linear,
    LPPool2d,
    MaxPool2d,
    Unflatten,
)
from tinygrad_cnn.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineSimilarity,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    PairwiseDistance,
    SmoothL1Loss,
)
# [losses-margin] margin, embedding and likelihood losses
from tinygrad_cnn.nn.losses import (
    CosineEmbeddingLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    MarginRankingLoss,
    MultiLabelSoftMarginLoss,
    PoissonNLLLoss,
    SoftMarginLoss,
    TripletMarginLoss,
)
from tinygrad_cnn.nn.containers import (
    Identity,
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
)
from tinygrad_cnn.nn.module import Module, Parameter
from tinygrad_cnn.nn import utils

# [layers-vocab] 1-D conv and pools, padding layers, pixel shuffle
from tinygrad_cnn.nn.conv1d import AvgPool1d, Conv1d, MaxPool1d
from tinygrad_cnn.nn.padding import (
    CircularPad1d,
    CircularPad2d,
    ConstantPad1d,
    ConstantPad2d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReplicationPad1d,
    ReplicationPad2d,
    ZeroPad1d,
    ZeroPad2d,
)
from tinygrad_cnn.nn.upsampling import (
    PixelShuffle,
    PixelUnshuffle,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)
from tinygrad_cnn.nn.fold import Fold, Unfold
from tinygrad_cnn.nn.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    Dropout2d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    LayerNorm,
    LocalResponseNorm,
)
from tinygrad_cnn.nn.lazy import LazyConv2d, LazyLinear, UninitializedParameter

# [layers-helper] more activations, RMSNorm, ChannelShuffle, Dropout1d, 1-D adaptive pools
from tinygrad_cnn.nn.activation_extra import (
    GLU,
    Hardshrink,
    Softmax2d,
    Softshrink,
    Tanhshrink,
    Threshold,
)
from tinygrad_cnn.nn.conv1d import AdaptiveAvgPool1d, AdaptiveMaxPool1d
from tinygrad_cnn.nn.normalization import Dropout1d, RMSNorm
from tinygrad_cnn.nn.upsampling import ChannelShuffle
