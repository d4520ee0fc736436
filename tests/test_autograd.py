"""The autograd engine and the Function contract."""

import gc

import numpy as np
import pytest

import tinygrad_cnn as tc
from tests.devices import is_writeable, shares_memory


def leaf(values):
    return tc.Tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


# ---------------------------------------------------------------------- graph walk


def test_tensor_used_twice_gets_the_sum():
    x = leaf([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -4.0, 6.0])  # d(x*x)/dx = 2x, not x


def test_diamond_graph():
    x = leaf([0.5, 2.0])
    a = x.exp()
    b = a * 3.0
    c = a.tanh()
    y = (b * c).sum()  # x -> a -> (b, c) -> y
    y.backward()
    ea = np.exp(x.numpy())
    expected = (3 * np.tanh(ea) + 3 * ea * (1 - np.tanh(ea) ** 2)) * ea  # dy/da * da/dx
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_deep_chain_without_recursion_error():
    x = leaf([1.0, 2.0])
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(y.numpy(), [100_001.0, 100_002.0])
    del y
    gc.collect()  # releasing a 100,000-node graph must not overflow the C stack either


def test_grad_accumulates_until_cleared():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    x.grad.zero_()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


def test_grad_owns_its_memory():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()  # both receive the same upstream array
    a.grad.data += 10  # in place, as optimizers do
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
    c = leaf(np.ones((2, 3)))
    c.sum().backward()  # the gradient of sum is a broadcast (read-only) view
    c.grad.zero_()
    # the caller's gradient, a view of it (reshape), and a retained intermediate's .grad are
    # never the leaf's .grad array
    d = leaf(np.ones(4))
    upstream = tc.Tensor(np.array([1.0, 2.0, 3.0, 4.0]))
    d.backward(upstream)
    assert not shares_memory(d.grad, upstream)
    e = leaf(np.ones(4))
    e.reshape(2, 2).backward(tc.Tensor(np.ones((2, 2))))
    assert e.grad.data.base is None and is_writeable(e.grad.data)
    f = leaf(np.ones(2))
    h = f + 0.0
    h.retain_grad()
    (h * 3.0).sum().backward()
    assert not shares_memory(f.grad, h.grad)


def test_only_leaves_that_require_grad_get_grad():
    x, w = leaf([1.0, 2.0]), tc.Tensor(np.array([3.0, 4.0]))
    h = x * w
    (h * 2).sum().backward()
    assert w.grad is None and h.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 8.0])


def test_retain_grad_on_intermediate():
    x = leaf([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [6.0, 12.0])


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_second_backward_through_freed_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*"
                                           "retain_graph=True"):
        y.backward()
    z = x.sum()  # an op that saves nothing is caught too
    z.backward()
    with pytest.raises(RuntimeError, match="second time"):
        z.backward()


def test_backward_errors():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"only for one-element outputs.*shape \(2,\).*"
                                           "gradient="):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\) but the output has "
                                           r"shape \(2,\)"):
        (x * 2).backward(np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        tc.Tensor(np.ones(2)).sum().backward()
    with tc.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_backward_with_explicit_gradient():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    (x * x).backward(np.array([[1.0, 0.0], [2.0, -1.0]]))
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 0.0], [12.0, -8.0]])


# ---------------------------------------------------------------------- tc.grad


def test_grad_returns_instead_of_storing():
    x, w = leaf([1.0, 2.0]), leaf([3.0, -1.0])
    gx, gw = tc.grad((x * w).sum(), [x, w])
    np.testing.assert_array_equal(gx.numpy(), [3.0, -1.0])
    np.testing.assert_array_equal(gw.numpy(), [1.0, 2.0])
    assert x.grad is None and w.grad is None
    (gh,) = tc.grad((x * 2).sum(), x)
    np.testing.assert_array_equal(gh.numpy(), [2.0, 2.0])


def test_hessian_vector_product_with_create_graph():
    x = leaf([0.3, -1.2, 2.0])
    v = tc.Tensor(np.array([1.0, -2.0, 0.5]))
    f = (x**3).sum() + (x[0] * x[1]) * x[2]
    (g,) = tc.grad(f, x, create_graph=True)
    assert g.requires_grad
    (hv,) = tc.grad((g * v).sum(), x)
    a, b, c = x.numpy()
    hessian = np.array([[6 * a, c, b], [c, 6 * b, a], [b, a, 6 * c]])
    np.testing.assert_allclose(hv.numpy(), hessian @ v.numpy(), rtol=1e-12)


