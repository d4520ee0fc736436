"""Numeric gradient checking: gradcheck and gradgradcheck (full Jacobian or fast directional).

Both compare what backward computes (analytic) with central finite differences (numeric),
(f(x + eps) - f(x - eps)) / (2 eps), evaluated in float64. The one-sided differences that come
for free with them expose kinks: where (f(x+eps) - f(x)) / eps and (f(x) - f(x-eps)) / eps
disagree, the function is not differentiable at x (ReLU at 0, tied maxima), and the report says
so instead of blaming backward.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.grad_mode import enable_grad, no_grad
from tinygrad_cnn.backends import cudnn as cudnn_switches
from tinygrad_cnn.tensor import Tensor, grad


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytic and numeric gradients disagree.

    Attributes: ``input_index``, ``output_index``, ``element`` (index into that input),
    ``analytic``, ``numeric``, ``abs_error``, ``rel_error``, ``kink`` (True when the point is not
    differentiable), ``seed`` (for fast mode's random directions).
    """

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.__dict__.update(details)


@dataclass
class _Mismatch:
    input_index: int
    output_index: int
    element: tuple
    output_element: tuple
    analytic: float
    numeric: float
    left: float
    right: float


# ---------------------------------------------------------------------- preparing inputs


def _prepare_inputs(inputs, caller):
    """Tensors of float64 copies of the inputs; which of them are differentiated."""
    if isinstance(inputs, (Tensor, np.ndarray)) or backend.is_gpu_array(inputs):
        inputs = (inputs,)
    prepared, diff = [], []
    for i, value in enumerate(inputs):
        if isinstance(value, Tensor) or hasattr(value, "shape"):
            t = value if isinstance(value, Tensor) else Tensor(value)
            if t.dtype.kind != "f":
                if isinstance(value, Tensor) and value.requires_grad:
                    raise TypeError(f"{caller}: input {i} has integer dtype {t.dtype}")
                if not isinstance(value, Tensor):
                    raise TypeError(
                        f"{caller}: input {i} has dtype {t.dtype}; gradients need floating-point "
                        "inputs (cast with .double())"
                    )
                prepared.append(t)
                diff.append(False)
                continue
            wants = t.requires_grad if isinstance(value, Tensor) else True
            if wants and t.dtype != np.float64:
                warnings.warn(
                    f"{caller}: input {i} is {t.dtype}, not float64; finite differences in low "
                    "precision are unreliable, so the check runs on a float64 copy",
                    stacklevel=3,
                )
            data = t.data.astype(np.float64) if wants else t.data
            prepared.append(Tensor._from_array(data.copy() if wants else data, requires_grad=wants))
            diff.append(wants)
        else:
            prepared.append(value)
            diff.append(False)
    if not any(diff):
        raise ValueError(
            f"{caller}: no input requires grad, so there is nothing to check; pass float64 "
            "arrays or Tensors with requires_grad=True (integer inputs cannot be differentiated)"
        )
    return prepared, diff


def _outputs(fn, inputs):
    out = fn(*inputs)
    outs = [out] if isinstance(out, Tensor) else list(out)
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(
                f"gradcheck: fn returned {type(o).__name__} as output {i}, not a Tensor"
            )
    return outs


def _differentiable(outs):
    return [i for i, o in enumerate(outs) if o.dtype.kind == "f"]


