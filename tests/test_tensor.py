"""Tensor: construction, dtype rules, conversions, Python protocol, factories, seeding."""

import numpy as np
import pytest

import tinygrad_cnn as tc
from tests.devices import default_device, shares_memory

# ---------------------------------------------------------------------- construction and dtypes


def test_dtype_rules_on_construction():
    assert tc.Tensor(1.5).dtype == np.float32  # Python floats -> float32
    assert tc.Tensor([[1.0, 2.0]]).dtype == np.float32
    assert tc.Tensor([1, 2]).dtype == np.int64
    assert tc.Tensor([True, False]).dtype == np.bool_
    assert tc.Tensor(np.ones(2)).dtype == np.float64  # NumPy arrays keep their dtype
    assert tc.Tensor(np.ones(2, dtype=np.float16)).dtype == np.float16
    assert tc.Tensor(np.arange(3, dtype=np.int32)).dtype == np.int32
    assert tc.Tensor([1, 2], dtype=tc.float64).dtype == np.float64
    assert tc.Tensor(tc.ones(2)).dtype == np.float32


def test_unsupported_data_is_refused():
    for data, pattern in [
        (np.array(["a", "b"]), "unsupported dtype 'str"),
        (np.array([object()]), "unsupported dtype 'object'"),
        (np.array([1 + 2j]), "unsupported dtype 'complex128'"),
        ("abc", "cannot make a tensor from a str"),
        (b"abc", "cannot make a tensor from a bytes"),
        ([[1.0, 2.0], [3.0]], "cannot make a tensor from a ragged nested list"),
        ({"a": 1}, r"cannot make a tensor from data, a dict \(\{'a': 1\}\)"),
    ]:
        with pytest.raises(TypeError, match=pattern):
            tc.Tensor(data)
    with pytest.raises(TypeError, match="unsupported dtype 'object'"):
        tc.zeros(2, dtype=object)
    with pytest.raises(TypeError, match="unsupported dtype"):
        tc.tensor([1.0]).astype(str)


def test_attributes():
    t = tc.Tensor(np.zeros((2, 3, 4)), requires_grad=True)
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.size == 24 and t.numel() == 24
    assert t.dtype == np.float64 and t.device == default_device() and t.is_leaf and t.grad is None
    assert t.requires_grad and t.grad_fn is None
    assert len(t) == 2
    assert isinstance(t.data, tc.backend.xp_for_device(default_device()).ndarray)


def test_conversions():
    a = np.array([[1.5, -2.0], [3.0, 4.0]])
    t = tc.Tensor(a, device="cpu")  # a CPU tensor's numpy() is its own memory
    assert t.numpy() is a or np.shares_memory(t.numpy(), a)
    assert t.tolist() == [[1.5, -2.0], [3.0, 4.0]]
    assert tc.tensor(2.5).tolist() == 2.5
    assert t[0, 1].item() == -2.0 and isinstance(t[0, 1].item(), float)
    assert tc.tensor([7]).item() == 7 and isinstance(tc.tensor([7]).item(), int)
    with pytest.raises(ValueError, match=r"item\(\) needs a tensor with one element, this one "
                                         r"has shape \(2, 2\)"):
        t.item()
    assert float(tc.tensor([2.0])) == 2.0 and int(tc.tensor(3)) == 3
    assert bool(tc.tensor(1.0)) and not bool(tc.tensor(0.0))
    with pytest.raises(RuntimeError, match="truth value of a tensor with 4 elements is ambiguous"):
        bool(t)
    assert [1, 2, 3][tc.tensor(1)] == 2  # __index__
    assert [r.tolist() for r in t] == [[1.5, -2.0], [3.0, 4.0]]
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(tc.tensor(1.0))


def test_array_protocol():
    t = tc.Tensor(np.array([1.0, 2.0]), device="cpu")  # NumPy reads a CPU tensor in place
    assert np.asarray(t) is t.data
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    copied = np.array(t, copy=True)
    copied[0] = 9.0
    assert t.numpy()[0] == 1.0
    np.testing.assert_array_equal(np.sqrt(np.asarray(t)), np.sqrt([1.0, 2.0]))


def test_array_protocol_refuses_gpu_tensors(monkeypatch):
    t = tc.Tensor(np.ones(2), device="cpu")
    monkeypatch.setattr(tc.backend, "device_of", lambda a: "gpu")
    with pytest.raises(TypeError, match=r"GPU tensor to a NumPy array implicitly; call "
                                        r"\.numpy\(\) or \.to\('cpu'\)"):
        np.asarray(t)


