"""The same digits training on the GPU (CuPy), falling back to the CPU with a clear message
when no GPU is usable.

    python examples/05_gpu.py [--device gpu] [--epochs 5]

Install CuPy first: pip install "tinygrad_cnn[gpu]" (CUDA 12) or pip install cupy-cuda13x.
"""

import argparse
import time

import tinygrad_cnn as tc
from tinygrad_cnn import nn
from tinygrad_cnn.data import TransformedDataset, load_digits, train_val_split
from tinygrad_cnn.data.transforms import Normalize
from tinygrad_cnn.train import evaluate, fit


def pick_device(requested):
    if tc.backend.normalize_device(requested) == "gpu" and not tc.gpu_available():
        print(f"no GPU: {tc.backend.gpu_unavailable_reason()}")
        print("falling back to the CPU")
        return "cpu"
    return tc.backend.normalize_device(requested)


def main(device, epochs, seed=0):
    device = pick_device(device)
    tc.manual_seed(seed)
    train, test = train_val_split(load_digits(), 0.2, seed=seed)
    stats = Normalize.from_data(train)
    train, test = TransformedDataset(train, stats), TransformedDataset(test, stats)
    model = tc.models.digits_cnn().to(device)  # parameters now live on the device
    optimizer = tc.optim.Adam(model.parameters(), lr=3e-3)
    start = time.perf_counter()
    fit(model, optimizer, nn.CrossEntropyLoss(), train, epochs=epochs, device=device, seed=seed,
        verbose=2)  # the DataLoader copies each batch to the device once
    seconds = time.perf_counter() - start
    result = evaluate(model, test, device=device)
    print(f"device {device}: {epochs} epochs in {seconds:.1f}s, "
          f"test accuracy {result['accuracy']:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="gpu")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    main(args.device, args.epochs)
