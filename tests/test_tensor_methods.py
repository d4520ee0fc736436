"""The PyTorch Tensor methods that forward to ops (``t.add(u, alpha=2)``, ``t.view_as(u)``,
``t.new_zeros(3)``, ...): values against NumPy, gradients by gradcheck, and PyTorch's own method
as an extra oracle when it is installed."""

import copy
import pickle

import numpy as np
import pytest

import tinygrad_cnn as tc

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((3, 4)) + 2.0  # away from zero: a divisor
ROW = RNG.standard_normal(4)

# name -> (the call, for lib = tc or torch; NumPy's result; differentiable)
METHODS = {
    "add": (lambda lib, a, b: a.add(b), A + B, True),
    "add alpha": (lambda lib, a, b: a.add(b, alpha=2.5), A + 2.5 * B, True),
    "add number alpha": (lambda lib, a, b: a.add(3.0, alpha=-2), A - 6.0, True),
    "sub": (lambda lib, a, b: a.sub(b), A - B, True),
    "sub alpha": (lambda lib, a, b: a.sub(b, alpha=0.5), A - 0.5 * B, True),
    "mul": (lambda lib, a, b: a.mul(b), A * B, True),
    "mul broadcast": (lambda lib, a, b: a.mul(lib.tensor(ROW, dtype=lib.float64, device=a.device)),
                      A * ROW, True),
    "div": (lambda lib, a, b: a.div(b), A / B, True),
    "true_divide": (lambda lib, a, b: a.true_divide(b), A / B, True),
    "div trunc": (lambda lib, a, b: a.div(b, rounding_mode="trunc"), np.trunc(A / B), False),
    "div floor": (lambda lib, a, b: a.div(b, rounding_mode="floor"), np.floor(A / B), False),
    "neg": (lambda lib, a, b: a.neg(), -A, True),
    "negative": (lambda lib, a, b: a.negative(), -A, True),
    "where": (lambda lib, a, b: a.where(a > 0, b), np.where(A > 0, A, B), True),
    "ne": (lambda lib, a, b: a.ne(b), A != B, False),
    "lt": (lambda lib, a, b: a.lt(b), A < B, False),
    "le": (lambda lib, a, b: a.le(0.0), A <= 0.0, False),
    "gt": (lambda lib, a, b: a.gt(b), A > B, False),
    "ge": (lambda lib, a, b: a.ge(0.5), A >= 0.5, False),
    "logical_and": (lambda lib, a, b: (a > 0).logical_and(b > 2), (A > 0) & (B > 2), False),
    "logical_or": (lambda lib, a, b: (a > 0).logical_or(b > 2), (A > 0) | (B > 2), False),
    "logical_not": (lambda lib, a, b: (a > 0).logical_not(), ~(A > 0), False),
    "view_as": (lambda lib, a, b: a.view_as(lib.zeros(2, 6)), A.reshape(2, 6), True),
    "reshape_as": (lambda lib, a, b: a.reshape_as(lib.zeros(12)), A.reshape(12), True),
    "expand_as": (lambda lib, a, b: a[:1].expand_as(b), np.broadcast_to(A[:1], (3, 4)), True),
    "contiguous of a transpose": (lambda lib, a, b: a.transpose(0, 1).contiguous(), A.T, True),
    "type_as": (lambda lib, a, b: a.type_as(b), A, True),
    "logical_xor": (lambda lib, a, b: (a > 0).logical_xor(b > 2), (A > 0) ^ (B > 2), False),
    "square": (lambda lib, a, b: a.square(), A * A, True),
    "count_nonzero": (lambda lib, a, b: (a > 0).count_nonzero(dim=1),
                      np.count_nonzero(A > 0, axis=1), False),
    "mm": (lambda lib, a, b: a.mm(b.T), A @ B.T, True),
    "bmm": (lambda lib, a, b: a.reshape(3, 2, 2).bmm(b.reshape(3, 2, 2)),
            np.matmul(A.reshape(3, 2, 2), B.reshape(3, 2, 2)), True),
    "dot": (lambda lib, a, b: a[0].dot(b[1]), A[0] @ B[1], True),
    "outer": (lambda lib, a, b: a[0].outer(b[:, 1]), np.outer(A[0], B[:, 1]), True),
    "trace": (lambda lib, a, b: a.trace(), np.trace(A), True),
    "t": (lambda lib, a, b: a.t(), A.T, True),
    "mT": (lambda lib, a, b: a.reshape(2, 3, 2).mT, A.reshape(2, 3, 2).swapaxes(-1, -2), True),
    "narrow": (lambda lib, a, b: a.narrow(1, -3, 2), A[:, 1:3], True),
    "select": (lambda lib, a, b: a.select(1, -1), A[:, -1], True),
    "take": (lambda lib, a, b: a.take(lib.tensor([[0, 5], [11, 5]])),
             A.reshape(-1)[[[0, 5], [11, 5]]], True),
    "masked_select": (lambda lib, a, b: a.masked_select(b > 2.5), A[B > 2.5], True),
    "nonzero": (lambda lib, a, b: (a > 0).nonzero(), np.argwhere(A > 0), False),
}


