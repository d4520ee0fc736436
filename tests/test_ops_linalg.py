"""matmul: NumPy's rules (1-D promotion, broadcast batch dims), gradients in float64."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tests import core_references as ref
from tinygrad_cnn.testing import strategies as tst


@st.composite
def matmul_shapes(draw):
    """Shapes (a, b) that NumPy can multiply: 1-D or 2-D operands, batch dims that broadcast."""
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    batch_a, batch_b = draw(tst.broadcastable_shapes(min_dims=0, max_dims=2, max_side=2))
    a = (k,) if draw(st.booleans()) and not batch_a else batch_a + (n, k)
    b = (k,) if draw(st.booleans()) and not batch_b else batch_b + (k, m)
    return a, b


@given(shapes=matmul_shapes(), data=st.data())
def test_matmul_forward_and_gradients(shapes, data):
    a = data.draw(tst.float_arrays(shapes[0]))
    b = data.draw(tst.float_arrays(shapes[1]))
    out = tc.Tensor(a) @ tc.Tensor(b)
    expected = np.matmul(a, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tc.matmul(a, tc.Tensor(b)).numpy(), expected, rtol=1e-12)
    ref.check_grads(lambda x, y: x @ y, (a, b), twice=a.size + b.size <= 24)


def test_matmul_on_device(device):
    a = tc.randn(2, 3, 4, dtype=tc.float64, device=device, requires_grad=True)
    b = tc.randn(4, 5, dtype=tc.float64, device=device, requires_grad=True)
    (a @ b).sum().backward()
    assert a.grad.shape == (2, 3, 4) and b.grad.shape == (4, 5)
    np.testing.assert_allclose(b.grad.numpy(), a.numpy().sum(axis=(0, 1))[:, None].repeat(5, 1))
    assert tc.gradcheck(lambda x, y: (x @ y).tanh(), (a, b))
