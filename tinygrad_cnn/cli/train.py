"""`tinygrad-cnn train`: train a CNN and report its test accuracy."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn import models
from tinygrad_cnn.data import Subset, train_val_split
from tinygrad_cnn.data.transforms import Normalize
from tinygrad_cnn.distributed.process_group import launcher_world_size as launched_ranks

from .common import (
    CHECKPOINT_FORMAT,
    DEFAULT_LR,
    DEFAULT_MODEL,
    OPTIMIZERS,
    PROG,
    CLIError,
    build,
    check_output_path,
    check_plot_path,
    dataset_spec,
    fraction,
    load_data,
    make_optimizer,
    non_negative_int,
    normalized,
    parse_size,
    positive_float,
    positive_int,
    read_checkpoint,
)

_TRAIN_EXAMPLES = f"""examples:
  {PROG} train                                   # digits, digits_cnn, Adam, 5 epochs, CPU
  {PROG} train --epochs 10 --save digits.ckpt --plot curves.png
  {PROG} train --dataset mnist ~/data/mnist --model lenet5 --device gpu
  {PROG} train --dataset folder ~/data/cats_vs_dogs --image-size 64 --model article_cnn
  {PROG} train --dataset folder ~/data/flowers --image-size 128 --model resnet18
  {PROG} train --dataset folder ~/photos --cache ~/.cache/tc --num-workers 2 --test-split 0
  {PROG} train --resume digits.ckpt --epochs 10  # continue a saved run up to epoch 10
  {PROG} train --json > run.json
"""


# settings a checkpoint from `train --save` records, and their defaults for a fresh run
DEFAULTS = {"epochs": 5, "batch_size": 32, "optimizer": "adam", "seed": 0, "val_split": 0.1,
            "test_split": 0.2, "deterministic": False}


class _SetLR(tc.train.Callback):
    """--lr given with --resume: the learning rate, set after the optimizer state is restored."""

    def __init__(self, lr):
        self.lr = lr

    def on_train_begin(self, trainer) -> None:
        for group in trainer.optimizer.param_groups:
            group["lr"] = self.lr


def _resolve(args, ckpt):
    """The settings of this run: a flag given explicitly, else (with --resume) the checkpoint's,
    else the default. A flag that contradicts the checkpoint's model or optimizer is an error."""
    settings = {}
    saved = (ckpt or {}).get("train", {})
    for key, default in DEFAULTS.items():
        value = getattr(args, key)
        settings[key] = value if value is not None else saved.get(key, default)
    if ckpt is None:
        return settings
    where = f"the checkpoint {args.resume}"
    if args.model is not None and args.model != ckpt["model_name"]:
        raise CLIError(f"--model {args.model} contradicts {where}, which holds a "
                       f"{ckpt['model_name']}; drop --model to resume it")
    optimizer = saved.get("optimizer")
    if args.optimizer is not None and optimizer is not None and args.optimizer != optimizer:
        raise CLIError(f"--optimizer {args.optimizer} contradicts {where}, trained with "
                       f"{optimizer}; drop --optimizer to resume it")
    stored = ckpt["dataset"]
    if args.seed is None:
        settings["seed"] = stored.get("seed", settings["seed"])
    if args.test_split is None:
        settings["test_split"] = stored.get("test_split", settings["test_split"])
    size = tuple(ckpt["image_size"])
    if args.image_size is not None and tuple(args.image_size) != size:
        raise CLIError(f"--image-size {args.image_size[0]}x{args.image_size[1]} contradicts "
                       f"{where}, trained on {size[0]}x{size[1]} images; drop --image-size "
                       "to resume it")
    done = ckpt["epoch"] if ckpt.get("batch") is None else ckpt["epoch"] - 1
    if args.epochs is None:
        settings["epochs"] = saved.get("epochs", done + 1)
    if settings["epochs"] <= done and args.epochs is None:
        raise CLIError(f"--epochs not given and {where} has finished its {done} epochs; pass "
                       f"--epochs {done + 1} or more to continue")
    if settings["epochs"] <= done:
        raise CLIError(f"--epochs {args.epochs}: {where} has already trained {done} epochs; "
                       f"pass --epochs {done + 1} or more to continue")
    settings["done"] = done
    return settings


