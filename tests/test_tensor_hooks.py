"""Tensor.register_hook: a function of a tensor's gradient, run by backward and tc.grad (PyTorch's
rules: a hook sees the whole gradient of its tensor for that pass and may return a replacement)."""

import numpy as np
import pytest

import tinygrad_cnn as tc


def leaf(values):
    return tc.Tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def test_a_hook_on_an_intermediate_sees_and_replaces_its_gradient():
    x = leaf([1.0, -2.0, 3.0])
    y = x * 2.0
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))       # returns None: kept
    y.register_hook(lambda g: g * 3.0)                              # replaced
    (y * y).sum().backward()
    np.testing.assert_array_equal(seen[0], 2 * (2 * x.numpy()))     # d(sum y^2)/dy = 2y
    np.testing.assert_array_equal(x.grad.numpy(), 3 * 2 * (2 * x.numpy()) * 2)


def test_a_leaf_hook_runs_once_on_the_summed_gradient():
    x = leaf([1.0, 2.0])
    calls = []

    def hook(g):
        calls.append(g.numpy().copy())
        return g * 10.0

    x.register_hook(hook)
    (x * 3.0 + x * x).sum().backward()                              # two paths into x
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], 3.0 + 2 * x.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), 10 * (3.0 + 2 * x.numpy()))


def test_removed_hooks_do_not_run_and_hooks_run_in_order():
    x = leaf([1.0])
    order = []
    first = x.register_hook(lambda g: order.append("first"))
    x.register_hook(lambda g: order.append("second") or g + 1.0)
    x.sum().backward()
    assert order == ["first", "second"] and x.grad.tolist() == [2.0]
    first.remove()
    first.remove()  # twice is harmless
    x.grad = None
    x.sum().backward()
    assert order == ["first", "second", "second"] and x.grad.tolist() == [2.0]


def test_retain_grad_keeps_the_hooked_gradient():
    x = leaf([1.0, 2.0])
    y = x * x
    y.retain_grad()
    y.register_hook(lambda g: -g)
    y.sum().backward()
    assert y.grad.tolist() == [-1.0, -1.0]                          # PyTorch: retain_grad last
    assert x.grad.tolist() == [-2.0, -4.0]


def test_tc_grad_applies_the_hooks_of_its_inputs():
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: g * 0.5)
    (gx,) = tc.grad((x * x).sum(), [x])
    assert gx.tolist() == [1.0, 2.0] and x.grad is None


def test_a_hooked_gradient_differentiates_again():
    x = leaf([1.5, -0.5])
    y = x * x
    y.register_hook(lambda g: g * y)                                # uses y: second order
    (gx,) = tc.grad(y.sum(), [x], create_graph=True)                # gx = 2x * x^2 = 2x^3
    np.testing.assert_allclose(gx.numpy(), 2 * x.numpy() ** 3)
    gx.sum().backward()  # gx = 2x*y: 2y directly, and via y the hook again (as PyTorch)
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() ** 2 + 4 * x.numpy() ** 4)


def test_hooks_are_refused_or_checked_with_clear_errors():
    with pytest.raises(RuntimeError, match="register_hook: .*does not require grad"):
        tc.ones(2).register_hook(lambda g: g)
    with pytest.raises(TypeError, match="register_hook: hook must be callable, got 3"):
        leaf([1.0]).register_hook(3)
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: g.sum())
    with pytest.raises(RuntimeError, match=r"hook returned a gradient of shape \(\) for a tensor "
                                           r"of shape \(2,\)"):
        x.sum().backward()
    y = leaf([1.0]) * 2.0
    y.register_hook(lambda g: g.numpy())
    with pytest.raises(TypeError, match="hook must return a Tensor or None, got ndarray"):
        y.sum().backward()


def test_hooks_match_pytorch_on_a_small_cnn():
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    w1, w2 = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((2, 4 * 4 * 4))

    def run(lib, F, tensor):
        xt, a, b = (tensor(v, requires_grad=True) for v in (x, w1, w2))
        h = F.relu(F.conv2d(xt, a))                                  # (2, 4, 4, 4)
        captured = []
        h.register_hook(lambda g: captured.append(g.detach()) or g.clamp(-0.1, 0.1))
        a.register_hook(lambda g: g * 2.0)
        loss = (h.reshape(2, -1) @ b.T).square().sum() if hasattr(h, "square") else \
            ((h.reshape(2, -1) @ b.T) ** 2).sum()
        loss.backward()
        return [v.numpy() for v in (captured[0], xt.grad, a.grad, b.grad)]

    ours = run(tc, tc.nn.functional, lambda v, **k: tc.Tensor(v, **k))
    theirs = run(torch, torch.nn.functional,
                 lambda v, **k: torch.tensor(v, dtype=torch.float64, **k))
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(o, t, rtol=1e-10, atol=1e-12)
