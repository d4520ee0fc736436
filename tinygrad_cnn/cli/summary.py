"""`tinygrad-cnn summary`: the layer table of a zoo model."""

from __future__ import annotations

import argparse

import tinygrad_cnn as tc
from tinygrad_cnn import models

from .common import DEFAULT_INPUT, PROG, CLIError, build, positive_int


def cmd_summary(args) -> int:
    """Print the layer table of zoo model ``--model`` for one (C, H, W) input; returns 0."""
    default = DEFAULT_INPUT[args.model]
    shape = tuple(args.input_shape) if args.input_shape else default
    if len(shape) != 3 or min(shape) < 1:
        raise CLIError(f"--input-shape must be three positive numbers C H W, got {shape}")
    model, _ = build(args.model, shape[0], args.num_classes, shape[1:])
    tc.summary(model, shape)  # prints the table
    return 0


def add_parser(sub) -> None:
    """Register this subcommand on the top-level parser's subparsers."""
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("summary", help="layer table of a zoo model",
                       formatter_class=raw, epilog=f"examples:\n  {PROG} summary --model "
                       f"lenet5\n  {PROG} summary --model article_cnn --input-shape 3 300 300 "
                       "--num-classes 2")
    p.add_argument("--model", choices=list(models.MODELS), default="digits_cnn")
    p.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"))
    p.add_argument("--num-classes", type=positive_int, default=10)
    p.set_defaults(func=cmd_summary)