def cmd_train(args) -> int:
    """Train and report. Under ``mpiexec -n N`` every rank runs this, data-parallel: rank 0
    prints and writes files; an error on any rank ends every rank with its message."""
    ranks = launched_ranks()
    if ranks == 1:
        return _train(args, ranks)
    from tinygrad_cnn import distributed  # noqa: PLC0415

    device = tc.backend.normalize_device(args.device)
    distributed.init_process_group("nccl" if device == "gpu" else "mpi")
    try:
        if distributed.get_rank() == 0:
            return _train(args, ranks)
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), \
                contextlib.redirect_stderr(quiet):
            return _train(args, ranks)
    except BaseException as e:  # noqa: BLE001 - the other ranks must not wait for this one
        distributed.abort_all(e)
        raise


def _train(args, ranks: int) -> int:
    device = tc.backend.normalize_device(args.device)
    if device == "gpu":
        tc.backend.require_gpu()
    if args.num_workers and ranks > 1:
        raise CLIError("--num-workers is not supported with several ranks yet (each rank loads "
                       "its shard in its own process)")
    if args.save:  # every output is checked before the first epoch, not after the last
        check_output_path(args.save, "--save")
    if args.plot:
        check_plot_path(args.plot)
    out = sys.stderr if args.json else sys.stdout
    ckpt = read_checkpoint(args.resume, resume=True) if args.resume else None
    settings = _resolve(args, ckpt)
    deterministic = (tc.backends.cudnn.deterministic_engines() if settings["deterministic"]
                     else contextlib.nullcontext())
    with deterministic:
        return _run(args, ranks, device, ckpt, settings, out)