def _flat_values(fn, inputs):
    """fn's floating outputs, evaluated without a graph, as one flat float64 NumPy vector."""
    with no_grad():
        outs = _outputs(fn, inputs)
    parts = [
        backend.to_numpy(outs[i].data).astype(np.float64).ravel() for i in _differentiable(outs)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def _output_layout(fn, inputs):
    with no_grad():
        outs = _outputs(fn, inputs)
    return [(i, outs[i].shape) for i in _differentiable(outs)]


# ---------------------------------------------------------------------- the two Jacobians


def _vjp(fn, inputs, diff, v_parts):
    """Analytic v^T J for each differentiated input, as flat NumPy vectors (zeros if unused)."""
    with enable_grad():
        outs = _outputs(fn, inputs)
    wanted = [t for t, d in zip(inputs, diff, strict=False) if d]
    roots, grads = [], []
    for i, v in zip(_differentiable(outs), v_parts, strict=False):
        if outs[i].requires_grad:
            xp = backend.array_module(outs[i].data)
            roots.append(outs[i])
            grads.append(Tensor._from_array(xp.asarray(v, dtype=outs[i].dtype)))
    if not roots:
        return [np.zeros(t.size) for t in wanted]
    result = grad(roots, wanted, grads, allow_unused=True)
    return [
        np.zeros(t.size) if g is None else backend.to_numpy(g.data).astype(np.float64).ravel()
        for g, t in zip(result, wanted, strict=False)
    ]


def _perturbed(fn, inputs, t, flat_index, delta):
    """fn evaluated with element ``flat_index`` of tensor ``t`` moved by ``delta``."""
    flat = t.data.reshape(-1)
    original = flat[flat_index].copy()
    flat[flat_index] = original + delta
    try:
        return _flat_values(fn, inputs)
    finally:
        flat[flat_index] = original


def _numeric_columns(fn, inputs, t, eps):
    """Central, right and left difference columns d f / d t[j] for every element j."""
    f0 = _flat_values(fn, inputs)
    n_out = f0.size
    central = np.zeros((n_out, t.size))
    right = np.zeros_like(central)
    left = np.zeros_like(central)
    for j in range(t.size):
        f_plus = _perturbed(fn, inputs, t, j, eps)
        f_minus = _perturbed(fn, inputs, t, j, -eps)
        central[:, j] = (f_plus - f_minus) / (2 * eps)
        right[:, j] = (f_plus - f0) / eps
        left[:, j] = (f0 - f_minus) / eps
    return central, right, left


def _is_jump(fn, inputs, t, flat_index, eps, central):
    """Rows where f jumps at this point: the difference across a 10x smaller step does not shrink
    (a smooth f gives the same slope, a step in f gives a 10x larger one). Catches the
    discontinuous first derivative of max/ReLU at a tie when gradgradcheck differentiates it."""
    small = eps / 10
    f_plus = _perturbed(fn, inputs, t, flat_index, small)
    f_minus = _perturbed(fn, inputs, t, flat_index, -small)
    slope = (f_plus - f_minus) / (2 * small)
    return np.abs(slope) > 3 * np.abs(central) + 1e-3 / eps


def _is_kink(left, right, atol, rtol):
    """Left and right derivatives that differ by far more than the tolerance."""
    return np.abs(left - right) > 10 * (atol + rtol * np.maximum(np.abs(left), np.abs(right)))


# ---------------------------------------------------------------------- reports


def _unravel(flat_index, shape):
    return tuple(int(i) for i in np.unravel_index(flat_index, shape)) if shape else ()


def _raise_or_false(message, raise_exception, **details):
    if raise_exception:
        raise GradcheckError(message, **details)
    return False


def _mismatch_report(m: _Mismatch, shapes, atol, rtol, kink, how, where=None):
    abs_err = abs(m.analytic - m.numeric)
    rel_err = abs_err / max(abs(m.numeric), 1e-300)
    if where is None:
        where = (
            f"worst element d(output {m.output_index}{list(m.output_element)}) / d(input "
            f"{m.input_index}{list(m.element)})"
        )
    if kink:
        head = (
            f"gradcheck: the function is not differentiable at this point, so no gradient can be "
            f"checked here: for the {where} the left derivative is {m.left:.6g} and the right "
            f"derivative is {m.right:.6g} (a kink, e.g. ReLU at 0 or tied maxima). Move the "
            "inputs away from such points."
        )
    else:
        head = (
            f"gradcheck: Jacobian mismatch for input {m.input_index} (shape "
            f"{shapes[m.input_index]}): {where}: analytic {m.analytic:.10g}, "
            f"numeric {m.numeric:.10g}, abs error {abs_err:.3g}, rel error {rel_err:.3g} "
            f"(atol={atol}, rtol={rtol})."
        )
    return f"{head}\n{how}", abs_err, rel_err


# ---------------------------------------------------------------------- gradcheck


def _deterministic_cudnn(check):
    """Run ``check`` with cuDNN's deterministic engines only: it compares two backward passes
    bit for bit (``nondet_tol``), which engines with atomic adds would fail on the GPU."""

    @functools.wraps(check)
    def run(*args, **kwargs):
        with cudnn_switches.deterministic_engines():
            return check(*args, **kwargs)

    return run


@_deterministic_cudnn
def gradcheck(fn, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, fast_mode: bool = False, nondet_tol: float = 0.0,
              seed: int | None = None) -> bool:
    """Check ``fn``'s backward against finite differences at ``inputs``.

    fn: takes the inputs (Tensors, and any other values passed through) and returns a Tensor or
        a tuple of Tensors. inputs: a tuple of Tensors or arrays; arrays and Tensors with
        ``requires_grad=True`` are differentiated (on a float64 copy; a warning says when the
        given dtype is lower).
    Full mode compares the whole Jacobian, one column per input element. ``fast_mode=True``
    compares the single number v^T J u for random unit directions u, v (seeded by ``seed``),
    whose cost does not grow with the input size. The check passes where
    |analytic - numeric| <= atol + rtol * |numeric| everywhere.
    Also checks that two backward passes agree within ``nondet_tol``.
    Returns True, or raises GradcheckError (returns False with ``raise_exception=False``).
    """
    inputs, diff = _prepare_inputs(inputs, "gradcheck")
    layout = _output_layout(fn, inputs)
    if not layout:
        raise ValueError("gradcheck: fn returned no floating-point output")
    shapes = [getattr(t, "shape", None) for t in inputs]
    n_out = sum(int(np.prod(s)) for _, s in layout)
    seed = int(np.random.default_rng().integers(2**31)) if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    diff_indices = [i for i, d in enumerate(diff) if d]
    if n_out == 0:
        return True

    def split(v):
        parts, start = [], 0
        for _, s in layout:
            size = int(np.prod(s))
            parts.append(v[start : start + size].reshape(s))
            start += size
        return parts

    def output_position(flat):
        start = 0
        for i, s in layout:
            size = int(np.prod(s))
            if flat < start + size:
                return i, _unravel(flat - start, s)
            start += size
        raise AssertionError("unreachable")

    # repeatability: the same vector-Jacobian product twice
    v = rng.standard_normal(n_out)
    first = _vjp(fn, inputs, diff, split(v))
    second = _vjp(fn, inputs, diff, split(v))
    for k, (a, b) in enumerate(zip(first, second, strict=False)):
        worst = float(np.max(np.abs(a - b))) if a.size else 0.0
        if worst > nondet_tol:
            return _raise_or_false(
                f"gradcheck: backward is not reproducible for input {diff_indices[k]}: two "
                f"passes differ by up to {worst:.3g} (nondet_tol={nondet_tol})",
                raise_exception, input_index=diff_indices[k], kink=False, seed=seed,
            )

    if fast_mode:
        return _fast_check(fn, inputs, diff_indices, split, first, v, rng, seed, eps, atol, rtol,
                           shapes, raise_exception)

    # full mode: every row of the analytic Jacobian by one backward with a one-hot v
    analytic = [np.zeros((n_out, inputs[i].size)) for i in diff_indices]
    for row in range(n_out):
        onehot = np.zeros(n_out)
        onehot[row] = 1.0
        for k, g in enumerate(_vjp(fn, inputs, diff, split(onehot))):
            analytic[k][row] = g
    for k, i in enumerate(diff_indices):
        central, right, left = _numeric_columns(fn, inputs, inputs[i], eps)
        error = np.abs(analytic[k] - central)
        bad = error > atol + rtol * np.abs(central)
        if not bad.any():
            continue
        kinks = _is_kink(left, right, atol, rtol)
        for col in np.flatnonzero((bad & ~kinks).any(axis=0)):
            kinks[:, col] |= _is_jump(fn, inputs, inputs[i], int(col), eps, central[:, col])
        real_failures = bad & ~kinks
        kink = not real_failures.any()
        candidates = np.where(real_failures if not kink else bad, error, -1.0)
        row, col = np.unravel_index(int(np.argmax(candidates)), candidates.shape)
        out_i, out_el = output_position(int(row))
        m = _Mismatch(i, out_i, _unravel(int(col), shapes[i]), out_el,
                      float(analytic[k][row, col]), float(central[row, col]),
                      float(left[row, col]), float(right[row, col]))
        how = (f"Reproduce: gradcheck(fn, inputs, eps={eps}) on the same inputs; full mode, "
               f"column {int(col)} of input {i}'s Jacobian.")
        message, abs_err, rel_err = _mismatch_report(m, shapes, atol, rtol, kink, how)
        return _raise_or_false(
            message, raise_exception, input_index=i, output_index=out_i, element=m.element,
            analytic=m.analytic, numeric=m.numeric, abs_error=abs_err, rel_error=rel_err,
            kink=kink, seed=seed,
        )
    return True


def _values_along(fn, inputs, t, step, v, steps):
    """{s: v . f(x + s * step)} for each step size s, with t's data restored afterwards."""
    original = t.data.copy()
    values = {}
    try:
        for s in steps:
            t.data[...] = original + s * step
            values[s] = float(_flat_values(fn, inputs) @ v)
    finally:
        t.data[...] = original
    return values


def _fast_check(fn, inputs, diff_indices, split, vjp, v, rng, seed, eps, atol, rtol, shapes,
                raise_exception):
    """Compare v^T J u with the directional finite difference along u, one input at a time."""
    for k, i in enumerate(diff_indices):
        t = inputs[i]
        u = rng.standard_normal(t.size)
        u /= max(np.linalg.norm(u), 1e-300)
        analytic = float(vjp[k] @ u)
        step = backend.array_module(t.data).asarray(u.reshape(t.shape))
        values = _values_along(fn, inputs, t, step, v, (-eps, 0.0, eps))
        numeric = (values[eps] - values[-eps]) / (2 * eps)
        if abs(analytic - numeric) <= atol + rtol * abs(numeric):
            continue
        right = (values[eps] - values[0.0]) / eps
        left = (values[0.0] - values[-eps]) / eps
        kink = bool(_is_kink(np.array(left), np.array(right), atol, rtol))
        if not kink:  # a jump in f (see _is_jump): the slope grows as the step shrinks
            values.update(_values_along(fn, inputs, t, step, v, (-eps / 10, eps / 10)))
            slope = (values[eps / 10] - values[-eps / 10]) / (2 * eps / 10)
            kink = abs(slope) > 3 * abs(numeric) + 1e-3 / eps
        m = _Mismatch(i, -1, (), (), analytic, numeric, left, right)
        how = (f"Fast mode compared v^T J u for random directions v (over all outputs) and u "
               f"(over input {i}), not single elements; reproduce with gradcheck(fn, inputs, "
               f"fast_mode=True, seed={seed}), or run full mode (fast_mode=False) to find the "
               "worst element.")
        message, abs_err, rel_err = _mismatch_report(
            m, shapes, atol, rtol, kink, how, where="directional derivative v^T J u"
        )
        return _raise_or_false(
            message, raise_exception, input_index=i, output_index=None, element=None,
            analytic=analytic, numeric=numeric, abs_error=abs_err, rel_error=rel_err,
            kink=kink, seed=seed,
        )
    return True


# ---------------------------------------------------------------------- gradgradcheck


@_deterministic_cudnn
def gradgradcheck(fn, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, fast_mode: bool = False,
                  nondet_tol: float = 0.0, seed: int | None = None) -> bool:
    """Check second derivatives: gradcheck of (inputs, grad_outputs) -> grad(fn(inputs), inputs).

    ``grad_outputs`` (random float64 tensors when None) are differentiated too, so both halves of
    the double-backward graph are checked. Same tolerances and return value as gradcheck.
    """
    inputs, diff = _prepare_inputs(inputs, "gradgradcheck")
    layout = _output_layout(fn, inputs)
    seed = int(np.random.default_rng().integers(2**31)) if seed is None else int(seed)
    rng = np.random.default_rng(seed + 1)
    if grad_outputs is None:
        xp = backend.array_module(*[t.data for t in inputs if isinstance(t, Tensor)])
        grad_outputs = [
            Tensor._from_array(xp.asarray(rng.standard_normal(s)), requires_grad=True)
            for _, s in layout
        ]
    else:
        devices = [t.device for t in inputs if isinstance(t, Tensor)]
        grad_outputs = [
            Tensor._from_array(
                backend.to_device(g.data if isinstance(g, Tensor) else np.asarray(g), devices[0])
                .astype(np.float64), requires_grad=True)
            for g in ([grad_outputs] if isinstance(grad_outputs, Tensor) else grad_outputs)
        ]
    n_inputs = len(inputs)
    diff_positions = [i for i, d in enumerate(diff) if d]

    def first_derivative(*args):
        xs, gs = list(args[:n_inputs]), args[n_inputs:]
        with enable_grad():  # the numeric half evaluates this under no_grad
            return _first_derivative(xs, gs)

    def _first_derivative(xs, gs):
        outs = _outputs(fn, xs)
        roots, grads = [], []
        for (i, _), g in zip(layout, gs, strict=False):
            if outs[i].requires_grad:
                roots.append(outs[i])
                grads.append(g)
        wanted = [xs[i] for i in diff_positions]
        if not roots:
            return tuple(x * 0.0 for x in wanted)
        result = grad(roots, wanted, grads, create_graph=True, allow_unused=True)
        return tuple(x * 0.0 if r is None else r for r, x in zip(result, wanted, strict=False))

    return gradcheck(first_derivative, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception, fast_mode=fast_mode,
                     nondet_tol=nondet_tol, seed=seed)
