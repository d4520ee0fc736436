"""Time every cuDNN engine for one convolution of benchmarks/gpu.py: what autotuning could pick.

    python benchmarks/gpu_cudnn_engines.py [--workload conv5x5s2] [--runtime-compiled]

For the workload's forward, data-gradient and weight-gradient graphs (built as
``tinygrad_cnn/cuda/cudnn_conv.py`` builds them, with the current ``tc.backends.cudnn``
switches), builds each engine the heuristics list and times it on the workload's shapes: engine
name, workspace, milliseconds. ``--runtime-compiled`` keeps the engines cuDNN compiles at run
time (the library deselects them: seconds on first use). Needs a GPU and
``nvidia-cudnn-frontend``; prints why and exits 0 otherwise.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks import gpu  # noqa: E402 - after the path set-up


class _WithoutBehaviorNotes:
    """The frontend module as seen by cudnn_conv._graph, minus ``behavior_note``: the graph then
    keeps the runtime-compiled engines."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        if name == "behavior_note":
            raise AttributeError(name)
        return getattr(self._module, name)


def engines(kind, shapes, pads, stride, runtime_compiled):
    import cupy as cp

    from tinygrad_cnn.backends import cudnn as switches
    from tinygrad_cnn.cuda import cudnn_conv

    frontend = cudnn_conv._frontend
    if runtime_compiled:
        cudnn_conv._frontend = _WithoutBehaviorNotes(frontend)
    try:
        graph, uids = cudnn_conv._graph(cp, kind, shapes, pads, stride, (1, 1), "float32",
                                        bool(switches.allow_tf32), bool(switches.deterministic))
    finally:
        cudnn_conv._frontend = frontend
    size = max(math.prod(s) for s in shapes)
    buffers = [cp.random.standard_normal(size, dtype=cp.float32) for _ in uids]
    pack = {u: b.data.ptr for u, b in zip(uids, buffers, strict=True)}
    rows = []
    for index in range(graph.get_execution_plan_count()):
        name = graph.get_plan_name_at_index(index)
        try:
            graph.build_plan_at_index(index)
            workspace = graph.get_workspace_size_plan_at_index(index)
            ms = cudnn_conv._time_plan(cp, graph, index, pack, workspace, 100.0)
            rows.append((ms, index, name, workspace, ""))
        except Exception as e:  # noqa: BLE001 - report and go on
            rows.append((math.inf, index, name, 0, f"{type(e).__name__}: {str(e)[:80]}"))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="conv5x5s2",
                        choices=[w for w in gpu.WORKLOADS if w.startswith("conv")])
    parser.add_argument("--runtime-compiled", action="store_true")
    args = parser.parse_args(argv)
    import tinygrad_cnn as tc

    if not tc.gpu_available() or not tc.backends.cudnn.is_available():
        print("benchmarks/gpu_cudnn_engines.py: no GPU or no cuDNN frontend: "
              f"{tc.backend.gpu_unavailable_reason() or 'nvidia-cudnn-frontend not usable'}")
        return 0
    s = gpu.spec(args.workload, False)
    x_shape, w_shape = (s["batch"], *s["input"]), s["weight"]
    stride, pad = s["kwargs"]["stride"], s["kwargs"]["padding"]
    out = [(n + 2 * pad - k) // stride + 1 for n, k in zip(x_shape[2:], w_shape[2:], strict=True)]
    y_shape = (x_shape[0], w_shape[0], *out)
    shapes = (tuple(x_shape), tuple(w_shape), y_shape)
    for kind in ("fprop", "dgrad", "wgrad"):
        rows = engines(kind, shapes, (pad, pad), (stride, stride),
                       args.runtime_compiled)
        print(f"## {args.workload} {kind} {shapes}")
        print("| ms | plan | engine | workspace MiB | error |\n|---:|---:|---|---:|---|")
        for ms, index, name, workspace, error in sorted(rows):
            print(f"| {ms:.4f} | {index} | {name[:60]} | {workspace / 2**20:.1f} | {error} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
