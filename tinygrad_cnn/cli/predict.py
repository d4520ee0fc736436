"""`tinygrad-cnn predict`: classify image files with a saved checkpoint."""

from __future__ import annotations

import argparse
import json

import tinygrad_cnn as tc
from tinygrad_cnn.data import load_image
from tinygrad_cnn.data.transforms import Normalize

from .common import PROG, model_from_checkpoint, read_checkpoint


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
    """Print the ``--top`` classes and their probabilities for each image file; returns 0."""
    ckpt = read_checkpoint(args.checkpoint)
    device = tc.backend.normalize_device(args.device)
    model = model_from_checkpoint(ckpt, device)
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


def add_parser(sub) -> None:
    """Register this subcommand on the top-level parser's subparsers."""
    raw = argparse.RawDescriptionHelpFormatter
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
