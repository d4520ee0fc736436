"""What the subcommands share: constants, the user-error type, data and checkpoint helpers."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys

import tinygrad_cnn as tc
from tinygrad_cnn import models
from tinygrad_cnn.data import (
    ImageFolder,
    TransformedDataset,
    load_digits,
    load_fashion_mnist,
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
                 "simple_cnn": (3, 32, 32),
                 # torchvision's ImageNet models
                 "resnet18": (3, 224, 224), "resnet34": (3, 224, 224), "vgg11_bn": (3, 224, 224),
                 "mobilenet_v2": (3, 224, 224), "squeezenet1_0": (3, 224, 224),
                 "squeezenet1_1": (3, 224, 224)}
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
DEFAULT_LR = {"adam": 3e-3, "adamw": 3e-3, "sgd": 0.05, "rmsprop": 1e-3}


class CLIError(Exception):
    """A user error: printed as one line, exit status 1."""


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


MAX_IMAGE_SIDE = 4096  # --image-size beyond this is a typo, not a dataset: refuse before allocating


def parse_size(text: str) -> tuple[int, int]:
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
    if max(size) > MAX_IMAGE_SIDE:
        raise argparse.ArgumentTypeError(f"image size {text!r} is too large: at most "
                                         f"{MAX_IMAGE_SIDE} pixels a side")
    return size


def _number_type(name: str, convert, ok, rule: str):
    """An argparse ``type`` that states the rule (argparse names the flag) when it is broken."""

    def parse(text: str):
        try:
            value = convert(text)
        except (ValueError, OverflowError):
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    parse.__name__ = name
    return parse


positive_int = _number_type("positive_int", int, lambda v: v >= 1, "a positive integer")
non_negative_int = _number_type("non_negative_int", int, lambda v: v >= 0,
                                "a non-negative integer")
positive_float = _number_type("positive_float", float, lambda v: math.isfinite(v) and v > 0,
                              "a positive finite number")
# 0 (none) or a fraction strictly between 0 and 1
fraction = _number_type("fraction", float, lambda v: 0 <= v < 1, "0 (none) or between 0 and 1")


def dataset_spec(values) -> tuple[str, str | None]:
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


def load_data(name, path, image_size, seed, test_split, cache=None, progress=False):
    """(train, test, classes, in_channels, (H, W)) with images as float32 in [0, 1].

    ``test_split`` 0 means no test split (``test`` is None) unless the data ships test files.
    Folders are read lazily (decoded in the DataLoader's workers) or from a decoded ``cache``.
    """
    if not 0 <= test_split < 1:
        raise CLIError(f"--test-split must be 0 (no test split) or between 0 and 1, "
                       f"got {test_split}")
    test = None
    if name == "digits":
        full = train = load_digits()
        if test_split:
            train, test = train_val_split(full, test_split, seed=seed)
        native = (8, 8)
    elif name in ("mnist", "fashion-mnist"):
        loader = load_mnist if name == "mnist" else load_fashion_mnist
        full = train = loader(path, train=True)
        try:
            test = loader(path, train=False)
        except FileNotFoundError:  # only the training files: hold out a test split from them
            if test_split:
                train, test = train_val_split(full, test_split, seed=seed)
        native = tuple(full.tensors[0].shape[-2:])
    else:
        report_skipped_images()
        try:
            full = ImageFolder(path, image_size=image_size or (64, 64), on_error="skip",
                               cache=cache, progress=progress)
        except (FileNotFoundError, NotADirectoryError, ValueError) as e:
            raise CLIError(str(e)) from None
        if len(full.classes) < 2:
            raise CLIError(f"{path}: found only the class folder {full.classes[0]}/; "
                           "classification needs at least two class sub-folders")
        if len(full) < 4:
            raise CLIError(f"{path}: only {len(full)} readable images; need at least 4")
        train = full
        if test_split:
            train, test = train_val_split(full, test_split, seed=seed)
        native = full.image_size
    size = tuple(image_size) if image_size else native
    if size != native:
        train = TransformedDataset(train, Resize(size))
        test = None if test is None else TransformedDataset(test, Resize(size))
    in_channels = int(full[0][0].shape[0])
    return train, test, list(full.classes), in_channels, size


class _StderrWarnings(logging.Handler):
    """Prints the data loader's warnings (e.g. a skipped image) as one stderr line each."""

    def emit(self, record):
        print(f"{PROG}: warning: {record.getMessage()}", file=sys.stderr)


def report_skipped_images() -> None:
    """Show the ``tinygrad_cnn.data`` warnings on stderr (with this handler in place, Python's
    last-resort handler stays silent, so each is printed once)."""
    log = logging.getLogger("tinygrad_cnn.data")
    if not any(isinstance(h, _StderrWarnings) for h in log.handlers):
        log.addHandler(_StderrWarnings(logging.WARNING))


def check_output_path(path, flag: str) -> None:
    """Fail before training when ``path`` (for ``flag``) cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CLIError(f"{flag} {path}: is a folder; give a file name")
    if not os.path.isdir(folder):
        raise CLIError(f"{flag} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CLIError(f"{flag} {path}: the folder {folder} is not writable")


def check_plot_path(path) -> None:
    """--plot: a writable path with an image format matplotlib can write."""
    check_output_path(path, "--plot")
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    try:
        import matplotlib  # noqa: PLC0415 - optional (the main extra)

        matplotlib.use("Agg")
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    except ImportError as e:
        raise CLIError(f"--plot needs matplotlib ({e}); pip install matplotlib") from None
    formats = sorted(FigureCanvasAgg.get_supported_filetypes())
    if ext not in formats:
        raise CLIError(f"--plot {path}: unsupported format {ext!r}; use one of "
                       f"{', '.join('.' + f for f in formats)}")


def normalized(dataset, mean, std):
    """``dataset`` with its images normalized per channel: (x - mean) / std."""
    return TransformedDataset(dataset, Normalize(mean, std))


def build(name, in_channels, num_classes, image_size):
    """(model, constructor kwargs) of zoo model ``name`` for (in_channels, *image_size) images."""
    kwargs = models.model_kwargs(name, in_channels, num_classes, image_size)
    return models.build_model(name, **kwargs), kwargs


def make_optimizer(name, params, lr):
    """The optimizer ``name`` (one of OPTIMIZERS) over ``params``; sgd uses momentum 0.9."""
    if name == "adam":
        return tc.optim.Adam(params, lr=lr)
    if name == "adamw":
        return tc.optim.AdamW(params, lr=lr)
    if name == "sgd":
        return tc.optim.SGD(params, lr=lr, momentum=0.9)
    return tc.optim.RMSprop(params, lr=lr)


# what `train --save` writes and the other commands read, with what each entry is
CHECKPOINT_ENTRIES = {"model_name": "the model's name", "model_kwargs": "its arguments",
                      "model": "the weights", "classes": "the class names",
                      "mean": "the normalisation mean", "std": "the normalisation std",
                      "in_channels": "the image channels", "image_size": "the image size",
                      "dataset": "the data it was trained on"}
RESUME_ENTRIES = {"epoch": "the epoch reached", "optimizer": "the optimizer state"}


def read_checkpoint(path, resume: bool = False):
    """The checkpoint at ``path``, checked to hold every entry of CHECKPOINT_ENTRIES (and of
    RESUME_ENTRIES for ``resume``)."""
    if not os.path.isfile(path):
        raise CLIError(f"checkpoint not found: {path}")
    ckpt = tc.load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CLIError(f"{path} is not a checkpoint written by `{PROG} train --save`")
    needed = {**CHECKPOINT_ENTRIES, **(RESUME_ENTRIES if resume else {})}
    missing = [f"{key!r} ({what})" for key, what in needed.items() if key not in ckpt]
    if missing:
        raise CLIError(f"{path} is an incomplete `{PROG} train --save` checkpoint: it has no "
                       f"{', '.join(missing)}")
    dataset = ckpt["dataset"]
    keys = ("name", "path", "seed", "test_split")
    lacking = [k for k in keys if k not in dataset] if isinstance(dataset, dict) else keys
    if lacking:
        raise CLIError(f"{path}: its 'dataset' entry has no {', '.join(map(repr, lacking))}")
    return ckpt


def model_from_checkpoint(ckpt, device):
    """The checkpoint's model, rebuilt from its name and kwargs, with its weights, on
    ``device``."""
    model = models.build_model(ckpt["model_name"], **ckpt["model_kwargs"])
    model.load_state_dict(ckpt["model"])
    return model.to(device)