def test_backward_create_graph_gives_differentiable_grad():
    x = leaf([1.5])
    (x**4).sum().backward(create_graph=True)
    (g2,) = tc.grad(x.grad.sum(), x)  # d/dx 4x^3 = 12x^2
    np.testing.assert_allclose(g2.numpy(), [12 * 1.5**2])


def test_grad_unused_input_and_errors():
    x, z = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match=r"input 1 \(shape \(1,\)\) was not used.*allow_unused"):
        tc.grad((x * 2).sum(), [x, z])
    gx, gz = tc.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gz is None and gx.item() == 2.0
    with pytest.raises(RuntimeError, match="input 0 is not a tensor that requires grad"):
        tc.grad((x * 2).sum(), [tc.Tensor(np.ones(1))])
    with pytest.raises(ValueError, match="2 outputs but 1 grad_outputs"):
        tc.grad([x * 2, x * 3], x, grad_outputs=[tc.ones(1)])


def test_grad_with_respect_to_intermediate():
    x = leaf([1.0, 2.0])
    h = x * 3
    (gh,) = tc.grad((h * h).sum(), h)
    np.testing.assert_array_equal(gh.numpy(), [6.0, 12.0])


# ---------------------------------------------------------------------- grad mode


def test_no_grad_and_enable_grad_as_context_managers():
    x = leaf([1.0])
    with tc.no_grad():
        y = x * 2
        assert not tc.is_grad_enabled()
        with tc.enable_grad():
            z = x * 2
    assert tc.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_and_enable_grad_as_decorators():
    x = leaf([1.0])

    @tc.no_grad()
    def infer(t):
        return t * 2

    @tc.enable_grad()
    def train(t):
        return t * 2

    @tc.no_grad
    def bare(t):
        return t * 2

    @tc.enable_grad
    def bare_enable(t):
        return t * 2

    assert not infer(x).requires_grad and not bare(x).requires_grad
    assert bare.__name__ == "bare"
    with tc.no_grad():
        assert train(x).requires_grad and bare_enable(x).requires_grad
    assert tc.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError), tc.no_grad():
        raise ValueError("boom")
    assert tc.is_grad_enabled()


# ---------------------------------------------------------------------- Function contract


class ScaleBy(tc.Function):
    """y = x * factor (factor a Python number passed through to forward)."""

    @staticmethod
    def forward(ctx, x, factor, *, shift=0.0):
        ctx.factor = factor
        ctx.seen = (type(x).__module__, ctx.xp.__name__, ctx.needs_input_grad)
        return x * factor + shift

    @staticmethod
    def backward(ctx, grad):
        return grad.data * ctx.factor, None  # an array is accepted as a gradient


def test_function_receives_arrays_and_passes_other_arguments_through():
    x = leaf([1.0, 2.0])
    y = ScaleBy.apply(x, 3.0, shift=1.0)
    np.testing.assert_array_equal(y.numpy(), [4.0, 7.0])
    xp = tc.backend.xp_for_device(x.device)  # forward gets the arrays of the tensors' device
    assert y.grad_fn.seen == (type(x.data).__module__, xp.__name__, (True, False))
    assert repr(y.grad_fn) == "<ScaleByBackward>"
    y.backward(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, -3.0])


class Cube(tc.Function):
    @staticmethod
    def forward(ctx, x):
        y = x**3
        ctx.save_for_backward(x, y, x * 2)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, y, twice = ctx.saved_tensors
        ctx.saved = (x, y, twice)
        return grad * 3 * x * x


def test_saved_tensors_are_the_input_and_output_tensors():
    x = leaf([1.0, 2.0])
    y = Cube.apply(x)
    node = y.grad_fn
    y.sum().backward(retain_graph=True)
    sx, sy, twice = node.saved
    assert sx is x  # the input Tensor itself, so double backward flows through it
    # the output as a Tensor of this node, sharing y's array (as PyTorch unpacks a saved
    # output): the node does not keep y itself alive
    assert sy.grad_fn is node and sy.data is y.data and sy.requires_grad
    assert not twice.requires_grad  # an intermediate array comes back as a constant
    assert tc.gradgradcheck(Cube.apply, (np.array([0.5, -1.5]),))


