"""Write your own op with tc.Function (Swish, x * sigmoid(x)), check it with gradcheck and
gradgradcheck, test it with Hypothesis on generated inputs, and see what gradcheck reports for
a deliberately wrong backward.

    python examples/03_custom_op_gradcheck.py

Needs Hypothesis for the property test (pip install hypothesis); the rest runs without it.
"""

import numpy as np

import tinygrad_cnn as tc


class Swish(tc.Function):
    """y = x * sigmoid(x);  dy/dx = s + x * s * (1 - s) with s = sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)  # an input array: saved_tensors gives back the input Tensor
        return x / (1 + ctx.xp.exp(-x))

    @staticmethod
    def backward(ctx, grad_y):
        (x,) = ctx.saved_tensors
        s = x.sigmoid()  # Tensor ops, so the backward is itself differentiable
        return grad_y * (s + x * s * (1 - s))


class WrongSwish(Swish):
    """The same forward with a classic mistake: the x * s * (1 - s) term is forgotten."""

    @staticmethod
    def backward(ctx, grad_y):
        (x,) = ctx.saved_tensors
        return grad_y * x.sigmoid()


def main():
    x = tc.tensor(np.random.default_rng(0).normal(size=(3, 4)), requires_grad=True)  # float64
    y = Swish.apply(x)
    print(f"swish(x)[0] = {np.round(y.numpy()[0], 4)}")
    print(f"gradcheck(Swish):     {tc.gradcheck(Swish.apply, (x,))}")
    print(f"gradgradcheck(Swish): {tc.gradgradcheck(Swish.apply, (x,))}")

    try:
        from hypothesis import given, settings

        from tinygrad_cnn.testing import strategies
    except ImportError:
        print("Hypothesis is not installed: property test skipped (pip install hypothesis)")
    else:
        checked = []

        @settings(max_examples=20, deadline=None, derandomize=True)
        @given(strategies.float_arrays(strategies.array_shapes(max_dims=3)))
        def swish_gradients_hold(a):
            t = tc.tensor(a, requires_grad=True)
            assert tc.gradcheck(Swish.apply, (t,))
            np.testing.assert_allclose(Swish.apply(t).numpy(), a / (1 + np.exp(-a)), rtol=1e-12)
            checked.append(a.shape)

        swish_gradients_hold()
        print(f"Hypothesis: forward and gradcheck hold on {len(checked)} generated arrays, "
              f"shapes such as {checked[:3]}")

    print("\na deliberately wrong backward; gradcheck's report:")
    try:
        tc.gradcheck(WrongSwish.apply, (x,))
    except tc.GradcheckError as e:
        print(e)
    else:
        raise SystemExit("gradcheck missed the wrong backward")


if __name__ == "__main__":
    main()
