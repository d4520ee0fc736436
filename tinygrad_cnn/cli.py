"""The ``tinygrad-cnn`` command (placeholder until the training CLI lands: a tiny demo)."""

from __future__ import annotations

import argparse

import tinygrad_cnn as tc


def _demo(epochs: int = 30) -> None:
    """Fit a two-layer network to a toy problem and print the loss going down."""
    tc.manual_seed(0)
    x = tc.randn(256, 2)
    y = (x[:, :1] * x[:, 1:] > 0).float()  # XOR-like quadrants
    w1 = (tc.randn(2, 16) * 0.5).requires_grad_()
    b1 = tc.zeros(16, requires_grad=True)
    w2 = (tc.randn(16, 1) * 0.5).requires_grad_()
    b2 = tc.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]
    for epoch in range(epochs):
        logits = (x @ w1 + b1).tanh() @ w2 + b2
        p = logits.sigmoid()
        loss = -(y * (p + 1e-7).log() + (1 - y) * (1 - p + 1e-7).log()).mean()
        for t in params:
            t.grad = None
        loss.backward()
        with tc.no_grad():
            for t in params:
                t.data -= 1.0 * t.grad.data
        if epoch % 5 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch:3d}  loss {loss.item():.4f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tinygrad-cnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("train", help="train a model (for now: a tiny demo)")
    args = parser.parse_args(argv)
    if args.command == "train":
        _demo()
    return 0