def _run(args, ranks: int, device: str, ckpt, settings: dict, out) -> int:
    """Load the data, build or restore the model, train, evaluate and report."""
    if ckpt is not None and args.dataset is None:
        name, path = ckpt["dataset"]["name"], ckpt["dataset"]["path"]
    else:
        name, path = dataset_spec(args.dataset or ["digits"])
    image_size = args.image_size or (tuple(ckpt["image_size"]) if ckpt is not None else None)
    seed = settings["seed"]
    tc.manual_seed(seed)
    if name == "folder":
        print(f"data: listing {path}" + (f" (decoded cache in {args.cache})" if args.cache
                                          else ""), file=out, flush=True)
    elif args.cache:
        raise CLIError("--cache is for --dataset folder (the other datasets are in memory)")
    train, test, classes, in_channels, size = load_data(
        name, path, image_size, seed, settings["test_split"], cache=args.cache,
        progress=not args.json)
    fit_train, val = train, None
    if settings["val_split"]:
        fit_train, val = train_val_split(train, settings["val_split"], seed=seed)
        if len(val) == 0:
            print("no validation images (too few per class for --val-split); training without "
                  "validation", file=out)
            val = None

    def loader(dataset, shuffle):
        return tc.data.DataLoader(dataset, batch_size=settings["batch_size"], shuffle=shuffle,
                                  seed=seed, device=device, num_workers=args.num_workers,
                                  persistent_workers=args.num_workers > 0 and shuffle)

    model_name = args.model or DEFAULT_MODEL[name]
    if ckpt is not None:
        model_name = ckpt["model_name"]
        mean, std = ckpt["mean"], ckpt["std"]
    else:
        stats = Normalize.from_data(_progress(loader(_stats_sample(fit_train, name, seed),
                                                     False), "image statistics", args.json))
        mean, std = stats.mean.tolist(), stats.std.tolist()
    try:
        model, kwargs = build(model_name, in_channels, len(classes), size)
    except ValueError as e:
        raise CLIError(f"{e}; pick another --model or resize with --image-size") from None
    if ckpt is not None and kwargs != ckpt["model_kwargs"]:
        raise CLIError(f"--resume: the checkpoint's model {ckpt['model_kwargs']} does not "
                       f"match this data's {kwargs}")
    model.to(device)
    optimizer_name = settings["optimizer"]
    lr = args.lr if args.lr is not None else DEFAULT_LR[optimizer_name]
    optimizer = make_optimizer(optimizer_name, model.parameters(), lr)
    callbacks = []
    if ckpt is not None:
        if args.lr is not None:
            callbacks.append(_SetLR(args.lr))
        else:  # the learning rate the checkpoint goes on with
            lr = ckpt["optimizer"]["param_groups"][0]["lr"]
    train_n = normalized(fit_train, mean, std)
    test_n = None if test is None else normalized(test, mean, std)
    val_n = None if val is None else normalized(val, mean, std)
    if ranks == 1:  # distributed runs shard the datasets themselves (fit makes their loaders)
        train_n = loader(train_n, True)
        test_n = None if test_n is None else loader(test_n, False)
        val_n = None if val_n is None else loader(val_n, False)
    meta = {
        "format": CHECKPOINT_FORMAT, "model_name": model_name, "model_kwargs": kwargs,
        "classes": classes, "mean": mean, "std": std, "in_channels": in_channels,
        "image_size": list(size),
        "dataset": {"name": name, "path": None if path is None else os.path.abspath(path),
                    "seed": seed, "test_split": settings["test_split"]},
        "train": {key: settings[key] for key in DEFAULTS} | {"lr": lr},
    }
    saver = None
    if args.save:
        saver = tc.train.ModelCheckpoint(args.save, extra=meta)
        callbacks.append(saver)
    n_val = 0 if val is None else len(val)
    n_test = "no" if test is None else len(test)
    print(f"data: {name}, {len(fit_train)} train / {n_val} validation / {n_test} test "
          f"images of {in_channels}x{size[0]}x{size[1]}, {len(classes)} classes", file=out)
    print(f"model: {model_name} ({model.num_parameters():,} parameters), optimizer: "
          f"{optimizer_name} (lr {lr:g}), device: {device}", file=out)
    if ckpt is not None:
        where = (f"after epoch {ckpt['epoch']}" if ckpt.get("batch") is None else
                 f"in epoch {ckpt['epoch']} after batch {ckpt['batch']}")
        print(f"resuming {args.resume} {where}, up to epoch {settings['epochs']}", file=out)
    if ranks > 1:
        batch = settings["batch_size"]
        print(f"distributed: {ranks} ranks ({tc.distributed.get_backend()}), batch {batch} per "
              f"rank, global batch {batch * ranks}", file=out)
    start = time.perf_counter()
    history = tc.train.fit(
        model, optimizer, tc.nn.CrossEntropyLoss(), train_n, epochs=settings["epochs"],
        batch_size=settings["batch_size"], val_data=val_n, callbacks=callbacks,
        device=device, verbose=0 if args.json else 1, seed=seed, resume=args.resume,
        distributed=ranks > 1)
    seconds = time.perf_counter() - start
    if history.interrupted:
        resume = ""
        if saver is not None and saver.last_saved and saver.last_saved != args.save:
            resume = f"; continue with: {PROG} train --resume {saver.last_saved}"
        print(f"{PROG}: {history.stop_reason}{resume}", file=sys.stderr)
        return 130
    result = {"loss": None, "accuracy": None}
    if test_n is not None:
        result = tc.train.evaluate(model, test_n, loss_fn=tc.nn.CrossEntropyLoss(),
                                   device=device)
    main_rank = ranks == 1 or tc.distributed.get_rank() == 0
    plot = (history.plot(args.plot, title=f"{model_name} on {name}")
            if args.plot and main_rank else None)
    trained = len(history) - settings.get("done", 0)
    if ranks == 1:
        train_n.shutdown_workers()
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
    print(f"trained {trained} epochs in {seconds:.1f}s")
    if test_n is None:
        print("no test split (--test-split 0): no test accuracy")
        return 0
    print(f"test loss: {result['loss']:.4f}")
    print(f"test accuracy: {result['accuracy']:.3f}")
    return 0


