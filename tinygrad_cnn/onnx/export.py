"""``tc.onnx.export``: a model's forward pass as an ONNX graph, built with the onnx package's
helpers and checked with ``onnx.checker``.

Each recorded op (see trace.py) becomes one or a few ONNX nodes; every other value the graph
reads (parameters, buffers, constants folded during tracing, numbers) becomes an initializer.
Shapes: the graph input is the example's shape, with its first dimension named ``batch`` when
``dynamic_batch`` (reshapes keep the batch dimension with ONNX's 0 = "copy this dimension").
"""

from __future__ import annotations

import os

import numpy as np

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.grad_mode import no_grad
from tinygrad_cnn.onnx import trace
from tinygrad_cnn.tensor import Tensor


class OnnxExportError(ValueError):
    """The model uses an op (or an op's form) that the exporter cannot write."""


def _onnx():
    try:
        import onnx  # noqa: PLC0415 - optional dependency
        from onnx import helper, numpy_helper  # noqa: PLC0415
    except ImportError as e:
        raise ImportError(f"tc.onnx.export needs the onnx package ({e}): pip install "
                          "'tinygrad_cnn[onnx]'") from None
    return onnx, helper, numpy_helper


class _Graph:
    """The nodes and initializers being built, and the ONNX name of every value."""

    def __init__(self, rec, dynamic_batch, batch):
        self.onnx, self.helper, self.numpy_helper = _onnx()
        self.nodes, self.initializers = [], []
        self.names = {}          # id(Tensor or array) -> value name
        self.rec = rec
        self.dynamic_batch = dynamic_batch
        self.batch = batch
        self.count = 0

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def constant(self, value, like=None) -> str:
        """An initializer holding ``value`` (a Tensor, an array or a number; a number takes the
        dtype of ``like``, an array of the graph)."""
        key = id(value.data) if isinstance(value, Tensor) else None
        if key is not None and key in self.names:
            return self.names[key]
        if isinstance(value, Tensor):
            array = backend.to_numpy(value.data)
        else:
            dtype = like.dtype if like is not None else None
            array = np.asarray(value, dtype=dtype)
        name = self.fresh("const")
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        if key is not None:
            self.names[key] = name
            self.rec.keep.append(value)
        return name

    def ints(self, values, hint="shape") -> str:
        return self.constant(np.asarray(values, dtype=np.int64))

    def value(self, arg, like=None) -> str:
        """The name of an op argument: a traced value, or a constant."""
        if isinstance(arg, Tensor) and id(arg) in self.names:
            return self.names[id(arg)]
        if isinstance(arg, Tensor) and id(arg) in self.rec.traced:
            raise OnnxExportError("onnx export: a value is used before the op that makes it")
        return self.constant(arg, like)

    def node(self, op_type, inputs, output=None, **attrs) -> str:
        output = output or self.fresh(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [output], **attrs))
        return output


# --------------------------------------------------------------------------- per-op emitters


def _tensor_args(call):
    return [a for a in call.args if isinstance(a, Tensor)]


def _first_traced(g, call):
    for a in call.args:
        if isinstance(a, Tensor) and id(a) in g.rec.traced:
            return a
    return None


def _like(g, call):
    """A traced input, to give numbers their dtype."""
    return _first_traced(g, call)


_UNARY = {"Neg": "Neg", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Abs": "Abs", "Tanh": "Tanh",
          "Sigmoid": "Sigmoid", "ReLU": "Relu", "Erf": "Erf", "Softplus": "Softplus",
          "Floor": "Floor", "Ceil": "Ceil", "Reciprocal": "Reciprocal", "Sin": "Sin",
          "Cos": "Cos", "Sign": "Sign", "Clone": "Identity"}
_BINARY = {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "Div", "Pow": "Pow",
           "Maximum": "Max", "Minimum": "Min"}


def _pads(geo_h, geo_w):
    """ONNX pads [h_begin, w_begin, h_end, w_end] reproducing each Axis's windows exactly."""
    ends = [max(0, a.span - a.size - a.pad_before) for a in (geo_h, geo_w)]
    return [geo_h.pad_before, geo_w.pad_before, *ends]


def _in_bounds(a) -> np.ndarray:
    """How many taps of each window along Axis ``a`` (dilation 1) fall inside the input."""
    starts = np.arange(a.out) * a.stride - a.pad_before
    return np.minimum(starts + a.kernel, a.size) - np.maximum(starts, 0)


