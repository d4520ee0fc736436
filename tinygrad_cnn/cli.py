"""The ``tinygrad-cnn`` command (also ``python -m tinygrad_cnn``).

Subcommands: train, evaluate, predict, summary, gradcheck, info. Errors a user can cause (bad
paths, unreadable files, invalid options) print one line on stderr and exit non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import tinygrad_cnn as tc
from tinygrad_cnn import models
from tinygrad_cnn.data import (
    ImageFolder,
    TransformedDataset,
    load_digits,
    load_fashion_mnist,
    load_image,
    load_mnist,
    train_val_split,
)
from tinygrad_cnn.data.transforms import Normalize, Resize

PROG = "tinygrad-cnn"
CHECKPOINT_FORMAT = "tinygrad_cnn.cli.checkpoint"
DATASETS = ("digits", "mnist", "fashion-mnist", "folder")
DEFAULT_MODEL = {"digits": "digits_cnn", "mnist": "lenet5", "fashion-mnist": "lenet5",
                 "folder": "article_cnn"}
DEFAULT_INPUT = {"digits_cnn": (1, 8, 8), "lenet5": (1, 28, 28), "article_cnn": (3, 64, 64),
                 "simple_cnn": (3, 32, 32)}
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
DEFAULT_LR = {"adam": 3e-3, "adamw": 3e-3, "sgd": 0.05, "rmsprop": 1e-3}


class CLIError(Exception):
    """A user error: printed as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --------------------------------------------------------------------------- data