def test_astype_float_double_to_detach_clone():
    t = tc.Tensor([1.0, 2.0], requires_grad=True)
    assert t.double().dtype == np.float64 and t.double().float().dtype == np.float32
    assert t.float() is t  # already float32: the cast returns its input
    assert t.astype("float16").dtype == np.float16 and t.long().dtype == np.int64
    assert t.to(default_device()) is t and t.to(dtype=tc.float64).dtype == np.float64
    d = t.detach()
    assert not d.requires_grad and d.grad_fn is None and shares_memory(d, t)
    c = t.clone()
    assert c.requires_grad and not shares_memory(c, t)
    (c * 3).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [3.0, 3.0])
    assert t.requires_grad_(False) is t and not t.requires_grad


def test_to_device_roundtrip(device):
    t = tc.tensor([1.0, 2.0], dtype=tc.float64, requires_grad=True)
    moved = t.to(device)
    assert moved.device == tc.backend.normalize_device(device)
    (moved * 2).sum().backward()
    assert t.grad.device == t.device
    np.testing.assert_array_equal(t.grad.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(moved.numpy(), [1.0, 2.0])  # numpy() copies off the GPU


def test_repr():
    assert repr(tc.tensor([1.0, 2.5], device="cpu")) == "tensor([1. , 2.5], dtype=float32)"
    assert "requires_grad=True" in repr(tc.ones(2, requires_grad=True))
    assert "grad_fn=<MulBackward>" in repr(tc.ones(2, requires_grad=True) * 2)
    assert "..." in repr(tc.zeros(1000))


# ---------------------------------------------------------------------- factories

FACTORIES = [
    ("zeros", lambda **kw: tc.zeros(2, 3, **kw), np.zeros((2, 3))),
    ("ones", lambda **kw: tc.ones((2, 3), **kw), np.ones((2, 3))),
    ("full", lambda **kw: tc.full((2, 3), 1.5, **kw), np.full((2, 3), 1.5)),
    ("eye", lambda **kw: tc.eye(3, **kw), np.eye(3)),
    ("arange", lambda **kw: tc.arange(0.0, 2.0, 0.5, **kw), np.arange(0.0, 2.0, 0.5)),
    ("tensor", lambda **kw: tc.tensor([[1.0, 2.0]], **kw), np.array([[1.0, 2.0]])),
    ("zeros_like", lambda **kw: tc.zeros_like(tc.ones(2, 2), **kw), np.zeros((2, 2))),
    ("ones_like", lambda **kw: tc.ones_like(tc.zeros(2, 2), **kw), np.ones((2, 2))),
]


@pytest.mark.parametrize("name,make,expected", FACTORIES, ids=[f[0] for f in FACTORIES])
def test_factories(name, make, expected, device):
    default = make()
    assert (default.dtype == np.float32 and default.device == default_device()
            and not default.requires_grad)
    np.testing.assert_array_equal(default.numpy(), expected)
    t = make(dtype=tc.float64, device=device, requires_grad=True)
    assert t.dtype == np.float64 and t.requires_grad and t.is_leaf
    assert t.device == tc.backend.normalize_device(device)
    np.testing.assert_array_equal(t.numpy(), expected)


def test_factory_details():
    assert tc.arange(5).dtype == np.int64 and tc.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert tc.arange(1, 7, 2).tolist() == [1, 3, 5]
    assert tc.full((2,), 3).dtype == np.int64 and tc.full(2, True).dtype == np.bool_
    assert tc.eye(2, 3).shape == (2, 3)
    assert tc.zeros_like(tc.ones(2, dtype=tc.int32)).dtype == np.int32
    assert tc.zeros_like(tc.ones(2), dtype=tc.backend.DEFAULT_INT).dtype == np.int64
    src = np.ones(3)
    copy = tc.tensor(src)
    src[0] = 5.0
    assert copy.tolist() == [1.0, 1.0, 1.0]  # tc.tensor copies
    with pytest.raises(ValueError, match=r"negative dimension in shape \(2, -1\)"):
        tc.zeros(2, -1)
    with pytest.raises(ValueError, match="step must be nonzero"):
        tc.arange(0, 3, 0)
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        tc.arange(3, requires_grad=True)


def test_random_factories(device):
    for make in (tc.rand, tc.randn):
        t = make(3, 4, device=device, dtype=tc.float64, requires_grad=True)
        assert t.shape == (3, 4) and t.dtype == np.float64 and t.requires_grad
        assert make(2).dtype == np.float32 and make(2, dtype=tc.float16).dtype == np.float16
    u = tc.rand(1000).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0
    r = tc.randint(3, 7, size=(100,), device=device).numpy()
    assert r.dtype == np.int64 and r.min() >= 3 and r.max() < 7
    assert sorted(tc.randperm(6).tolist()) == list(range(6))


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: tc.zeros(2.5), TypeError, r"zeros: a shape holds ints, got 2.5 \(float\)"),
    (lambda: tc.rand(2, 3.0), TypeError, r"rand: a shape holds ints, got 3.0 \(float\)"),
    (lambda: tc.ones("a"), TypeError, r"ones: a shape holds ints, got 'a' \(str\)"),
    (lambda: tc.randn(True), TypeError, r"randn: a shape holds ints, got True \(bool\)"),
    (lambda: tc.empty(2, -1), ValueError, r"empty: negative dimension in shape \(2, -1\)"),
    (lambda: tc.full((2, -3), 1.0), ValueError, r"full: negative dimension in shape \(2, -3\)"),
    (lambda: tc.randint(0, 5, (2.0,)), TypeError, r"randint: a shape holds ints, got 2.0"),
    (lambda: tc.randint(5, 2, (3,)), ValueError,
     r"randint: low \(5\) must be less than high \(2\)"),
    (lambda: tc.randint(0, 2.5, (3,)), TypeError, r"randint: high must be an int, got 2.5"),
    (lambda: tc.randint(0.5, 3, (3,)), TypeError, r"randint: low must be an int, got 0.5"),
    (lambda: tc.randperm(-1), ValueError, r"randperm: n must be a non-negative int, got -1"),
    (lambda: tc.randperm(2.5), TypeError, r"randperm: n must be a non-negative int, got 2.5"),
    (lambda: tc.randperm(True), TypeError, r"randperm: n must be a non-negative int, got True"),
    (lambda: tc.eye(-1), ValueError, r"eye: n must be a non-negative int, got -1"),
    (lambda: tc.eye(2, 1.5), TypeError, r"eye: m must be a non-negative int or None, got 1.5"),
    (lambda: tc.arange("a"), TypeError, r"arange: end must be a real number, got 'a'"),
    (lambda: tc.arange(0, 3, None), TypeError, r"arange: step must be a real number, got None"),
])
def test_factories_name_bad_arguments(make, error, message):
    """As torch's factories: a float or a negative size, a bound of the wrong type, an empty
    range of integers are refused with the factory's name, never truncated or left to NumPy."""
    with pytest.raises(error, match=message):
        make()