def test_backward_returning_the_wrong_number_or_shape_is_reported():
    class TooMany(tc.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    class WrongShape(tc.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return grad.sum()

    with pytest.raises(RuntimeError, match="TooMany.backward returned 2 gradients but forward "
                                           "took 1 inputs"):
        TooMany.apply(leaf([1.0])).sum().backward()
    with pytest.raises(RuntimeError, match=r"WrongShape.backward returned a gradient of shape "
                                           r"\(\) for input 0, whose shape is \(2,\)"):
        WrongShape.apply(leaf([1.0, 2.0])).sum().backward()


def test_forward_must_return_an_array():
    class Bad(tc.Function):
        @staticmethod
        def forward(ctx, x):
            return float(x.sum())

    with pytest.raises(TypeError, match="Bad.forward must return one backend array, got float"):
        Bad.apply(leaf([1.0]))


def test_no_graph_under_no_grad_or_without_requires_grad():
    x = leaf([1.0])
    assert Cube.apply(tc.Tensor(np.ones(1))).grad_fn is None
    with tc.no_grad():
        assert Cube.apply(x).grad_fn is None


def test_requires_grad_rules():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients, "
                                        "this one is int64"):
        tc.tensor([1, 2], requires_grad=True)
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="only be changed on leaf tensors.*detach"):
        y.requires_grad = False
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and shares_memory(d, y)


def test_setitem_on_a_tensor_that_requires_grad_is_refused():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="in-place assignment.*no_grad"):
        x[0] = 5.0
    with tc.no_grad():
        x[0] = 5.0
        x[tc.tensor([1])] = tc.tensor([7.0], dtype=tc.float64)
    np.testing.assert_array_equal(x.numpy(), [5.0, 7.0])


def test_backward_on_device(device):
    x = tc.tensor([1.0, 2.0], device=device, dtype=tc.float64, requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.device == x.device
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_an_input_no_backward_needs_is_not_kept_by_the_graph():
    """A node keeps the inputs it saved and the leaves it delivers .grad to; for other inputs it
    keeps an edge to their node, so their arrays go when the user drops them, as in PyTorch
    (every node used to keep all its input Tensors until the whole backward ended)."""
    import weakref

    x = tc.tensor(np.linspace(0, 1, 1000), requires_grad=True, device="cpu")  # weakref-able
    b = x * 3.0          # saves x, not its output
    c = b + 1.0          # saves nothing: b is needed by no backward
    b_data = weakref.ref(b.data)
    del b
    assert b_data() is None  # gone with the user's reference, before any backward
    e = tc.exp(x)        # saves its output
    f = e + 1.0
    e_data = weakref.ref(e.data)
    del e
    assert e_data() is not None  # held by exp's node, for its backward
    (c.sum() + f.sum()).backward()
    assert e_data() is None  # freed with the node, right after its backward
    np.testing.assert_allclose(x.grad.numpy(), 3.0 + np.exp(x.numpy()), rtol=1e-12)


def test_activations_are_released_during_backward_not_after_it():
    """Each node drops its saved values (its saved output too) right after its backward, so an
    activation is freed as the walk passes it, as in PyTorch (it used to live until the whole
    backward ended)."""
    import weakref

    from tinygrad_cnn.autograd.function import Function

    seen = {}

    class Probe(Function):  # identity; its backward (the walk's last) looks at b
        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, grad):
            seen["b alive"] = b_data() is not None
            return grad

    x = tc.tensor(np.linspace(0, 1, 1000), requires_grad=True, device="cpu")  # weakref-able
    a = Probe.apply(x)
    b = tc.exp(a)      # Exp saves its output, b
    c = tc.exp(b)      # b's consumer: its input edge was b's last holder
    b_data = weakref.ref(b.data)
    del b
    c.sum().backward()
    assert seen == {"b alive": False}
    np.testing.assert_allclose(x.grad.numpy(), np.exp(np.exp(x.numpy())) *
                               np.exp(x.numpy()), rtol=1e-12)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        c.sum().backward()


def test_retain_graph_keeps_activations_for_a_second_backward():
    x = tc.tensor(np.linspace(0, 1, 10), requires_grad=True)
    b = tc.exp(tc.relu(x) * 2)
    y = tc.exp(b).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    x.grad = None
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), first)
