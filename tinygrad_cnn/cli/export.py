"""`tinygrad-cnn export`: a `train --save` checkpoint as an ONNX model for deployment."""

from __future__ import annotations

import argparse
import json
import os

import tinygrad_cnn as tc

from .common import PROG, CLIError, model_from_checkpoint, read_checkpoint

FORMATS = ("onnx",)


def cmd_export(args) -> int:
    """Write ``--checkpoint`` as an ONNX model to ``args.output``, with the classes, mean and std
    as metadata; returns the exit status."""
    if args.format not in FORMATS:
        raise CLIError(f"--format {args.format}: choose one of {', '.join(FORMATS)}")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise CLIError(f"cannot write {args.output}: the folder {folder} does not exist")
    if os.path.isdir(args.output):
        raise CLIError(f"cannot write {args.output}: it is a folder")
    ckpt = read_checkpoint(args.checkpoint)
    model = model_from_checkpoint(ckpt, "cpu")
    h, w = ckpt["image_size"]
    example = tc.zeros(1, ckpt["in_channels"], h, w)
    metadata = {"classes": json.dumps(ckpt["classes"]), "mean": json.dumps(ckpt["mean"]),
                "std": json.dumps(ckpt["std"]), "model": ckpt["model_name"],
                "input": f"(batch, {ckpt['in_channels']}, {h}, {w}) float32, scaled to [0, 1] "
                         "then normalized with mean and std per channel"}
    from tinygrad_cnn import onnx as tc_onnx  # noqa: PLC0415 - needs the onnx package

    tc_onnx.export(model, example, args.output, opset=args.opset, metadata=metadata)
    print(f"wrote {args.output}: {ckpt['model_name']}, input (batch, {ckpt['in_channels']}, "
          f"{h}, {w}), {len(ckpt['classes'])} classes, ONNX opset {args.opset}")
    return 0


def add_parser(sub) -> None:
    """Register this subcommand on the top-level parser's subparsers."""
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("export", help="write a checkpoint as an ONNX model",
                       formatter_class=raw, epilog=f"examples:\n  {PROG} train --save d.ckpt\n"
                       f"  {PROG} export --checkpoint d.ckpt --format onnx digits.onnx")
    p.add_argument("--checkpoint", required=True, metavar="PATH")
    p.add_argument("--format", default="onnx", help="onnx (the only one so far)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    p.add_argument("output", metavar="OUTPUT", help="the file to write, e.g. model.onnx")
    p.set_defaults(func=cmd_export)