def _emit(g, call):
    name = call.op.__name__
    args, kw = call.args, call.kwargs
    like = _like(g, call)
    if name in _UNARY:
        return g.node(_UNARY[name], [g.value(args[0])])
    if name in _BINARY:
        return g.node(_BINARY[name], [g.value(args[0], like), g.value(args[1], like)])
    if name == "LeakyReLU":
        return g.node("LeakyRelu", [g.value(args[0])], alpha=float(_arg(call, 1, "negative_slope")))
    if name in ("Clamp", "Hardtanh"):
        low, high = (_arg(call, 1, "min_value", "min_val"), _arg(call, 2, "max_value", "max_val"))
        inputs = [g.value(args[0])]
        inputs.append("" if low is None else g.constant(low, like))
        inputs.append("" if high is None else g.constant(high, like))
        return g.node("Clip", inputs)
    if name == "ELU":
        alpha, scale, input_scale = (_arg(call, 1, "alpha"), _arg(call, 2, "scale"),
                                     _arg(call, 3, "input_scale"))
        if input_scale == 1 and scale == 1:
            return g.node("Elu", [g.value(args[0])], alpha=float(alpha))
        if input_scale == 1:
            return g.node("Selu", [g.value(args[0])], alpha=float(alpha), gamma=float(scale))
        raise _unsupported(call, "CELU-style input scaling")
    if name == "Linear":
        x, w, b = args[0], args[1], args[2] if len(args) > 2 else kw.get("b")
        if x.ndim == 2:
            inputs = [g.value(x), g.value(w)] + ([g.value(b)] if b is not None else [])
            return g.node("Gemm", inputs, transB=1)
        out = g.node("MatMul", [g.value(x), g.constant(Tensor._from_array(w.data.T.copy()))])
        return out if b is None else g.node("Add", [out, g.value(b)])
    if name == "BatchNormRunningStats":
        x, eps = args[0], _arg(call, 5, "eps")
        constants = [args[3], args[4], args[1], args[2]]          # weight, bias, mean, var
        if any(t is not None and t.dtype != x.dtype for t in constants):
            raise _unsupported(call, "statistics or affine parameters of another dtype than "
                                     "the input")
        defaults = [np.ones(x.shape[1]), np.zeros(x.shape[1])]    # no weight, no bias
        inputs = [g.value(x)] + [g.value(t) if t is not None else g.constant(defaults[i], x)
                                 for i, t in enumerate(constants)]
        return g.node("BatchNormalization", inputs, epsilon=float(eps))
    if name == "MatMul":
        return g.node("MatMul", [g.value(args[0], like), g.value(args[1], like)])
    if name == "Conv2d":
        x, w, b = args[0], args[1], args[2] if len(args) > 2 else kw.get("b")
        geo = _arg(call, 3, "geometry")
        inputs = [g.value(x), g.value(w)] + ([g.value(b)] if b is not None else [])
        return g.node("Conv", inputs, kernel_shape=[geo.h.kernel, geo.w.kernel],
                      strides=[geo.h.stride, geo.w.stride],
                      dilations=[geo.h.dilation, geo.w.dilation], group=geo.groups,
                      pads=_pads(geo.h, geo.w))
    if name == "ConvTranspose2d":
        x, w, b = args[0], args[1], args[2] if len(args) > 2 else kw.get("b")
        geo = _arg(call, 3, "geometry")  # the forward conv whose input this op's output is
        pads, extra = [geo.h.pad_before, geo.w.pad_before], []
        for a, n_in in ((geo.h, x.shape[2]), (geo.w, x.shape[3])):
            end = (n_in - 1) * a.stride + a.dilation * (a.kernel - 1) + 1 - a.size - a.pad_before
            pads.append(max(end, 0))
            extra.append(max(-end, 0))
        inputs = [g.value(x), g.value(w)] + ([g.value(b)] if b is not None else [])
        return g.node("ConvTranspose", inputs,
                      kernel_shape=[geo.h.kernel, geo.w.kernel],
                      strides=[geo.h.stride, geo.w.stride],
                      dilations=[geo.h.dilation, geo.w.dilation], group=geo.groups,
                      pads=[pads[0], pads[1], pads[2], pads[3]], output_padding=extra)
    if name == "MaxPool2d":
        if _arg(call, 2, "indices_out") is not None:
            raise _unsupported(call, "return_indices=True")
        geo = _arg(call, 1, "geometry")
        return g.node("MaxPool", [g.value(args[0])], kernel_shape=[geo.h.kernel, geo.w.kernel],
                      strides=[geo.h.stride, geo.w.stride],
                      dilations=[geo.h.dilation, geo.w.dilation], pads=_pads(geo.h, geo.w))
    if name == "AvgPool2d":
        geo, divisor = _arg(call, 1, "geometry"), _arg(call, 2, "divisor")
        if geo.h.dilation != 1 or geo.w.dilation != 1:
            raise _unsupported(call, "dilation")
        pads = _pads(geo.h, geo.w)
        window = geo.h.kernel * geo.w.kernel
        ratio = None
        if np.ndim(divisor) == 0 and float(divisor) == window:
            include = 1 if any(pads) else 0
        elif np.ndim(divisor) == 0:
            raise _unsupported(call, f"divisor_override={divisor}")
        else:  # per-window divisors: ONNX divides by the in-bounds count; rescale to ours
            include = 0
            counts = np.outer(*[_in_bounds(a) for a in (geo.h, geo.w)])
            ratio = counts / backend.to_numpy(divisor).reshape(counts.shape)
        out = g.node("AveragePool", [g.value(args[0])],
                     kernel_shape=[geo.h.kernel, geo.w.kernel],
                     strides=[geo.h.stride, geo.w.stride], pads=pads,
                     count_include_pad=include)
        if ratio is None or np.all(ratio == 1):
            return out
        return g.node("Mul", [out, g.constant(ratio.reshape(1, 1, *ratio.shape), like)])
    if name == "Reshape":
        x, shape = args[0], tuple(_arg(call, 1, "shape"))
        return g.node("Reshape", [g.value(x), g.ints(_batch_shape(g, x, shape, call))])
    if name == "Permute":
        return g.node("Transpose", [g.value(args[0])], perm=list(_arg(call, 1, "dims")))
    if name == "Expand":
        x, shape = args[0], tuple(_arg(call, 1, "shape"))
        return g.node("Expand", [g.value(x), g.ints(_batch_shape(g, x, shape, call, copy=1))])
    if name == "Cat":
        tensors = [a for a in args if isinstance(a, Tensor)]
        axis = kw.get("dim", 0)
        return g.node("Concat", [g.value(t, like) for t in tensors], axis=int(axis))
    if name == "Sum":
        x, dims, keepdim = args[0], _arg(call, 1, "dims"), _arg(call, 2, "keepdim")
        dims = list(range(x.ndim)) if dims is None else list(dims)
        return g.node("ReduceSum", [g.value(x), g.ints(dims)], keepdims=int(bool(keepdim)))
    if name in ("Amax", "Amin"):
        x, dims, keepdim = args[0], _arg(call, 1, "dims"), _arg(call, 2, "keepdim")
        dims = list(range(x.ndim)) if dims is None else list(dims)
        return g.node("ReduceMax" if name == "Amax" else "ReduceMin", [g.value(x)], axes=dims,
                      keepdims=int(bool(keepdim)))
    if name == "LogSoftmax":
        return g.node("LogSoftmax", [g.value(args[0])], axis=int(_arg(call, 1, "dim")))
    if name == "Cast":
        dtype = np.dtype(_arg(call, 1, "dtype"))
        to = g.helper.np_dtype_to_tensor_dtype(dtype)
        return g.node("Cast", [g.value(args[0])], to=int(to))
    if name == "Where":
        return g.node("Where", [g.value(args[0]), g.value(args[1], like),
                                g.value(args[2], like)])
    if name == "Pad":
        x, widths, value = args[0], _arg(call, 1, "widths"), _arg(call, 2, "value")
        widths = [tuple(w) for w in widths]
        pads = [w[0] for w in widths] + [w[1] for w in widths]
        if min(pads) < 0:
            raise _unsupported(call, "negative padding")
        return g.node("Pad", [g.value(x), g.ints(pads), g.constant(value or 0, x)],
                      mode="constant")
    if name == "GetItem":
        return _slice(g, call)
    raise _unsupported(call)


