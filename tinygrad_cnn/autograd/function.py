"""Function: the base class of every differentiable operation, built-in or user-written.

A Function instance is also the graph node (``ctx``) of the tensor it produced:

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):              # backend arrays in, one backend array out
            y = ctx.xp.exp(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_y):        # a Tensor in, one gradient per forward input out
            (y,) = ctx.saved_tensors      # Tensors: the output itself, so double backward works
            return grad_y * y

    y = Exp.apply(x)
"""

from __future__ import annotations

from tinygrad_cnn import backend, tensor_inplace
from tinygrad_cnn.autograd.grad_mode import is_grad_enabled
from tinygrad_cnn.backend import array_module
from tinygrad_cnn.tensor import Tensor

# Where a saved array comes from: an input (by position), the output, or neither (a constant).
_INPUT, _OUTPUT, _CONSTANT = 0, 1, 2


class Function:
    """Base class of differentiable ops; subclass it and define ``forward`` and ``backward``.

    Inside ``forward(ctx, *args, **kwargs)``: ``args`` are the positional inputs with every Tensor
    replaced by its backend array (other values pass through unchanged); ``ctx.xp`` is numpy or
    cupy; ``ctx.needs_input_grad[i]`` says whether input ``i`` needs a gradient; store what backward
    needs with ``ctx.save_for_backward(*arrays)`` or as plain attributes of ``ctx``.

    Inside ``backward(ctx, grad_output)``: ``grad_output`` is a Tensor shaped like the output;
    ``ctx.saved_tensors`` gives back the saved arrays as Tensors (the input or output Tensor itself
    when the array is one of them, so second derivatives flow through it). Return one gradient per
    positional input of forward (a Tensor, an array, or None), shaped like that input.
    """

    # A node's defaults live on the class, so making one in apply() sets only what differs.
    xp = array_module()  # numpy until apply() sees the inputs
    needs_input_grad: tuple[bool, ...] = ()
    inputs: tuple[Tensor | None, ...] = ()
    _to_save: tuple = ()
    _saved: list | None = None
    _freed = False
    _retained_output_ref = None
    _saved_at = 0  # tensor_inplace's count of in-place changes when the node saved its tensors
    _output_version = None  # the output tensor's version cell, when the output is saved
    _grad_hooks = None  # {key: hook} of the output's register_hook, once it has one

    # ------------------------------------------------------------------ used inside forward

    def save_for_backward(self, *arrays) -> None:
        """Keep arrays (inputs, the output, or intermediates) for backward."""
        self._to_save = arrays

    # ------------------------------------------------------------------ used inside backward

    @property
    def saved_tensors(self) -> tuple[Tensor, ...]:
        """The saved arrays as Tensors: inputs and the output as themselves, others as constants."""
        if self._freed:
            raise RuntimeError(
                f"{type(self).__name__}: trying to backward through the graph a second time, "
                "but its saved values were freed after the first backward; call "
                "backward(retain_graph=True) the first time if you need to backward twice"
            )
        if self._saved is None:
            return ()
        out = []
        for kind, value in self._saved:
            if kind == _INPUT:
                tensor = self.inputs[value]
                version = tensor._version
                if version is not None and version[0] > self._saved_at:
                    raise self._changed_error(f"its input {value}", tensor.shape)
                out.append(tensor)
            elif kind == _OUTPUT:  # the output as a Tensor of this node: gradients through it
                if self._output_version[0] > self._saved_at:
                    raise self._changed_error("its output", value.shape)
                out.append(Tensor._from_array(value, requires_grad=True, node=self))  # reach us
            else:
                out.append(value)
        return tuple(out)

    def _changed_error(self, which: str, shape) -> RuntimeError:
        return RuntimeError(
            f"{type(self).__name__}: one of the tensors its backward needs, {which} (shape "
            f"{tuple(shape)}), was changed in place after the op saved it, so its gradient would "
            "be wrong; change a clone() instead, or change it after backward() (optimizer.step() "
            "changes the parameters in place: call it after backward)")

    # ------------------------------------------------------------------ the two halves

    @staticmethod
    def forward(ctx, *args, **kwargs):
        """The op on backend arrays: Tensor inputs arrive as their arrays (numpy or cupy, as
        ``ctx.xp``); return one array, the output."""
        raise NotImplementedError("a Function subclass must define forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx, grad_output):
        """The gradients of forward's positional inputs, given ``grad_output`` (a Tensor shaped
        like the output): one Tensor, array or None per input, as a tuple (or one bare value)."""
        raise NotImplementedError("a Function subclass must define backward(ctx, grad_output)")

    # ------------------------------------------------------------------ running it

    @classmethod
    def apply(cls, *args, **kwargs) -> Tensor:
        """Run forward on the arrays of ``args`` and, when grad mode needs it, record the node."""
        ctx = cls()
        arrays, datas, needs = [], [], []
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                datas.append(a.data)
                needs.append(a._requires_grad)
            else:
                arrays.append(a)
                needs.append(False)
        ctx.xp = array_module(*datas)
        ctx.needs_input_grad = needs = tuple(needs)
        out = cls.forward(ctx, *arrays, **kwargs)
        if not hasattr(out, "dtype") or not hasattr(out, "shape"):
            raise TypeError(
                f"{cls.__name__}.forward must return one backend array, got {type(out).__name__}"
            )
        shares = getattr(out, "base", None) is not None or (arrays and out is arrays[0])
        if not (True in needs and is_grad_enabled() and out.dtype.kind == "f"):
            result = Tensor._from_array(out)
            if shares:  # a view of an input (or the input itself): one version for both
                tensor_inplace.share_version(result, out, args)
            return result
        result = Tensor._from_array(out, requires_grad=True, node=ctx)
        if shares:
            tensor_inplace.share_version(result, out, args)
        inputs = ctx.inputs = tuple(a if isinstance(a, Tensor) else None for a in args)
        saved = ctx._saved = [ctx._classify(a, arrays, out) for a in ctx._to_save]
        ctx._to_save = ()
        ctx._saved_at = tensor_inplace._changes
        if ctx._output_version is True:  # _classify saw the output among the saved arrays
            ctx._output_version = tensor_inplace.version_cell(result)
        # keep an input Tensor only where backward needs it (saved, or a leaf that gets .grad);
        # the others become edges to their nodes, so their arrays can go, as in PyTorch
        kept = edges = None
        for i, a in enumerate(inputs):
            if a is None or (a._node is None and a._requires_grad):
                continue
            if kept is None:
                kept = [value for kind, value in saved if kind == _INPUT]
            if i not in kept:
                edges = edges or list(inputs)
                edges[i] = _Edge(a) if a._node is not None else None
        if edges is not None:
            ctx.inputs = tuple(edges)
        return result

    def _classify(self, array, input_arrays, output_array):
        if array is output_array:
            self._output_version = True  # apply() replaces it with the output's version cell
            return (_OUTPUT, output_array)
        for i, candidate in enumerate(input_arrays):
            if array is candidate and self.inputs[i] is not None:
                return (_INPUT, i)
        if isinstance(array, Tensor):
            return (_CONSTANT, array.detach())
        if not hasattr(array, "shape"):  # None or a Python number: kept as it is
            return (_CONSTANT, array)
        return (_CONSTANT, Tensor._from_array(array))

    def _free(self) -> None:
        """Drop saved values and the edges to the inputs after backward, releasing their memory
        (the node stays on its output so that a second backward can say what happened)."""
        self._saved = None
        self.inputs = tuple(None for _ in self.inputs)
        self._freed = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"


class _Edge:
    """An input a node did not save, as the backward walk needs it: the node that made it, and
    what its gradient must look like. Holding this instead of the Tensor lets the input's array
    be freed once nothing else uses it."""

    __slots__ = ("_node", "requires_grad", "shape", "dtype", "array_type")

    def __init__(self, tensor: Tensor):
        self._node = tensor._node
        self.requires_grad = tensor._requires_grad
        data = tensor.data
        self.shape, self.dtype, self.array_type = data.shape, data.dtype, type(data)

    @property
    def device(self) -> str:
        return backend.GPU if backend.is_gpu_type(self.array_type) else backend.CPU