def _parse_size(text: str) -> tuple[int, int]:
    """'64' -> (64, 64); '64x48' or '64,48' -> (64, 48) as (height, width)."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid image size {text!r}: use 64 or 64x48") from None
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"invalid image size {text!r}: use 64 or 64x48")
    return size


def _dataset_spec(values) -> tuple[str, str | None]:
    """--dataset NAME [PATH] -> (name, path)."""
    name, rest = values[0].lower(), values[1:]
    if name not in DATASETS:
        raise CLIError(f"unknown dataset {values[0]!r}: choose digits, mnist PATH, "
                       "fashion-mnist PATH or folder PATH")
    if name == "digits":
        if rest:
            raise CLIError("--dataset digits takes no path (the data ships with scikit-learn)")
        return name, None
    if len(rest) != 1:
        raise CLIError(f"--dataset {name} needs exactly one PATH, "
                       f"e.g. --dataset {name} ~/data/{name}")
    return name, rest[0]


def _load_data(name, path, image_size, seed, test_split):
    """(train, test, classes, in_channels, (H, W)) with images as float32 in [0, 1]."""
    if name == "digits":
        full = load_digits()
        train, test = train_val_split(full, test_split, seed=seed)
        native = (8, 8)
    elif name in ("mnist", "fashion-mnist"):
        loader = load_mnist if name == "mnist" else load_fashion_mnist
        full = train = loader(path, train=True)
        try:
            test = loader(path, train=False)
        except FileNotFoundError:  # only the training files: hold out a test split from them
            train, test = train_val_split(full, test_split, seed=seed)
        native = tuple(full.tensors[0].shape[-2:])
    else:
        full = ImageFolder(path, image_size=image_size or (64, 64), on_error="skip")
        for skipped, reason in full.skipped:
            print(f"skipped unreadable image {skipped}: {reason}", file=sys.stderr)
        if len(full) < 4:
            raise CLIError(f"{path}: only {len(full)} readable images; need at least 4")
        train, test = train_val_split(full, test_split, seed=seed)
        native = full.image_size
    size = tuple(image_size) if image_size else native
    if size != native:
        train = TransformedDataset(train, Resize(size))
        test = TransformedDataset(test, Resize(size))
    in_channels = int(full[0][0].shape[0])
    return train, test, list(full.classes), in_channels, size


def _normalized(dataset, mean, std):
    return TransformedDataset(dataset, Normalize(mean, std))


# --------------------------------------------------------------------------- model / checkpoint


def _build(name, in_channels, num_classes, image_size):
    kwargs = models.model_kwargs(name, in_channels, num_classes, image_size)
    return models.build_model(name, **kwargs), kwargs


def _optimizer(name, params, lr):
    if name == "adam":
        return tc.optim.Adam(params, lr=lr)
    if name == "adamw":
        return tc.optim.AdamW(params, lr=lr)
    if name == "sgd":
        return tc.optim.SGD(params, lr=lr, momentum=0.9)
    return tc.optim.RMSprop(params, lr=lr)


def _read_checkpoint(path):
    if not os.path.isfile(path):
        raise CLIError(f"checkpoint not found: {path}")
    ckpt = tc.load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CLIError(f"{path} is not a checkpoint written by `{PROG} train --save`")
    return ckpt


def _model_from_checkpoint(ckpt, device):
    model = models.build_model(ckpt["model_name"], **ckpt["model_kwargs"])
    model.load_state_dict(ckpt["model"])
    return model.to(device)


# --------------------------------------------------------------------------- train


def cmd_train(args) -> int:
    name, path = _dataset_spec(args.dataset)
    device = tc.backend.normalize_device(args.device)
    if device == "gpu":
        tc.backend.require_gpu()
    if args.epochs < 1 or args.batch_size < 1:
        raise CLIError("--epochs and --batch-size must be at least 1")
    if not 0 < args.val_split < 1 and args.val_split != 0:
        raise CLIError(f"--val-split must be 0 or between 0 and 1, got {args.val_split}")
    out = sys.stderr if args.json else sys.stdout
    resume_ckpt = _read_checkpoint(args.resume) if args.resume else None
    tc.manual_seed(args.seed)
    train, test, classes, in_channels, size = _load_data(name, path, args.image_size, args.seed,
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
        model, kwargs = _build(model_name, in_channels, len(classes), size)
    except ValueError as e:
        raise CLIError(f"{e}; pick another --model or resize with --image-size") from None
    if resume_ckpt is not None and kwargs != resume_ckpt["model_kwargs"]:
        raise CLIError(f"--resume: the checkpoint's model {resume_ckpt['model_kwargs']} does not "
                       f"match this data's {kwargs}")
    model.to(device)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    optimizer = _optimizer(args.optimizer, model.parameters(), lr)
    train_n, test_n = _normalized(fit_train, mean, std), _normalized(test, mean, std)
    val_n = None if val is None else _normalized(val, mean, std)
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


# --------------------------------------------------------------------------- evaluate / predict


def cmd_evaluate(args) -> int:
    ckpt = _read_checkpoint(args.checkpoint)
    device = tc.backend.normalize_device(args.device)
    stored = ckpt["dataset"]
    if args.dataset:
        name, path = _dataset_spec(args.dataset)
    else:
        name, path = stored["name"], stored["path"]
    size = tuple(ckpt["image_size"])
    _, test, classes, in_channels, _ = _load_data(name, path, size, stored["seed"],
                                                  stored["test_split"])
    if len(classes) != len(ckpt["classes"]) or in_channels != ckpt["in_channels"]:
        raise CLIError(f"the data has {len(classes)} classes of {in_channels}-channel images but "
                       f"the model expects {len(ckpt['classes'])} of {ckpt['in_channels']}")
    model = _model_from_checkpoint(ckpt, device)
    result = tc.train.evaluate(model, _normalized(test, ckpt["mean"], ckpt["std"]),
                               loss_fn=tc.nn.CrossEntropyLoss(), device=device)
    if args.json:
        print(json.dumps({"dataset": name, "samples": len(test), "test_loss": result["loss"],
                          "test_accuracy": result["accuracy"]}))
        return 0
    print(f"evaluated {ckpt['model_name']} on {len(test)} {name} test images")
    print(f"test loss: {result['loss']:.4f}")
    print(f"test accuracy: {result['accuracy']:.3f}")
    return 0


def _prepare_image(path, ckpt, invert):
    """One image file -> normalised float32 (C, H, W) as the model was trained on."""
    image = load_image(path, tuple(ckpt["image_size"]))  # (3, H, W) uint8, RGB
    x = image.astype("float32") / 255.0
    if ckpt["in_channels"] == 1:  # ITU-R 601 luma, as Pillow's "L" mode
        x = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
    if invert:
        x = 1.0 - x
    return Normalize(ckpt["mean"], ckpt["std"])(x)


def cmd_predict(args) -> int:
    ckpt = _read_checkpoint(args.checkpoint)
    device = tc.backend.normalize_device(args.device)
    model = _model_from_checkpoint(ckpt, device)
    batch = tc.tensor([_prepare_image(p, ckpt, args.invert) for p in args.images])
    probs = tc.softmax(tc.train.predict(model, batch, device=device), dim=1).numpy()
    classes = ckpt["classes"]
    k = max(1, min(args.top, len(classes)))
    results = []
    for path, p in zip(args.images, probs, strict=True):
        top = p.argsort()[::-1][:k]
        results.append({"image": path, "top": [[classes[i], float(p[i])] for i in top]})
    if args.json:
        print(json.dumps(results))
        return 0
    for r in results:
        ranked = ", ".join(f"{c} {prob:.3f}" for c, prob in r["top"])
        print(f"{r['image']}: {ranked}")
    return 0


# --------------------------------------------------------------------------- summary


def cmd_summary(args) -> int:
    default = DEFAULT_INPUT[args.model]
    shape = tuple(args.input_shape) if args.input_shape else default
    if len(shape) != 3 or min(shape) < 1:
        raise CLIError(f"--input-shape must be three positive numbers C H W, got {shape}")
    model, _ = _build(args.model, shape[0], args.num_classes, shape[1:])
    tc.summary(model, shape)  # prints the table
    return 0


# --------------------------------------------------------------------------- gradcheck


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


# --------------------------------------------------------------------------- info


def _blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415 - optional
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            return "; ".join(f"{p.get('internal_api')} {p.get('version')} "
                             f"({p.get('num_threads')} threads)" for p in pools)
    import numpy  # noqa: PLC0415 - only to read its build configuration

    try:
        config = numpy.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict mode
        return "unknown (install threadpoolctl to see it)"


def _package_version(name: str) -> str:
    from importlib import metadata  # noqa: PLC0415

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def cmd_info(args) -> int:
    import numpy  # noqa: PLC0415 - versions only

    reason = tc.backend.gpu_unavailable_reason()
    info = {
        "tinygrad_cnn": tc.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "blas": _blas_info(),
        "devices": tc.available_devices(),
        "default_device": tc.get_default_device(),
        "gpu": "available" if reason is None else f"unavailable: {reason}",
        "optional packages": {n: _package_version(n) for n in (
            "cupy-cuda12x", "cupy-cuda13x", "scikit-learn", "pillow", "matplotlib", "tqdm",
            "scikit-image", "hypothesis")},
    }
    if reason is None:
        cupy = tc.backend.require_gpu()
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        info["gpu_device"] = f"{name}, {props['totalGlobalMem'] / 2**30:.1f} GiB"
        info["cupy"] = cupy.__version__
    if args.json:
        print(json.dumps(info))
        return 0
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(value)
        print(f"{key + ':':<18} {value}")
    return 0


# --------------------------------------------------------------------------- parser

_TRAIN_EXAMPLES = f"""examples:
  {PROG} train                                   # digits, digits_cnn, Adam, 5 epochs, CPU
  {PROG} train --epochs 10 --save digits.ckpt --plot curves.png
  {PROG} train --dataset mnist ~/data/mnist --model lenet5 --device gpu
  {PROG} train --dataset folder ~/data/cats_vs_dogs --image-size 64 --model article_cnn
  {PROG} train --resume digits.ckpt --epochs 10  # continue a saved run up to epoch 10
  {PROG} train --json > run.json