@pytest.mark.parametrize("name", list(METHODS))
def test_methods_match_numpy(name, device):
    call, expected, _ = METHODS[name]
    a = tc.tensor(A, dtype=tc.float64, device=device)
    b = tc.tensor(B, dtype=tc.float64, device=device)
    out = call(tc, a, b)
    assert out.device == device and out.shape == expected.shape
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", [n for n, (_, _, grad) in METHODS.items() if grad])
def test_methods_gradcheck(name):
    call = METHODS[name][0]
    a = tc.tensor(A, dtype=tc.float64, requires_grad=True)
    b = tc.tensor(B, dtype=tc.float64, requires_grad=True)
    assert tc.gradcheck(lambda u, v: call(tc, u, v), (a, b))
    assert tc.gradgradcheck(lambda u, v: call(tc, u, v), (a, b))


@pytest.mark.parametrize("name", list(METHODS))
def test_methods_match_pytorch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")
    call = METHODS[name][0]
    ours = call(tc, tc.tensor(A, dtype=tc.float64), tc.tensor(B, dtype=tc.float64))
    theirs = call(torch, torch.tensor(A), torch.tensor(B))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-14, atol=1e-14)


def test_integer_division_rounding_is_exact():
    big = np.array([2**40 + 7, -(2**40) - 7, 7, -7, 0], dtype=np.int64)
    den = np.array([3, 3, -2, 2, 5], dtype=np.int64)
    a, b = tc.tensor(big), tc.tensor(den)
    trunc = a.div(b, rounding_mode="trunc")
    floor = a.div(b, rounding_mode="floor")
    assert trunc.dtype == np.int64 and floor.dtype == np.int64
    exact = [abs(x) // abs(y) * (1 if (x >= 0) == (y > 0) else -1)
             for x, y in zip(big.tolist(), den.tolist(), strict=True)]  # Python ints: exact
    np.testing.assert_array_equal(trunc.numpy(), exact)
    np.testing.assert_array_equal(floor.numpy(), big // den)
    assert a.div(b).dtype == np.float32  # true division of integers, as torch


def test_layout_and_size_methods(device):
    x = tc.tensor(A, dtype=tc.float32, device=device)
    assert x.dim() == 2 and x.element_size() == 4 and x.itemsize == 4 and x.nbytes == 48
    assert x.is_contiguous() and not x.transpose(0, 1).is_contiguous()
    assert x.contiguous() is x  # already contiguous: itself, as torch
    assert x.transpose(0, 1).contiguous().is_contiguous()
    assert x.int().dtype == np.int32 and x.bool().dtype == np.bool_
    assert x.half().dtype == np.float16 and x.type_as(tc.zeros(1, dtype=tc.int64)).dtype == np.int64


def test_new_factories_take_dtype_and_device_from_the_tensor(device):
    x = tc.ones(2, dtype=tc.float64, device=device)
    for t, values in ((x.new_zeros(2, 3), np.zeros((2, 3))), (x.new_ones((3,)), np.ones(3)),
                      (x.new_full((2,), 7.5), np.full(2, 7.5)),
                      (x.new_tensor([[1, 2]]), np.array([[1.0, 2.0]]))):
        assert t.dtype == np.float64 and t.device == device and not t.requires_grad
        np.testing.assert_array_equal(t.numpy(), values)
    e = x.new_empty(4, dtype=tc.int32, requires_grad=False)
    assert e.shape == (4,) and e.dtype == np.int32 and e.device == device
    assert x.new_zeros(2, requires_grad=True).requires_grad


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda x: x.div(x, rounding_mode="round"), ValueError,
     "div: rounding_mode must be None, 'trunc' or 'floor', got 'round'"),
    (lambda x: x.view_as(tc.zeros(5)), ValueError,
     r"cannot reshape .* \(3, 4\).* into shape \(5,\)"),
    (lambda x: x.expand_as(tc.zeros(2, 4)), ValueError, "expand"),
    (lambda x: x.view_as(np.zeros(12)), TypeError, "view_as: other must be a Tensor, got ndarray"),
    (lambda x: x.add(x, alpha="2"), TypeError, "add: alpha must be a number, got '2'"),
    (lambda x: x[0].mT, ValueError, r"mT: needs at least 2 dims, got shape \(4,\)"),
    (lambda x: x.mm(x), ValueError, r"mm: .*\(3, 4\).*\(3, 4\)"),
])
def test_method_errors_name_the_problem(call, error, message):
    with pytest.raises(error, match=message):
        call(tc.tensor(A))


