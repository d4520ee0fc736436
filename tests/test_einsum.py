"""tc.einsum: values against NumPy's einsum (and PyTorch's), gradients by gradcheck and
gradgradcheck, on generated equations (contractions, batch letters, sums, diagonals, ellipses,
size-1 broadcasting), and errors that name the equation."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc

SIZES = {"i": 2, "j": 3, "k": 4, "b": 2, "c": 3}

# (equation, operand shapes): the everyday ones, written out
CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),                       # implicit output: "ik"
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("i,i->", [(3,), (3,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),                                  # trace
    ("iij->j", [(2, 2, 3)]),
    ("...ij->...ji", [(2, 3, 2, 4)]),
    ("...ij,...jk->...ik", [(2, 2, 3), (3, 4)]),       # ellipses of different lengths
    ("...ij,...jk->...ik", [(2, 3, 2, 3), (3, 3, 4)]),  # ... aligned on the right
    ("bchw,oc->bohw", [(2, 3, 2, 2), (4, 3)]),         # a 1x1 convolution
    ("ij,ij->ij", [(2, 1), (2, 3)]),                   # a size-1 dim broadcast
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    (" i j , j k -> i k ", [(2, 3), (3, 4)]),          # spaces are ignored
]


def _operands(shapes, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize(("equation", "shapes"), CASES, ids=[c[0].strip() for c in CASES])
def test_matches_numpy_and_differentiates_twice(equation, shapes, device):
    arrays = _operands(shapes)
    ours = tc.einsum(equation, *(tc.tensor(a, device=device) for a in arrays))
    expected = np.einsum(equation, *arrays)
    assert ours.device == device and ours.shape == expected.shape
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12, atol=1e-12)
    leaves = [tc.tensor(a, requires_grad=True, device=device) for a in arrays]
    assert tc.gradcheck(lambda *xs: tc.einsum(equation, *xs), leaves)
    assert tc.gradgradcheck(lambda *xs: tc.einsum(equation, *xs), leaves)


@pytest.mark.parametrize(("equation", "shapes"), CASES, ids=[c[0].strip() for c in CASES])
def test_matches_pytorch(equation, shapes):
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")
    arrays = _operands(shapes, seed=1)
    leaves = [tc.tensor(a, requires_grad=True) for a in arrays]
    theirs_leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours, theirs = tc.einsum(equation, *leaves), torch.einsum(equation, *theirs_leaves)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    weights = np.random.default_rng(2).standard_normal(ours.shape)
    (ours * tc.tensor(weights)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    for o, t in zip(leaves, theirs_leaves, strict=True):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


@st.composite
def equations(draw):
    """One or two operands over letters i, j, k, b, c (each at most once per operand) and an
    output of some of their letters: contractions, outer products, sums, permutations."""
    letters = list(SIZES)
    n = draw(st.integers(1, 2))
    inputs = [draw(st.lists(st.sampled_from(letters), min_size=1, max_size=3, unique=True))
              for _ in range(n)]
    seen = sorted(set().union(*inputs))
    output = draw(st.permutations(seen).flatmap(
        lambda p: st.integers(0, len(p)).map(lambda m: p[:m])))
    equation = ",".join("".join(s) for s in inputs) + "->" + "".join(output)
    return equation, [tuple(SIZES[c] for c in s) for s in inputs]


@given(case=equations(), seed=st.integers(0, 2**16))
def test_generated_equations_match_numpy_and_gradcheck(case, seed):
    equation, shapes = case
    arrays = _operands(shapes, seed)
    leaves = [tc.tensor(a, requires_grad=True) for a in arrays]
    np.testing.assert_allclose(tc.einsum(equation, *leaves).numpy(),
                               np.einsum(equation, *arrays), rtol=1e-12, atol=1e-12)
    assert tc.gradcheck(lambda *xs: tc.einsum(equation, *xs), leaves)


def test_operands_as_one_list_and_float32_stays_float32():
    a, b = (tc.tensor(x) for x in _operands([(2, 3), (3, 4)], dtype=np.float32))
    out = tc.einsum("ij,jk->ik", [a, b])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), a.numpy() @ b.numpy(), rtol=1e-5)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda a, b: tc.einsum("ij,jk->ik", a), ValueError, "2 operand subscripts for 1 operands"),
    (lambda a, b: tc.einsum("ij,jk->ik", a, a), ValueError,
     r"subscript 'j' has size 2 in operand 1 \(shape \(2, 3\)\) but 3 elsewhere"),
    (lambda a, b: tc.einsum("ijk->i", a), ValueError,
     r"subscripts 'ijk' do not fit an operand of shape \(2, 3\)"),
    (lambda a, b: tc.einsum("ij->iz", a), ValueError, "output subscripts 'iz' must name letters"),
    (lambda a, b: tc.einsum("ij->ii", a), ValueError, "output subscripts 'ii' must name letters"),
    (lambda a, b: tc.einsum("i1->i", a), ValueError, "subscripts must be letters"),
    (lambda a, b: tc.einsum("ii->i", a), ValueError, "repeated in one operand names dims of "
                                                     "sizes 2 and 3"),
    (lambda a, b: tc.einsum("ij,jk->ik", a, b.double()), TypeError, "operands of one dtype"),
    (lambda a, b: tc.einsum("ij", a.numpy()), TypeError, "operand 0 must be a Tensor"),
    (lambda a, b: tc.einsum(3, a), TypeError, "equation must be a string"),
    (lambda a, b: tc.einsum("ij"), ValueError, "expected at least one operand"),
])
def test_bad_equations_are_named(call, error, message):
    a, b = tc.ones(2, 3), tc.ones(3, 4)
    with pytest.raises(error, match=message):
        call(a, b)
