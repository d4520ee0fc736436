"""The three convolution ops of ``ops/conv.py`` through cuDNN, on CuPy arrays.

CuPy 14 dropped its cuDNN bindings; NVIDIA's ``nvidia-cudnn-frontend`` (import name ``cudnn``,
it loads the cuDNN 9 library of the ``nvidia-cudnn-cu12``/``-cu13`` wheels) runs cuDNN graphs on
any device pointers, CuPy's included. Each op is one graph of one node, built on first use for
its shapes and geometry and cached:

    fprop  y  = conv2d(x, w)                 (N, C, H, W), (K, Cg, KH, KW) -> (N, K, OH, OW)
    dgrad  dx = conv2d's input gradient      (N, K, OH, OW), (K, Cg, KH, KW) -> (N, C, H, W)
    wgrad  dw = conv2d's weight gradient     (N, C, H, W), (N, K, OH, OW) -> (K, Cg, KH, KW)

Each entry point returns None where cuDNN is not used: no CuPy data, an unsupported dtype, the
frontend not installed, ``tc.backends.cudnn.enabled = False``, ``TINYGRAD_CNN_CUDNN=0``, or a
geometry for which no cuDNN engine builds (the failure is remembered per geometry and warned
about once); the caller then takes its im2col path.

Which cuDNN engines may run (their "numerical notes"):
- exact float32 unless ``tc.backends.cudnn.allow_tf32``: engines noted TENSOR_CORE (TF32 for
  float32 data), DOWN_CONVERT_INPUTS or REDUCED_PRECISION_REDUCTION are deselected;
- deterministic unless ``tc.backends.cudnn.deterministic = False``: engines noted
  NONDETERMINISTIC (atomic adds, whose order varies from run to run) are deselected, so two
  backward passes give the same bits (gradcheck asks this) as on the CPU;
- engines compiled at run time (behaviour note RUNTIME_COMPILATION) are deselected: seconds
  of compiling on first use.

Which of the remaining engines runs: for convolutions of at least AUTOTUNE_MACS multiply-adds,
the first AUTOTUNE_CANDIDATES engines that build are timed on the first call's own arrays (as
``torch.backends.cudnn.benchmark`` does) and the fastest is kept, preferring one whose workspace
is within max(64 MiB, the output's size) unless it is more than SLOWER_FOR_MEMORY times slower
(FFT engines can ask for gigabytes). Smaller convolutions are launch-bound: the heuristics' first
engine within that workspace cap. The heuristics' first choice alone was measured at 20x
PyTorch's time on one convolution (docs/gpu.md).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

from .kernel import FLOAT_CHARS

ENV_SWITCH = "TINYGRAD_CNN_CUDNN"

_frontend = None          # the imported ``cudnn`` module, once imported
_unavailable: str | None = None   # why it cannot be used, once known
_handles: dict[int, list] = {}  # CUDA device id -> [cuDNN handle, the stream it is bound to]
_plans: dict[tuple, _Plan | None] = {}  # None: no engine builds for that key
_warned = False


@dataclass
class _Plan:
    graph: object
    uids: tuple[int, int, int]   # the two inputs' and the output's tensor uids
    workspace: int               # bytes


def frontend():
    """The ``cudnn`` module, or None where it does not import (the reason: unavailable_reason)."""
    global _frontend, _unavailable
    if _frontend is None and _unavailable is None:
        try:
            import cudnn  # noqa: PLC0415 - optional, imported on first GPU convolution

            cudnn.backend_version()  # loads libcudnn: fails here if it is missing
            _frontend = cudnn
        except Exception as e:  # ImportError, or OSError/RuntimeError from loading libcudnn
            _unavailable = f"{type(e).__name__}: {e}"
    return _frontend


def unavailable_reason() -> str | None:
    """Why cuDNN is not used (None once it has imported)."""
    frontend()
    return _unavailable


def usable(xp, dtype) -> bool:
    """Whether a convolution on ``xp``'s arrays of ``dtype`` should try cuDNN."""
    if getattr(xp, "__name__", "") != "cupy" or getattr(dtype, "char", None) not in FLOAT_CHARS:
        return False
    from tinygrad_cnn.backends import cudnn as switches  # noqa: PLC0415 - import cycle

    if not switches.enabled or os.environ.get(ENV_SWITCH, "1") == "0":
        return False
    return frontend() is not None


def _pads(axis) -> int | None:
    """The symmetric padding that gives ``axis.out`` outputs, as PyTorch passes cuDNN; None where
    the geometry needs asymmetric padding (that goes to the im2col path: cuDNN's weight gradient
    was seen wrong with pre != post padding on an H200, cuDNN 9.19)."""
    pad = axis.pad_before
    effective = axis.dilation * (axis.kernel - 1) + 1
    if pad < 0 or axis.size + 2 * pad < effective:
        return None
    return pad if (axis.size + 2 * pad - effective) // axis.stride + 1 == axis.out else None


def _strides(shape):
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return list(reversed(strides))


