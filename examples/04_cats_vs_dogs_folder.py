"""The article's cats-vs-dogs workflow with ImageFolder: one sub-folder per class, images
decoded with Pillow, resized, labelled by folder name; the article's one-conv CNN; a stratified
validation split (not Keras' unshuffled last 30%).

    python examples/04_cats_vs_dogs_folder.py [FOLDER] [--image-size 32] [--epochs 5]

FOLDER holds e.g. cat/*.jpg and dog/*.jpg. Without it a toy folder of generated images (two
classes of coloured shapes) is written to a temporary directory. Needs Pillow.
"""

import argparse
import os
import tempfile

import numpy as np
from PIL import Image

import tinygrad_cnn as tc
from tinygrad_cnn import nn
from tinygrad_cnn.data import ImageFolder, TransformedDataset, train_val_split
from tinygrad_cnn.data.transforms import Compose, Normalize, RandomHorizontalFlip
from tinygrad_cnn.train import evaluate, fit


def make_toy_folder(root, per_class=40, size=48, seed=0):
    """'cat' images: a warm disc; 'dog' images: a cool square; on noisy backgrounds."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for label in ("cat", "dog"):
        os.makedirs(os.path.join(root, label), exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 90, size=(size, size, 3))
            cy, cx, r = rng.integers(size // 4, 3 * size // 4, 2).tolist() + [size // 5]
            if label == "cat":
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
                img[mask] += np.array([150, 80, 20])
            else:
                mask = (abs(yy - cy) < r) & (abs(xx - cx) < r)
                img[mask] += np.array([20, 80, 150])
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
                os.path.join(root, label, f"{label}{i:03d}.png"))
    return root


def main(folder, image_size, epochs, cache, seed=0):
    tc.manual_seed(seed)
    # decoded once, in parallel, into the cache; unreadable files are found (and skipped) there
    dataset = ImageFolder(folder, image_size=(image_size, image_size), on_error="skip",
                          cache=cache)
    print(f"{len(dataset)} images in classes {dataset.classes} "
          f"(labels {dataset.class_to_idx}); skipped {len(dataset.skipped)} unreadable files")
    train, val = train_val_split(dataset, 0.3, seed=seed)  # stratified and shuffled
    stats = Normalize.from_data(train)
    train = TransformedDataset(train, Compose([RandomHorizontalFlip(0.5), stats]))
    val = TransformedDataset(val, stats)

    model = tc.models.article_cnn(input_shape=(3, image_size, image_size),
                                  num_classes=len(dataset.classes), filters=16)
    table = tc.summary(model, (3, image_size, image_size), print_fn=None)
    print(f"article_cnn: {table.total_params:,} parameters (the conv layer has "
          f"{table[0].params:,}; the rest is the dense layer, which grows with the image size)")
    history = fit(model, tc.optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss(),
                  train, epochs=epochs, batch_size=16, val_data=val, seed=seed, verbose=2)
    result = evaluate(model, val)
    print(f"validation accuracy after {len(history)} epochs: {result['accuracy']:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="root with one sub-folder per class")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--cache", help="folder for the decoded images (default: a temporary "
                        "one); reused while the files and --image-size are unchanged")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or make_toy_folder(os.path.join(tmp, "toy_pets"))
        if not args.folder:
            print(f"no folder given: generated a toy cats-vs-dogs folder at {folder}")
        main(folder, args.image_size, args.epochs, args.cache or os.path.join(tmp, "cache"))