def test_size_is_numpys_count_and_pytorchs_method():
    x = tc.zeros(2, 3, 4)
    assert isinstance(x.size, int) and x.size == 24 and x.size * 2 == 48  # NumPy's attribute
    assert x.size() == (2, 3, 4) and x.size(0) == 2 and x.size(-1) == 4   # PyTorch's method
    assert x.view(x.size(0), -1).shape == (2, 12)
    assert tc.tensor(5.0).size() == () and tc.tensor(5.0).size == 1
    with pytest.raises(IndexError, match=r"size: dim 3 is out of range .* \(expected -3..2\)"):
        x.size(3)
    for copied in (pickle.loads(pickle.dumps(x.size)), copy.deepcopy(x.size)):
        assert copied == 24 and type(copied) is int


def test_to_takes_pytorchs_forms(device):
    x = tc.tensor(A, dtype=tc.float32, device=device, requires_grad=True)
    assert x.to(tc.float64).dtype == np.float64  # a dtype in the device's place
    assert x.to("float16").dtype == np.float16
    y = x.to("cpu", tc.float64)
    assert y.device == "cpu" and y.dtype == np.float64
    like = tc.zeros(1, dtype=tc.float64, device="cpu")
    z = x.to(like)  # another tensor's device and dtype
    assert z.device == "cpu" and z.dtype == np.float64
    assert x.to(device) is x and x.to(tc.float32) is x  # nothing to change: itself
    c = x.to(copy=True, non_blocking=True)
    assert c is not x and not np.shares_memory(c.numpy(), x.numpy())
    c.sum().backward()  # the copy is differentiable
    np.testing.assert_array_equal(x.grad.numpy(), np.ones_like(A))
    with pytest.raises(ValueError, match=r"to: 'tpu' is neither a device \('cpu' or 'gpu', "
                                         r"alias 'cuda'\) nor a dtype"):
        x.to("tpu")
    with pytest.raises(TypeError, match="to: got two dtypes"):
        x.to(tc.float32, tc.float64)


def test_module_to_takes_a_dtype_or_a_tensor():
    model = tc.nn.Linear(2, 3)
    assert model.to(tc.float64) is model and model.weight.dtype == np.float64
    like = tc.zeros(1, dtype=tc.float32)
    model.to(like)
    assert model.weight.dtype == np.float32 and model.bias.device == like.device
    with pytest.raises(ValueError, match="Module.to: 'tpu' is neither a device"):
        model.to("tpu")


def test_to_matches_pytorch_forms():
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")
    ours, theirs = tc.tensor(A, dtype=tc.float32), torch.tensor(A, dtype=torch.float32)
    assert str(ours.to(tc.float64).dtype) == str(theirs.to(torch.float64).dtype).split(".")[1]
    assert ours.to(tc.float32) is ours and theirs.to(torch.float32) is theirs
    assert ours.to(copy=True) is not ours and theirs.to(copy=True) is not theirs
