"""`tinygrad-cnn train`: train a CNN and report its test accuracy."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import tinygrad_cnn as tc
from tinygrad_cnn import models
from tinygrad_cnn.data import train_val_split
from tinygrad_cnn.data.transforms import Normalize

from .common import (
    CHECKPOINT_FORMAT,
    DEFAULT_LR,
    DEFAULT_MODEL,
    OPTIMIZERS,
    PROG,
    CLIError,
    build,
    dataset_spec,
    load_data,
    make_optimizer,
    normalized,
    parse_size,
    read_checkpoint,
)

_TRAIN_EXAMPLES = f"""examples:
  {PROG} train                                   # digits, digits_cnn, Adam, 5 epochs, CPU
  {PROG} train --epochs 10 --save digits.ckpt --plot curves.png
  {PROG} train --dataset mnist ~/data/mnist --model lenet5 --device gpu
  {PROG} train --dataset folder ~/data/cats_vs_dogs --image-size 64 --model article_cnn
  {PROG} train --resume digits.ckpt --epochs 10  # continue a saved run up to epoch 10
  {PROG} train --json > run.json
"""


def cmd_train(args) -> int:
    name, path = dataset_spec(args.dataset)
    device = tc.backend.normalize_device(args.device)
    if device == "gpu":
        tc.backend.require_gpu()
    if args.epochs < 1 or args.batch_size < 1:
        raise CLIError("--epochs and --batch-size must be at least 1")
    if not 0 < args.val_split < 1 and args.val_split != 0:
        raise CLIError(f"--val-split must be 0 or between 0 and 1, got {args.val_split}")
    out = sys.stderr if args.json else sys.stdout
    resume_ckpt = read_checkpoint(args.resume) if args.resume else None
    tc.manual_seed(args.seed)
    train, test, classes, in_channels, size = load_data(name, path, args.image_size, args.seed,
                                                         args.test_split)
    fit_train, val = train, None
    if args.val_split:
        fit_train, val = train_val_split(train, args.val_split, seed=args.seed)
    stats = Normalize.from_data(fit_train)
    mean, std = stats.mean.tolist(), stats.std.tolist()
    model_name = args.model or DEFAULT_MODEL[name]
    if resume_ckpt is not None:
        model_name = resume_ckpt["model_name"]
        mean, std = resume_ckpt["mean"], resume_ckpt["std"]
    try:
        model, kwargs = build(model_name, in_channels, len(classes), size)
    except ValueError as e:
        raise CLIError(f"{e}; pick another --model or resize with --image-size") from None
    if resume_ckpt is not None and kwargs != resume_ckpt["model_kwargs"]:
        raise CLIError(f"--resume: the checkpoint's model {resume_ckpt['model_kwargs']} does not "
                       f"match this data's {kwargs}")
    model.to(device)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    optimizer = make_optimizer(args.optimizer, model.parameters(), lr)
    train_n, test_n = normalized(fit_train, mean, std), normalized(test, mean, std)
    val_n = None if val is None else normalized(val, mean, std)
    meta = {
        "format": CHECKPOINT_FORMAT, "model_name": model_name, "model_kwargs": kwargs,
        "classes": classes, "mean": mean, "std": std, "in_channels": in_channels,
        "image_size": list(size),
        "dataset": {"name": name, "path": None if path is None else os.path.abspath(path),
                    "seed": args.seed, "test_split": args.test_split},
    }
    callbacks = []
    if args.save:
        callbacks.append(tc.train.ModelCheckpoint(args.save, extra=meta))
    n_val = 0 if val is None else len(val)
    print(f"data: {name}, {len(fit_train)} train / {n_val} validation / {len(test)} test "
          f"images of {in_channels}x{size[0]}x{size[1]}, {len(classes)} classes", file=out)
    print(f"model: {model_name} ({model.num_parameters():,} parameters), optimizer: "
          f"{args.optimizer} (lr {lr:g}), device: {device}", file=out)
    start = time.perf_counter()
    history = tc.train.fit(
        model, optimizer, tc.nn.CrossEntropyLoss(), train_n, epochs=args.epochs,
        batch_size=args.batch_size, val_data=val_n, callbacks=callbacks,
        device=device, verbose=0 if args.json else 1, seed=args.seed, resume=args.resume)
    seconds = time.perf_counter() - start
    if history.interrupted:
        print(f"{PROG}: {history.stop_reason}", file=sys.stderr)
        return 130
    result = tc.train.evaluate(model, test_n, loss_fn=tc.nn.CrossEntropyLoss(), device=device)
    plot = history.plot(args.plot, title=f"{model_name} on {name}") if args.plot else None
    if args.json:
        print(json.dumps({
            "dataset": name, "model": model_name, "device": device, "epochs": len(history),
            "history": history.to_dict(), "train_seconds": round(seconds, 3),
            "test_loss": result["loss"], "test_accuracy": result["accuracy"],
            "checkpoint": args.save, "plot": plot,
        }))
        return 0
    if args.save:
        print(f"checkpoint: {args.save}")
    if plot:
        print(f"plot: {plot}")
    print(f"trained {len(history)} epochs in {seconds:.1f}s")
    print(f"test loss: {result['loss']:.4f}")
    print(f"test accuracy: {result['accuracy']:.3f}")
    return 0


def add_parser(sub) -> None:
    """Register this subcommand on the top-level parser's subparsers."""
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("train", help="train a CNN and report its test accuracy",
                       description="Train a CNN; prints per-epoch progress and ends with "
                       "'test accuracy: ...'.", epilog=_TRAIN_EXAMPLES, formatter_class=raw)
    p.add_argument("--dataset", nargs="+", default=["digits"], metavar="NAME [PATH]",
                   help="digits (default, bundled), mnist PATH, fashion-mnist PATH (folders of "
                        "IDX files) or folder PATH (one sub-folder of images per class)")
    p.add_argument("--model", choices=list(models.MODELS),
                   help="default: digits_cnn for digits, lenet5 for (fashion-)mnist, "
                        "article_cnn for folders")
    p.add_argument("--epochs", type=int, default=5, help="default: 5")
    p.add_argument("--batch-size", type=int, default=32, help="default: 32")
    p.add_argument("--lr", type=float, help="learning rate (default: 3e-3 for adam/adamw, "
                   "0.05 for sgd with momentum 0.9, 1e-3 for rmsprop)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="default: adam")
    p.add_argument("--device", default=None, help="cpu or gpu (default: $TINYGRAD_CNN_DEVICE "
                   "or cpu)")
    p.add_argument("--seed", type=int, default=0, help="seeds weights, splits and shuffling")
    p.add_argument("--val-split", type=float, default=0.1,
                   help="fraction of the training data held out for validation (stratified; "
                        "0 for none; default: 0.1)")
    p.add_argument("--test-split", type=float, default=0.2,
                   help="fraction held out for the test when the data has no test files "
                        "(default: 0.2)")
    p.add_argument("--image-size", type=parse_size, metavar="H[xW]",
                   help="resize images (folders default to 64)")
    p.add_argument("--save", metavar="PATH", help="write a checkpoint after every epoch")
    p.add_argument("--resume", metavar="PATH", help="continue from a --save checkpoint")
    p.add_argument("--plot", metavar="PATH", help="write loss/accuracy curves as a PNG")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_train)
