"""Where the GPU time of benchmarks/gpu.py's workloads goes, kernel by kernel.

    python benchmarks/gpu_profile.py [--only lenet5 conv3x3_56] [--steps 10]

Runs each workload's step (tinygrad_cnn as installed: cuDNN where available, our CUDA kernels)
under PyTorch's profiler, whose CUPTI tracer records every CUDA kernel in the process, CuPy's and
cuDNN's included. Prints per workload: kernels launched per step, the summed kernel time per step
against the synchronised wall time per step (their difference is launch and host overhead), and
the kernels that take the most time. Needs a GPU and PyTorch with CUDA; prints why and exits 0
otherwise.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks import gpu  # noqa: E402 - after the path set-up


def _warm_step(name):
    """(step, sync) of workload ``name`` on the GPU, after five warm-up steps."""
    step, sync, _ = gpu.ours(name, "gpu", False)
    for _ in range(5):
        step()
    sync()
    from tinygrad_cnn.cuda import wait_for_compiles  # noqa: PLC0415 - after the path set-up

    wait_for_compiles()  # no compile thread beside the profiled steps
    return step, sync


def profile(name, steps, top):
    import torch
    from torch.profiler import ProfilerActivity

    step, sync = _warm_step(name)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    wall_ms = 1000 * (time.perf_counter() - t0) / steps
    with torch.profiler.profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        sync()
    totals, counts = collections.Counter(), collections.Counter()
    for event in prof.events():
        if getattr(event, "device_type", None) == torch.autograd.DeviceType.CUDA:
            totals[event.name] += event.time_range.elapsed_us()
            counts[event.name] += 1
    kernel_ms = sum(totals.values()) / 1000 / steps
    lines = [f"## {name}: {gpu.WORKLOADS[name]}",
             f"{sum(counts.values()) / steps:.0f} kernels per step; kernel time {kernel_ms:.3f} ms "
             f"per step; wall {wall_ms:.3f} ms per step (synchronised once per {steps} steps)",
             "| us/step | launches/step | kernel |", "|---:|---:|---|"]
    for kernel, total in totals.most_common(top):
        lines.append(f"| {total / steps:.1f} | {counts[kernel] / steps:g} | {kernel[:110]} |")
    return "\n".join(lines)


def host_profile(name, steps, top):
    """cProfile of ``steps`` warm steps: where the host (Python) time of a step goes."""
    import cProfile
    import io
    import pstats

    step, sync = _warm_step(name)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    sync()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return f"## host time of {steps} {name} steps\n" + out.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(gpu.WORKLOADS),
                        default=list(gpu.WORKLOADS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--host", action="store_true",
                        help="cProfile the host side of warm steps instead of timing kernels")
    args = parser.parse_args(argv)
    import tinygrad_cnn as tc

    if not tc.gpu_available():
        print(f"gpu_profile: no GPU: {tc.backend.gpu_unavailable_reason()}")
        return 0
    try:
        import torch
    except ImportError:
        print("gpu_profile: needs PyTorch (its profiler records the CUDA kernels)")
        return 0
    if not torch.cuda.is_available():
        print("gpu_profile: PyTorch sees no CUDA device")
        return 0
    torch.zeros(1, device="cuda")  # PyTorch's context first: the profiler attaches to it
    from tinygrad_cnn.cuda import cudnn_conv

    print(f"cuDNN: {tc.backends.cudnn.version() or cudnn_conv.unavailable_reason()}")
    for name in args.only:
        try:
            if args.host:
                print(host_profile(name, args.steps, args.top), flush=True)
            else:
                print(profile(name, args.steps, args.top), flush=True)
        except Exception as e:  # one workload's failure should not hide the others
            print(f"## {name}: failed: {type(e).__name__}: {e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
