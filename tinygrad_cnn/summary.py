"""summary: a Keras-style table of a model's layers, output shapes and parameter counts.

    >>> rows = tc.summary(model, (1, 32, 32))      # input shape of one sample (no batch dim)

It runs one forward pass under ``no_grad`` on a batch of zeros, in eval mode (BatchNorm's
running statistics and the random generator are left untouched), recording the output of
every leaf module (one without submodules) with forward hooks.
"""

from __future__ import annotations

from collections import namedtuple

from tinygrad_cnn import creation
from tinygrad_cnn.autograd.grad_mode import no_grad
from tinygrad_cnn.tensor import Tensor

SummaryRow = namedtuple("SummaryRow", ["name", "layer", "output_shape", "params", "trainable"])
SummaryRow.__doc__ = """One layer: dotted name, class name, output shape (batch included),
number of parameter elements, and how many of them require grad."""


class Summary(list):
    """The rows of ``summary`` (a list of SummaryRow) with the model's totals as attributes:
    ``total_params``, ``trainable_params``, ``non_trainable_params``; ``str()`` is the table."""

    total_params = 0
    trainable_params = 0
    non_trainable_params = 0
    input_shape: tuple = ()

    def table(self) -> str:
        """The Keras-style table: one line per layer (name, type, output shape, parameters),
        then the totals."""
        header = ("Layer (type)", "Output Shape", "Param #")
        lines = [(f"{r.name} ({r.layer})", _shape_text(r.output_shape), f"{r.params:,}")
                 for r in self]
        widths = [max([len(header[i])] + [len(line[i]) for line in lines]) + 2 for i in range(3)]
        width = sum(widths)

        def fmt(cols):
            return cols[0].ljust(widths[0]) + cols[1].ljust(widths[1]) + cols[2].rjust(widths[2])

        out = ["-" * width, fmt(header), "=" * width]
        out += [fmt(line) for line in lines]
        out += ["=" * width,
                f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {self.non_trainable_params:,}",
                "-" * width]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()


def _shape_text(shape) -> str:
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return "(None" + "".join(f", {n}" for n in shape[1:]) + ")" if shape else "()"


def _output_shape(out):
    if isinstance(out, Tensor):
        return out.shape
    if isinstance(out, (tuple, list)):
        return [_output_shape(o) for o in out]
    return ()


def summary(model, input_shape, *, batch_size: int = 1, dtype=None, device=None,
            print_fn=print) -> Summary:
    """Print (with ``print_fn``; None prints nothing) and return the layer table of ``model``.

    input_shape: the shape of one sample, e.g. (3, 32, 32); the forward pass runs on a
    (batch_size, *input_shape) batch of zeros, of the parameters' dtype and device unless
    given. When a layer fails (e.g. its output would collapse to <= 0 pixels), the error names
    that layer with its dotted name and keeps the layer's own explanation.
    """
    params = list(model.parameters())
    if dtype is None:
        dtype = params[0].dtype if params else None
    if device is None:
        device = params[0].device if params else None
    shape = (batch_size,) + tuple(int(n) for n in input_shape)
    x = creation.zeros(shape, dtype=dtype, device=device)

    names = {id(m): name for name, m in model.named_modules()}
    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    rows = Summary()
    counted = set()
    running = []   # names of the modules whose forward is in progress, outermost first

    def pre_hook(module, inputs):
        running.append(names.get(id(module), type(module).__name__))

    def post_hook(module, inputs, output):
        running.pop()
        if module is model and module not in leaves:
            return
        if next(module.children(), None) is not None:
            return
        first = id(module) not in counted
        counted.add(id(module))
        own = list(module.parameters()) if first else []
        rows.append(SummaryRow(names.get(id(module)) or type(module).__name__,
                               type(module).__name__, _output_shape(output),
                               sum(p.numel() for p in own),
                               sum(p.numel() for p in own if p.requires_grad)))

    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(post_hook))
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            model(x)
    except Exception as e:
        culprit = running[-1] if running else type(model).__name__
        layer = next((m for m in model.modules() if names.get(id(m)) == culprit), model)
        message = (f"summary: layer '{culprit or type(model).__name__}' "
                   f"({type(layer).__name__}) failed on the {shape} batch: {e}")
        try:
            error = type(e)(message)
        except Exception:  # an exception type that needs other arguments
            error = RuntimeError(message)
        raise error from e
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode
    rows.total_params = model.num_parameters(trainable_only=False)
    rows.trainable_params = model.num_parameters(trainable_only=True)
    rows.non_trainable_params = rows.total_params - rows.trainable_params
    rows.input_shape = shape
    if print_fn is not None:
        print_fn(rows.table())
    return rows
