"""Neural-network building blocks: layers (Modules), their functional forms and initialisers."""

from tinygrad_cnn.nn import functional

# [conv-pool] conv_output_size
from tinygrad_cnn.ops.windows import conv_output_size

# [modules] Module, Parameter, containers, layers, init, utils
from tinygrad_cnn.nn import utils
