"""`tinygrad-cnn gradcheck`: a quick float64 gradient check of the CNN ops (install check)."""

from __future__ import annotations

import argparse
import sys
import time

import tinygrad_cnn as tc

from .common import PROG


def _op_suite(device):
    """(name, fn, inputs) for a quick float64 gradient check of the CNN ops on ``device``."""
    F = tc.nn.functional

    def rand(*shape):
        return tc.randn(*shape, dtype=tc.float64, device=device, requires_grad=True)

    def distinct(*shape):  # no ties inside pooling windows: a permutation scaled apart
        n = 1
        for s in shape:
            n *= s
        x = tc.randperm(n, device=device).double().reshape(*shape) * 0.1
        return x.requires_grad_()

    targets = tc.tensor([0, 2, 1], device=device)
    return [
        ("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1),
         (rand(2, 2, 5, 5), rand(3, 2, 3, 3), rand(3))),
        ("conv2d stride 2", lambda x, w: F.conv2d(x, w, stride=2), (rand(1, 2, 6, 6),
                                                                    rand(2, 2, 3, 3))),
        ("max_pool2d", lambda x: F.max_pool2d(x, 2), (distinct(2, 2, 4, 4),)),
        ("avg_pool2d", lambda x: F.avg_pool2d(x, 2), (rand(2, 2, 4, 4),)),
        ("linear", lambda x, w, b: F.linear(x, w, b), (rand(3, 4), rand(5, 4), rand(5))),
        ("relu", lambda x: F.relu(x), (distinct(3, 4) - 0.55,)),
        ("cross_entropy", lambda z: F.cross_entropy(z, targets), (rand(3, 4),)),
        ("mse_loss", lambda a, b: F.mse_loss(a, b), (rand(3, 4), rand(3, 4))),
    ]


def cmd_gradcheck(args) -> int:
    """Gradient-check each op of the suite on ``--device`` and print one line per op; exit
    status 1 when any fails."""
    device = tc.backend.normalize_device(args.device)
    if device == "gpu":
        tc.backend.require_gpu()
    tc.manual_seed(0)
    failures = 0
    suite = _op_suite(device)
    for name, fn, inputs in suite:
        start = time.perf_counter()
        try:
            tc.gradcheck(fn, inputs)
            status = "ok"
        except tc.GradcheckError as e:
            failures += 1
            status = "FAILED: " + str(e).splitlines()[0]
        print(f"{name:<18} {status}  ({time.perf_counter() - start:.2f}s)")
    if failures:
        print(f"{failures} of {len(suite)} gradient checks failed on {device}", file=sys.stderr)
        return 1
    print(f"all {len(suite)} gradient checks passed on {device}")
    return 0


def add_parser(sub) -> None:
    """Register this subcommand on the top-level parser's subparsers."""
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("gradcheck", help="gradient-check the CNN ops (quick install check)",
                       formatter_class=raw, epilog=f"examples:\n  {PROG} gradcheck\n  {PROG} "
                       "gradcheck --device gpu   # verifies a CuPy/CUDA install")
    p.add_argument("--device", default=None, help="cpu or gpu")
    p.set_defaults(func=cmd_gradcheck)