def _handle(cp, device: int):
    """This device's cuDNN handle, bound to CuPy's current stream (set again only when the
    stream changed: a set per call cost microseconds on every convolution)."""
    entry = _handles.get(device)
    if entry is None:
        entry = _handles[device] = [_frontend.create_handle(), None]
    stream = cp.cuda.get_current_stream().ptr
    if entry[1] != stream:
        _frontend.set_stream(entry[0], stream)  # autotuning runs there too
        entry[1] = stream
    return entry[0]


WORKSPACE_FLOOR = 64 * 2**20
AUTOTUNE_MACS = 10**8   # convolutions at least this large time their candidate engines
AUTOTUNE_CANDIDATES = 8  # the first this many engines that build, in the heuristics' order
SLOWER_FOR_MEMORY = 1.5  # the fastest engine within the workspace cap may be this much slower


def _graph(cp, kind, shapes, pads, stride, dilation, dtype, tf32, deterministic):
    """The one-node graph ``kind`` ("fprop" | "dgrad" | "wgrad"; shapes = (x, w, y)) with its
    ranked engine list, the engines our switches rule out deselected; and the uids of its two
    inputs and output."""
    cudnn = _frontend
    dt = cudnn.data_type.FLOAT if dtype == "float32" else cudnn.data_type.DOUBLE
    graph = cudnn.pygraph(io_data_type=dt, intermediate_data_type=dt, compute_data_type=dt,
                          handle=_handle(cp, cp.cuda.Device().id))
    x_shape, w_shape, y_shape = (list(s) for s in shapes)

    def tensor(name, shape):
        return graph.tensor(name=name, dim=shape, stride=_strides(shape), data_type=dt)

    geometry = {"pre_padding": list(pads), "post_padding": list(pads), "stride": list(stride),
                "dilation": list(dilation), "compute_data_type": dt}
    if kind == "fprop":
        a, b = tensor("x", x_shape), tensor("w", w_shape)
        out, out_shape = graph.conv_fprop(image=a, weight=b, name="fprop", **geometry), y_shape
    elif kind == "dgrad":
        a, b = tensor("dy", y_shape), tensor("w", w_shape)
        out, out_shape = graph.conv_dgrad(loss=a, filter=b, name="dgrad", **geometry), x_shape
    else:
        a, b = tensor("x", x_shape), tensor("dy", y_shape)
        out, out_shape = graph.conv_wgrad(image=a, loss=b, name="wgrad", **geometry), w_shape
    # the inferred output stride is not NCHW: set the layout explicitly
    out.set_output(True).set_dim(out_shape).set_stride(_strides(out_shape)).set_data_type(dt)
    graph.validate()
    graph.build_operation_graph()
    graph.create_execution_plans([cudnn.heur_mode.A, cudnn.heur_mode.FALLBACK])
    notes = cudnn.numerical_note
    barred = [] if tf32 and dtype == "float32" else [
        notes.TENSOR_CORE, notes.DOWN_CONVERT_INPUTS, notes.REDUCED_PRECISION_REDUCTION]
    if deterministic:
        barred.append(notes.NONDETERMINISTIC)
    if barred:
        graph.deselect_numeric_notes(barred)
    runtime_compiled = getattr(getattr(cudnn, "behavior_note", None), "RUNTIME_COMPILATION", None)
    if runtime_compiled is not None:  # engines compiled at run time cost seconds on first use
        graph.deselect_behavior_notes([runtime_compiled])
    graph.check_support()
    return graph, (a.get_uid(), b.get_uid(), out.get_uid())


def _time_plan(cp, graph, index, pack, workspace_bytes, give_up_ms) -> float:
    """Milliseconds of one run of the built plan ``index`` (the mean of two after a warm-up, or
    the warm-up alone when that already took over ``give_up_ms``)."""
    workspace = cp.empty(workspace_bytes, dtype=cp.uint8) if workspace_bytes else None
    handle = _handle(cp, cp.cuda.Device().id)

    def run():
        graph.execute_plan_at_index(pack, workspace.data.ptr if workspace is not None else None,
                                    index=index, handle=handle)

    start, end = cp.cuda.Event(), cp.cuda.Event()
    start.record()
    run()
    end.record()
    end.synchronize()
    first = cp.cuda.get_elapsed_time(start, end)
    if first > give_up_ms:
        return first
    start.record()
    run()
    run()
    end.record()
    end.synchronize()
    return cp.cuda.get_elapsed_time(start, end) / 2


def _autotune(cp, graph, pack, limit) -> int | None:
    """Build the first AUTOTUNE_CANDIDATES engines, time each on the call's own arrays, select
    the fastest whose workspace is within ``limit`` unless one beyond it is more than
    SLOWER_FOR_MEMORY times faster; its workspace bytes, or None if none ran."""
    results = []  # (ms, workspace bytes, index)
    for index in range(graph.get_execution_plan_count()):
        if len(results) >= AUTOTUNE_CANDIDATES:
            break
        try:
            graph.build_plan_at_index(index)
            workspace = graph.get_workspace_size_plan_at_index(index)
            best = min(r[0] for r in results) if results else float("inf")
            results.append((_time_plan(cp, graph, index, pack, workspace, 4 * best), workspace,
                            index))
        except Exception:  # noqa: BLE001 - a barred, unsupported or failing engine: the next
            continue
    if not results:
        return None
    fastest = min(results)
    within = [r for r in results if r[1] <= limit]
    chosen = min(within) if within and min(within)[0] <= SLOWER_FOR_MEMORY * fastest[0] \
        else fastest
    graph.build_plan_at_index(chosen[2])  # selects it for execute()
    return chosen[1]