def _stats_sample(dataset, name, seed, limit=1000):
    """The images Normalize.from_data reads: all of them, but for folders a random sample of
    at most ``limit`` (per-channel statistics of 1,000 photos are accurate to ~0.1%, and a
    full pass would decode the whole folder once more before training starts)."""
    if name != "folder" or len(dataset) <= limit:
        return dataset
    rng = np.random.default_rng((seed, 7))
    return Subset(dataset, np.sort(rng.choice(len(dataset), limit, replace=False)))


def _progress(batches, desc, quiet):
    """``batches`` with a tqdm bar on stderr (when it is a terminal and tqdm is installed)."""
    try:
        from tqdm import tqdm  # noqa: PLC0415 - optional (the main extra)
    except ImportError:
        return batches
    return tqdm(batches, desc=desc, unit="batch", leave=False, disable=True if quiet else None)


def add_parser(sub) -> None:
    """Register this subcommand on the top-level parser's subparsers."""
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("train", help="train a CNN and report its test accuracy",
                       description="Train a CNN; prints per-epoch progress and ends with "
                       "'test accuracy: ...'.", epilog=_TRAIN_EXAMPLES, formatter_class=raw)
    p.add_argument("--dataset", nargs="+", metavar="NAME [PATH]",
                   help="digits (default, bundled), mnist PATH, fashion-mnist PATH (folders of "
                        "IDX files) or folder PATH (one sub-folder of images per class)")
    p.add_argument("--model", choices=list(models.MODELS),
                   help="default: digits_cnn for digits, lenet5 for (fashion-)mnist, "
                        "article_cnn for folders; resnet18, mobilenet_v2, squeezenet1_1, "
                        "vgg11_bn ... for larger images")
    p.add_argument("--epochs", type=positive_int, help="default: 5")
    p.add_argument("--batch-size", type=positive_int, help="default: 32")
    p.add_argument("--lr", type=positive_float, help="learning rate (default: 3e-3 for "
                   "adam/adamw, 0.05 for sgd with momentum 0.9, 1e-3 for rmsprop)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="default: adam")
    p.add_argument("--device", default=None, help="cpu or gpu (default: $TINYGRAD_CNN_DEVICE "
                   "or cpu)")
    p.add_argument("--deterministic", action="store_true", default=None,
                   help="the same bits on every run on the GPU too: deterministic cuDNN engines "
                        "(tc.backends.cudnn.deterministic), at some speed; CPU runs always are. "
                        "Kept in the checkpoint, so --resume goes on with it")
    p.add_argument("--seed", type=non_negative_int,
                   help="seeds weights, splits and shuffling (default: 0)")
    p.add_argument("--val-split", type=fraction,
                   help="fraction of the training data held out for validation (stratified; "
                        "0 for none; default: 0.1)")
    p.add_argument("--test-split", type=fraction,
                   help="fraction held out for the test when the data has no test files "
                        "(0 for none; default: 0.2)")
    p.add_argument("--num-workers", type=non_negative_int, default=0, metavar="N",
                   help="worker processes that load and augment batches (default: 0, in the "
                        "training process); see docs/data.md")
    p.add_argument("--cache", metavar="DIR",
                   help="folders only: decode the images once, in parallel, into a cache in "
                        "DIR, reused while the files and --image-size are unchanged")
    p.add_argument("--image-size", type=parse_size, metavar="H[xW]",
                   help="resize images (folders default to 64)")
    p.add_argument("--save", metavar="PATH", help="write a checkpoint after every epoch")
    p.add_argument("--resume", metavar="PATH",
                   help="continue from a --save checkpoint (or its .interrupted file) with its "
                        "settings; flags given explicitly override them (--lr) or must agree "
                        "with them (--model, --optimizer, --image-size)")
    p.add_argument("--plot", metavar="PATH", help="write loss/accuracy curves as a PNG")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_train)
