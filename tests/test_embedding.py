"""F.embedding and nn.Embedding (PyTorch's): rows of the weight at integer indices, the
gradient summed into the rows used (none into ``padding_idx``), against NumPy and PyTorch."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import nn


def _reference_grad(index, grad_out, num, padding_idx=None):
    """The weight's gradient by a loop: each output row's gradient added to its index's row."""
    g = np.zeros((num, grad_out.shape[-1]))
    for i, row in zip(index.reshape(-1), grad_out.reshape(-1, grad_out.shape[-1]), strict=True):
        if i != padding_idx:
            g[i] += row
    return g


@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=3), seed=st.integers(0, 2**16),
       padding=st.sampled_from([None, 0, 3, -1]))
def test_rows_and_gradient_match_a_loop(shape, seed, padding):
    rng = np.random.default_rng(seed)
    num, dim = 5, 3
    index = rng.integers(0, num, size=shape)
    weight = tc.tensor(rng.standard_normal((num, dim)), requires_grad=True)
    out = F.embedding(tc.tensor(index), weight, padding_idx=padding)
    assert out.shape == (*shape, dim)
    np.testing.assert_array_equal(out.numpy(), weight.numpy()[index])
    grad_out = rng.standard_normal(out.shape)
    out.backward(tc.tensor(grad_out))
    padding_row = None if padding is None else padding % num
    np.testing.assert_allclose(weight.grad.numpy(),
                               _reference_grad(index, grad_out, num, padding_row), atol=1e-12)


@pytest.mark.parametrize("padding", [None, 2])
def test_gradcheck_and_gradgradcheck(padding):
    index = tc.tensor([[0, 2, 2], [1, 0, 4]])
    weight = tc.tensor(np.random.default_rng(0).standard_normal((5, 3)), requires_grad=True)
    if padding is None:  # the padding row's output moves with it but gets no gradient, on purpose
        assert tc.gradcheck(lambda w: F.embedding(index, w), (weight,))
    assert tc.gradgradcheck(lambda w: F.embedding(index, w, padding_idx=padding) ** 2, (weight,))


def test_module_matches_pytorch(device):
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")
    tc.manual_seed(0)
    ours = nn.Embedding(7, 4, padding_idx=1).to(device)
    assert ours.weight.shape == (7, 4) and not ours.weight.numpy()[1].any()  # the padding row
    theirs = torch.nn.Embedding(7, 4, padding_idx=1, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.numpy().astype(np.float64)))
    index = np.array([[1, 3, 6], [0, 1, 3]])
    out = ours(tc.tensor(index, device=device))
    ref = theirs(torch.tensor(index))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-6)
    g = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(tc.tensor(g, dtype=tc.float32, device=device))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-6)
    assert repr(ours) == "Embedding(7, 4, padding_idx=1)"


def test_from_pretrained_freezes_by_default(device):
    rows = tc.tensor(np.arange(6.0).reshape(3, 2), device=device)
    frozen = nn.Embedding.from_pretrained(rows)
    assert not frozen.weight.requires_grad and frozen.weight.device == device
    np.testing.assert_array_equal(frozen(tc.tensor([2, 0], device=device)).numpy(),
                                  [[4.0, 5.0], [0.0, 1.0]])
    trained = nn.Embedding.from_pretrained(rows, freeze=False, padding_idx=0)
    assert trained.weight.requires_grad and trained.padding_idx == 0
    assert list(trained.state_dict()) == ["weight"]


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda w: F.embedding(tc.tensor([0.0, 1.0]), w), TypeError,
     "embedding: indices must be an integer tensor, got float32"),
    (lambda w: F.embedding(tc.tensor([0, 5]), w), IndexError,
     "embedding: index 5 is out of bounds for dim 0 with size 5"),
    (lambda w: F.embedding(tc.tensor([-1]), w), IndexError,
     "embedding: index -1 is out of bounds"),
    (lambda w: F.embedding(tc.tensor([0]), w[0]), ValueError,
     r"embedding: weight must be 2-D \(num_embeddings, embedding_dim\), got shape \(3,\)"),
    (lambda w: F.embedding(tc.tensor([0]), w, padding_idx=5), ValueError,
     "embedding: padding_idx must be within num_embeddings 5, got 5"),
    (lambda w: nn.Embedding(0, 3), ValueError, "Embedding: num_embeddings must be positive, got 0"),
    (lambda w: nn.Embedding(4, 3, max_norm=1.0), NotImplementedError,
     "Embedding: max_norm=1.0 is not supported"),
    (lambda w: nn.Embedding.from_pretrained(w[0]), ValueError,
     r"from_pretrained: embeddings must be 2-D, got shape \(3,\)"),
])
def test_bad_input_is_named(call, error, message):
    with pytest.raises(error, match=message):
        call(tc.ones(5, 3))