def _plan(cp, kind, shapes, pads, stride, dilation, dtype, tf32, deterministic, pack, macs,
          limit) -> _Plan:
    """A built plan: timed among candidates for large convolutions, else the heuristics' first
    engine within the workspace cap (or beyond it when none within builds)."""
    args = (cp, kind, shapes, pads, stride, dilation, dtype, tf32, deterministic)
    if macs >= AUTOTUNE_MACS:
        graph, uids = _graph(*args)
        workspace = _autotune(cp, graph, {u: p for u, p in zip(uids, pack, strict=True)}, limit)
        if workspace is not None:
            return _Plan(graph, uids, workspace)
    for cap in (limit, None):
        graph, uids = _graph(*args)
        if cap is not None:
            graph.deselect_workspace_greater_than(cap)
        try:
            graph.build_plans()
        except Exception:
            if cap is None:
                raise
            continue
        return _Plan(graph, uids, graph.get_workspace_size())
    raise AssertionError("unreachable")


def _run(kind, a, b, out_shape, shapes, geo):
    """Run ``kind`` on CuPy arrays a, b into a new array of ``out_shape``; None if unsupported."""
    global _warned
    import cupy as cp  # noqa: PLC0415 - only reached with CuPy arrays

    from tinygrad_cnn.backends import cudnn as switches  # noqa: PLC0415 - import cycle

    pads = (_pads(geo.h), _pads(geo.w))
    if None in pads:
        return None
    stride, dilation = (geo.h.stride, geo.w.stride), (geo.h.dilation, geo.w.dilation)
    tf32, deterministic = bool(switches.allow_tf32), bool(switches.deterministic)
    device = cp.cuda.Device().id
    key = (kind, shapes, pads, stride, dilation, a.dtype, tf32, deterministic, device)
    a, b = cp.ascontiguousarray(a), cp.ascontiguousarray(b)
    out = cp.empty(out_shape, dtype=a.dtype)
    handle = _handle(cp, device)
    if key not in _plans:
        x_shape, w_shape, y_shape = shapes
        macs = math.prod(y_shape) * math.prod(w_shape[1:])
        limit = max(WORKSPACE_FLOOR, a.dtype.itemsize * math.prod(out_shape))
        dtype = a.dtype.name
        try:
            _plans[key] = _plan(cp, kind, shapes, pads, stride, dilation, dtype, tf32,
                                deterministic, (a.data.ptr, b.data.ptr, out.data.ptr), macs,
                                limit)
        except Exception as e:  # no engine for this geometry: the im2col path takes it
            _plans[key] = None
            if not _warned:
                _warned = True
                warnings.warn(f"cuDNN could not build a {kind} convolution for shapes {shapes} "
                              f"(stride {stride}, padding {pads}, dilation {dilation}, {dtype}): "
                              f"{type(e).__name__}: {e}; using the im2col path for it (warned "
                              "once)", RuntimeWarning, stacklevel=4)
    plan = _plans[key]
    if plan is None:
        return None
    workspace = cp.empty(plan.workspace, dtype=cp.uint8) if plan.workspace else None
    plan.graph.execute({plan.uids[0]: a.data.ptr, plan.uids[1]: b.data.ptr,
                        plan.uids[2]: out.data.ptr},
                       workspace.data.ptr if workspace is not None else None, handle=handle)
    return out


def conv_forward(x, w, geo):
    """y = conv2d(x, w): (N, C, H, W), (K, Cg, KH, KW) -> (N, K, OH, OW), or None."""
    y_shape = (x.shape[0], w.shape[0], geo.h.out, geo.w.out)
    if x.shape[0] == 0:
        return None
    return _run("fprop", x, w, y_shape, (tuple(x.shape), tuple(w.shape), y_shape), geo)


def conv_input_grad(g, w, geo):
    """dx (N, C, H, W) of conv2d from g (N, K, OH, OW) and w (K, Cg, KH, KW), or None."""
    x_shape = (g.shape[0], w.shape[1] * geo.groups, geo.h.size, geo.w.size)
    if g.shape[0] == 0:
        return None
    return _run("dgrad", g, w, x_shape, (x_shape, tuple(w.shape), tuple(g.shape)), geo)


def conv_weight_grad(x, g, geo, kernel_shape):
    """dw (K, Cg, KH, KW) = kernel_shape of conv2d from x (N, C, H, W) and g (N, K, OH, OW)."""
    if x.shape[0] == 0:
        return None
    kernel_shape = tuple(kernel_shape)
    return _run("wgrad", x, g, kernel_shape, (tuple(x.shape), kernel_shape, tuple(g.shape)), geo)