def _arg(call, position, *names):
    """Argument ``position`` of the Function's forward (after ctx), or its keyword."""
    for n in names:
        if n in call.kwargs:
            return call.kwargs[n]
    return call.args[position] if position < len(call.args) else None


def _batch_shape(g, x, shape, call, copy=0):
    """A reshape/expand target with the batch dimension kept dynamic (0 copies it in Reshape,
    1 broadcasts it in Expand) when it stays the first dimension."""
    shape = list(shape)
    if not g.dynamic_batch or x.ndim == 0 or not shape:
        return shape
    if x.shape[0] == g.batch and shape[0] == g.batch:
        shape[0] = 0 if copy == 0 else 1
        return shape
    if g.batch in (x.shape[0],) and g.batch != 1:
        raise _unsupported(call, f"a reshape of {x.shape} to {tuple(shape)} that moves the batch "
                                 "dimension (export with dynamic_batch=False)")
    return shape


def _slice(g, call):
    x, index = call.args[0], _arg(call, 1, "index")
    index = index if isinstance(index, tuple) else (index,)
    starts, ends, axes, steps = [], [], [], []
    for axis, item in enumerate(index):
        if item is Ellipsis:
            break
        if not isinstance(item, slice):
            raise _unsupported(call, f"indexing with {type(item).__name__}")
        start, stop, step = item.indices(x.shape[axis])
        if (start, stop, step) == (0, x.shape[axis], 1):
            continue
        if axis == 0 and g.dynamic_batch:
            raise _unsupported(call, "slicing the batch dimension")
        starts.append(start)
        ends.append(stop)
        axes.append(axis)
        steps.append(step)
    if not axes:
        return g.node("Identity", [g.value(x)])
    return g.node("Slice", [g.value(x), g.ints(starts), g.ints(ends), g.ints(axes),
                            g.ints(steps)])


