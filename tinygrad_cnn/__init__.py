"""tinygrad_cnn: a small, readable deep-learning framework for convolutional networks.

Arrays live on NumPy ("cpu") or CuPy ("gpu"); the same model code runs on either.
"""

# tensor must be imported first: the ops it pulls in import Tensor back from it.
from tinygrad_cnn.tensor import Tensor, grad  # isort: skip
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from tinygrad_cnn.backend import (
    DeviceMismatchError,
    ShapeError,
    available_devices,
    bool_,
    device,
    float16,
    float32,
    float64,
    get_default_device,
    get_rng_state,
    gpu_available,
    int8,
    int16,
    int32,
    int64,
    manual_seed,
    set_default_device,
    set_rng_state,
    uint8,
)
from tinygrad_cnn.creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    is_tensor,
    linspace,
    numel,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from tinygrad_cnn.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tinygrad_cnn.ops.einsum import einsum
from tinygrad_cnn.ops.elementwise import (
    abs,
    add,
    clamp,
    clip,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    sigmoid,
    sqrt,
    sub,
    tanh,
    where,
)
from tinygrad_cnn.ops.compare import (
    allclose,
    count_nonzero,
    eq,
    equal,
    ge,
    gt,
    isclose,
    isfinite,
    isinf,
    isnan,
    le,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    ne,
)
# [ops-bugs] more elementwise math
from tinygrad_cnn.ops.elementwise_math import (
    sign,
    ceil,
    cos,
    exp2,
    expm1,
    floor,
    floor_divide,
    fmod,
    lerp,
    log1p,
    log2,
    log10,
    logaddexp,
    reciprocal,
    remainder,
    round,
    rsqrt,
    sin,
    square,
    trunc,
)
# [ops-bugs] the activations PyTorch also has at top level (torch.selu, ...)
from tinygrad_cnn.ops.activation import celu, erf, leaky_relu, prelu, relu, selu
from tinygrad_cnn.ops.linalg import bmm, dot, matmul, mm, outer, trace
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
    broadcast_tensors,
    broadcast_to,
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
from tinygrad_cnn.parallel import get_num_threads, set_num_threads
# [ops-vocab] scans, sorting, norms, indexing, more shape ops
from tinygrad_cnn import linalg
from tinygrad_cnn.ops.indexing import (
    gather,
    index_add,
    index_select,
    masked_fill,
    masked_select,
    nonzero,
    scatter,
    scatter_add,
    take,
    take_along_dim,
)
from tinygrad_cnn.ops.loss_extra import cdist
from tinygrad_cnn.ops.vector_norm import norm
from tinygrad_cnn.ops.scan import cumprod, cumsum, prod
from tinygrad_cnn.ops.shape_extra import (
    chunk,
    diagonal,
    flip,
    meshgrid,
    narrow,
    repeat_interleave,
    roll,
    select,
    split,
    t,
    tile,
    tril,
    triu,
    unbind,
    unflatten,
)
from tinygrad_cnn.ops.sort import argsort, median, nanmedian, sort, topk, unique

# [nn] nn, summary
from tinygrad_cnn import nn
from tinygrad_cnn.summary import summary
# [optim] optim, save, load
from tinygrad_cnn import optim
from tinygrad_cnn.serialization import CheckpointError, load, save
# [files] zero-copy exchange with NumPy, PyTorch, CuPy (DLPack)
from tinygrad_cnn.dlpack import from_dlpack, from_numpy
# [data-train] data, train, models
from tinygrad_cnn import data, models, train, utils
from tinygrad_cnn import cuda  # the kernels, and torch.cuda's is_available, device_count, ...
# [distributed] data-parallel training (imports no MPI until init_process_group)
from tinygrad_cnn import distributed
# [onnx] tc.onnx.export (the onnx package is imported only when exporting)
from tinygrad_cnn import onnx

# [cudaoptim] PyTorch-named GPU switches: tc.backends.cuda.matmul.allow_tf32, ...
from tinygrad_cnn import backends
from tinygrad_cnn.backends import get_float32_matmul_precision, set_float32_matmul_precision

__version__ = "0.1.0"

from tinygrad_cnn import malloc  # noqa: E402 - after the public names, so __all__ stays first

malloc.tune()  # reuse freed arrays instead of page-faulting them back each step (malloc.py)