def test_empty_has_the_shape_dtype_and_device_asked_for(device):
    for t in (tc.empty(2, 3, device=device), tc.empty((2, 3), device=device)):
        assert t.shape == (2, 3) and t.dtype == np.float32 and t.device == device
    t = tc.empty(4, dtype=tc.float64, device=device, requires_grad=True)
    assert t.shape == (4,) and t.dtype == np.float64 and t.requires_grad and t.is_leaf
    like = tc.empty_like(tc.ones(3, 2, dtype=tc.int32, device=device))
    assert like.shape == (3, 2) and like.dtype == np.int32 and like.device == device
    assert tc.empty(0).shape == (0,) and tc.empty(()).shape == ()


def test_manual_seed_makes_every_draw_reproducible():
    def draws():
        return [tc.rand(3).tolist(), tc.randn(2, 2).tolist(), tc.randint(0, 100, (4,)).tolist(),
                tc.randperm(5).tolist()]

    tc.manual_seed(123)
    first = draws()
    tc.manual_seed(123)
    assert draws() == first
    tc.manual_seed(124)
    assert draws() != first


# ---------------------------------------------------------------------- setitem


def test_setitem():
    t = tc.zeros(2, 3)
    t[0] = 1.0
    t[1, tc.tensor([0, 2])] = tc.tensor([5.0, 6.0])
    t[t == 0] = -1.0
    assert t.tolist() == [[1.0, 1.0, 1.0], [5.0, -1.0, 6.0]]