def _unsupported(call, detail=None) -> OnnxExportError:
    what = f" ({detail})" if detail else ""
    return OnnxExportError(f"onnx export: cannot export op {call.op.__name__}{what}, used in "
                           f"{call.module}")


# --------------------------------------------------------------------------- export


def export(model, example_input, path, opset: int = 17, dynamic_batch: bool = True,
           input_names=("input",), output_names=("output",), metadata=None) -> str:
    """Write ``model`` as an ONNX file at ``path``, traced from one forward pass on
    ``example_input`` (N, ...) in eval mode; returns the path.

    The graph takes float inputs shaped like ``example_input`` (first dimension ``batch`` when
    ``dynamic_batch``) and returns the model's output. Supported: the ops of the model zoo
    (conv, transposed conv, BatchNorm in eval, activations, max/avg/adaptive pooling, Linear,
    flatten/reshape, add, cat, dropout in eval, ...); any other op raises OnnxExportError naming
    it and the module it is used in. ``metadata``: a dict of strings stored in the model's
    ``metadata_props`` (the CLI stores the classes and the input normalization there). Needs the
    ``onnx`` package (the ``onnx`` extra).
    """
    onnx, helper, _ = _onnx()
    if not isinstance(opset, int) or opset < 13:
        raise ValueError(f"onnx export: opset must be an integer >= 13, got {opset!r}")
    if not isinstance(example_input, Tensor):
        example_input = Tensor(example_input)
    if example_input.ndim < 1:
        raise ValueError("onnx export: example_input needs a batch dimension, got a 0-d tensor")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"onnx export: the folder of {path} does not exist")
    example = Tensor._from_array(backend.to_device(example_input.data, "cpu"))
    was_training = model.training
    device = next((p.device for p in model.parameters()), "cpu")
    model.eval()
    model.to("cpu")
    try:
        with no_grad(), trace.recording(model, example) as rec:
            output = model(example)
        if not isinstance(output, Tensor):
            raise OnnxExportError(f"onnx export: the model returned a {type(output).__name__}; "
                                  "only a single Tensor output is supported")
        g = _Graph(rec, dynamic_batch, example.shape[0])
        g.names[id(example)] = input_names[0]
        for call in rec.calls:
            g.names[id(call.output)] = _emit(g, call)
        if id(output) not in g.names:
            raise OnnxExportError("onnx export: the model's output does not depend on its input")
        g.node("Identity", [g.names[id(output)]], output=output_names[0])
        batch = "batch" if dynamic_batch else example.shape[0]
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(example.dtype))
        out_elem = helper.np_dtype_to_tensor_dtype(np.dtype(output.dtype))
        graph = helper.make_graph(
            g.nodes, "tinygrad_cnn",
            [helper.make_tensor_value_info(input_names[0], elem,
                                           [batch, *example.shape[1:]])],
            [helper.make_tensor_value_info(output_names[0], out_elem,
                                           [batch, *output.shape[1:]])],
            initializer=g.initializers)
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="tinygrad_cnn")
        proto.ir_version = min(proto.ir_version, 10)  # readable by current onnxruntime builds
        if metadata:
            helper.set_model_props(proto, {str(k): str(v) for k, v in metadata.items()})
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, path)
    finally:
        model.train(was_training)
        model.to(device)
    return path