"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Train, check and inspect small CNNs with "
                     "tinygrad_cnn.", formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog=f"examples:\n  {PROG} train\n  {PROG} info\n  {PROG} gradcheck "
                     f"--device gpu\n  {PROG} COMMAND --help")
    parser.add_argument("--version", action="version", version=f"%(prog)s {tc.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
    p.add_argument("--image-size", type=_parse_size, metavar="H[xW]",
                   help="resize images (folders default to 64)")
    p.add_argument("--save", metavar="PATH", help="write a checkpoint after every epoch")
    p.add_argument("--resume", metavar="PATH", help="continue from a --save checkpoint")
    p.add_argument("--plot", metavar="PATH", help="write loss/accuracy curves as a PNG")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_train)

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

    p = sub.add_parser("predict", help="classify image files with a saved checkpoint",
                       formatter_class=raw, epilog=f"examples:\n  {PROG} predict --checkpoint "
                       f"pets.ckpt cat.jpg dog.png\n  {PROG} predict --checkpoint digits.ckpt "
                       "--invert --top 3 my_digit.png   # dark ink on white paper")
    p.add_argument("--checkpoint", required=True, metavar="PATH")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top", type=int, default=3, help="classes to show (default: 3)")
    p.add_argument("--invert", action="store_true",
                   help="invert grey levels (digits/MNIST are light ink on black)")
    p.add_argument("--device", default=None, help="cpu or gpu")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("summary", help="layer table of a zoo model",
                       formatter_class=raw, epilog=f"examples:\n  {PROG} summary --model "
                       f"lenet5\n  {PROG} summary --model article_cnn --input-shape 3 300 300 "
                       "--num-classes 2")
    p.add_argument("--model", choices=list(models.MODELS), default="digits_cnn")
    p.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"))
    p.add_argument("--num-classes", type=int, default=10)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("gradcheck", help="gradient-check the CNN ops (quick install check)",
                       formatter_class=raw, epilog=f"examples:\n  {PROG} gradcheck\n  {PROG} "
                       "gradcheck --device gpu   # verifies a CuPy/CUDA install")
    p.add_argument("--device", default=None, help="cpu or gpu")
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("info", help="version, devices (and why not), BLAS",
                       formatter_class=raw, epilog=f"examples:\n  {PROG} info\n  {PROG} info "
                       "--json")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_info)
    return parser


def _one_line(e: BaseException) -> str:
    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return " ".join(str(text).split()) or type(e).__name__


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep the interpreter's flush quiet
        return 0
    except Exception as e:  # one line for the user; TINYGRAD_CNN_DEBUG=1 shows the traceback
        if os.environ.get("TINYGRAD_CNN_DEBUG"):
            raise
        print(f"{PROG} {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 1
