"""LeNet-5 on scikit-learn's 8x8 digits, upsampled to 28x28 with a transform: the data
pipeline, a layer table, fit with callbacks, a test score and a few predictions.

    python examples/02_lenet_digits.py [--epochs 5] [--out DIR]

Needs scikit-learn (and matplotlib for the curves).
"""

import argparse
import os

import tinygrad_cnn as tc
from tinygrad_cnn import nn
from tinygrad_cnn.data import TransformedDataset, load_digits, train_val_split
from tinygrad_cnn.data.transforms import Compose, Normalize, Resize
from tinygrad_cnn.train import EarlyStopping, ModelCheckpoint, evaluate, fit, predict


def main(epochs, out_dir, seed=0):
    os.makedirs(out_dir, exist_ok=True)
    tc.manual_seed(seed)
    digits = load_digits()                                        # (1797, 1, 8, 8) in [0, 1]
    train, test = train_val_split(digits, 0.2, seed=seed)         # stratified, shuffled
    train, val = train_val_split(train, 0.1, seed=seed)
    stats = Normalize.from_data(train)                            # from the training split only
    prep = Compose([Resize(28), stats])                           # (…, 1, 8, 8) -> (…, 1, 28, 28)
    train, val, test = (TransformedDataset(d, prep) for d in (train, val, test))
    print(f"{len(train)} train / {len(val)} validation / {len(test)} test images; "
          f"normalised with mean {stats.mean[0]:.3f}, std {stats.std[0]:.3f}")

    model = tc.models.lenet5(in_channels=1, num_classes=10, input_size=28)
    tc.summary(model, (1, 28, 28))
    optimizer = tc.optim.Adam(model.parameters(), lr=2e-3)
    checkpoint = os.path.join(out_dir, "lenet5_digits.ckpt")
    history = fit(model, optimizer, nn.CrossEntropyLoss(), train, epochs=epochs, batch_size=32,
                  val_data=val, seed=seed, verbose=2,
                  callbacks=[EarlyStopping(patience=2, restore_best_weights=True),
                             ModelCheckpoint(checkpoint, save_best_only=True)])
    result = evaluate(model, test, loss_fn=nn.CrossEntropyLoss())
    print(f"test loss {result['loss']:.4f}, test accuracy {result['accuracy']:.3f}")
    images, labels = test.__getitems__(range(8))                  # (8, 1, 28, 28), (8,)
    probs = tc.softmax(predict(model, images), dim=1)
    print(f"first 8 test digits: predicted {probs.argmax(dim=1).tolist()}, "
          f"true {labels.tolist()}")
    try:
        print(f"curves: {history.plot(os.path.join(out_dir, 'lenet5_digits.png'))}")
    except ImportError as e:
        print(f"(no plot: {e})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default="lenet_digits_output")
    args = parser.parse_args()
    main(args.epochs, args.out)
