"""Where a fresh process's first GPU training step spends its time: each kernel compile, named.

    python benchmarks/gpu_first_step.py [--workload lenet5]

Runs the workload's first step (benchmarks/gpu.py's ``ours``) in a fresh process with an empty
CuPy kernel cache, wrapping CuPy's compile entry points (the functions of ``cupy.cuda.compiler``
whose names say compile; the outermost call of each compile is timed) to name the kernels each
compile holds; then prints import, CUDA context, set-up and first-step times, the convolution
path (cuDNN or im2col) and the compiles, longest first, each with the phase it started in and the
project line that called it. Needs a GPU; prints why and exits 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
_GLOBAL = re.compile(r"__global__\s+void\s+(\w+)")


def _call_site() -> str:
    """The innermost frame of this project that led to a compile ("" on a compile thread)."""
    for frame in reversed(traceback.extract_stack()[:-1]):
        path = os.path.abspath(frame.filename)
        if path.startswith(os.path.abspath(ROOT)) and not path.endswith("gpu_first_step.py"):
            return f"{os.path.relpath(path, ROOT)}:{frame.lineno} {frame.name}"
    return ""


def _child(workload: str) -> None:
    t0 = time.perf_counter()
    sys.path.insert(0, ROOT)
    import cupy
    from cupy.cuda import compiler

    import tinygrad_cnn.cuda
    from benchmarks import gpu

    imported = time.perf_counter()
    compiles, local = [], threading.local()  # our kernels compile on threads, CuPy's here
    phase = ["context"]  # the part of the run a compile started in: context, build, step, after

    def timed(name, function):
        def wrapper(*args, **kwargs):
            start, started_in = time.perf_counter(), phase[0]
            local.depth = getattr(local, "depth", 0) + 1
            try:
                return function(*args, **kwargs)
            finally:
                local.depth -= 1
                if local.depth == 0:  # the outermost compile call only
                    source = next((a for a in args if isinstance(a, str)), "")
                    names = _GLOBAL.findall(source)
                    compiles.append({"seconds": round(time.perf_counter() - start, 4),
                                     "via": name, "thread": threading.current_thread().name,
                                     "kernels": len(names), "names": names[:4],
                                     "site": _call_site(), "phase": started_in})
        return wrapper

    # every compile entry point CuPy's Python layer has (names differ between versions)
    for name in [n for n in vars(compiler) if "compile" in n and callable(vars(compiler)[n])
                 and not isinstance(vars(compiler)[n], type)]:
        setattr(compiler, name, timed(name, getattr(compiler, name)))
    cupy.zeros(1).sum()  # the CUDA context and CuPy's first kernel
    context = time.perf_counter()
    phase[0] = "build"
    step, sync, _ = gpu.ours(workload, "gpu", False)
    built = time.perf_counter()
    phase[0] = "step"
    step()
    sync()
    done = time.perf_counter()
    phase[0] = "after"
    tinygrad_cnn.cuda.wait_for_compiles()  # the compiles the step did not wait for, listed too
    print(json.dumps({"import_s": imported - t0, "context_s": context - imported,
                      "build_s": built - context, "first_step_s": done - built,
                      "total_s": done - t0, "compiles": compiles,
                      "convolutions": gpu.convolution_path()}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="lenet5")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.workload)
        return 0
    sys.path.insert(0, ROOT)
    import tinygrad_cnn as tc
    from benchmarks import gpu

    if not tc.gpu_available():
        print(f"benchmarks/gpu_first_step.py: no GPU: {tc.backend.gpu_unavailable_reason()}")
        return 0
    with tempfile.TemporaryDirectory(prefix="tc_cupy_cache_") as cache:
        env = gpu.child_env(CUPY_CACHE_DIR=cache)
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                               "--workload", args.workload], env=env, capture_output=True,
                              text=True)
    if done.returncode != 0:
        raise SystemExit(f"the first step failed:\n{done.stderr}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    compiles = sorted(r["compiles"], key=lambda c: -c["seconds"])
    total = sum(c["seconds"] for c in compiles)
    print(f"{args.workload}, fresh process, empty kernel cache: {r['total_s']:.2f} s = import "
          f"{r['import_s']:.2f} + CUDA context {r['context_s']:.2f} + build {r['build_s']:.2f} "
          f"+ first step {r['first_step_s']:.2f}; {len(compiles)} compiles, "
          f"{total:.2f} s summed; convolutions {r['convolutions']}")
    print("Compiles on threads other than the main one run side by side (our kernels, on a "
          "thread pool): their seconds overlap.")
    print("Phase (where a compile started): context (CuPy's first kernel, this script's own), "
          "build, step, or after it.")
    print("| seconds | phase | thread | kernels | first names | called from |\n"
          "|---:|---|---|---:|---|---|")
    for c in compiles:
        print(f"| {c['seconds']:.3f} | {c['phase']} | {c['thread']} | {c['kernels']} | "
              f"{', '.join(c['names'])} | {c['site']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
