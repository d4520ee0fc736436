"""`tinygrad-cnn evaluate`: test accuracy of a saved checkpoint."""

from __future__ import annotations

import argparse
import json

import tinygrad_cnn as tc

from .common import (
    PROG,
    CLIError,
    dataset_spec,
    load_data,
    model_from_checkpoint,
    normalized,
    read_checkpoint,
)


def cmd_evaluate(args) -> int:
    """Print the test loss and accuracy of ``--checkpoint`` (on its own test split, or on
    ``--dataset``); returns the exit status."""
    ckpt = read_checkpoint(args.checkpoint)
    device = tc.backend.normalize_device(args.device)
    stored = ckpt["dataset"]
    if args.dataset:
        name, path = dataset_spec(args.dataset)
    else:
        name, path = stored["name"], stored["path"]
    size = tuple(ckpt["image_size"])
    _, test, classes, in_channels, _ = load_data(name, path, size, stored["seed"],
                                                  stored["test_split"])
    if test is None:
        raise CLIError(f"{args.checkpoint} was trained with --test-split 0: there is no test "
                       "split to evaluate; pass --dataset with data of its own")
    if len(classes) != len(ckpt["classes"]) or in_channels != ckpt["in_channels"]:
        raise CLIError(f"the data has {len(classes)} classes of {in_channels}-channel images but "
                       f"the model expects {len(ckpt['classes'])} of {ckpt['in_channels']}")
    model = model_from_checkpoint(ckpt, device)
    result = tc.train.evaluate(model, normalized(test, ckpt["mean"], ckpt["std"]),
                               loss_fn=tc.nn.CrossEntropyLoss(), device=device)
    if args.json:
        print(json.dumps({"dataset": name, "samples": len(test), "test_loss": result["loss"],
                          "test_accuracy": result["accuracy"]}))
        return 0
    print(f"evaluated {ckpt['model_name']} on {len(test)} {name} test images")
    print(f"test loss: {result['loss']:.4f}")
    print(f"test accuracy: {result['accuracy']:.3f}")
    return 0


def add_parser(sub) -> None:
    """Register this subcommand on the top-level parser's subparsers."""
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("evaluate", help="test accuracy of a saved checkpoint",
                       formatter_class=raw, epilog=f"examples:\n  {PROG} train --save d.ckpt\n"
                       f"  {PROG} evaluate --checkpoint d.ckpt\n  {PROG} evaluate --checkpoint "
                       "m.ckpt --dataset mnist ~/data/mnist")
    p.add_argument("--checkpoint", required=True, metavar="PATH")
    p.add_argument("--dataset", nargs="+", metavar="NAME [PATH]",
                   help="default: the data the checkpoint was trained on (its test split)")
    p.add_argument("--device", default=None, help="cpu or gpu")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_evaluate)
