"""NAdam, RAdam, Adamax and Adadelta: trajectories against the NumPy references and PyTorch,
param groups, state_dict resume, validation messages, and training a tiny model."""

import re

import numpy as np
import pytest
import references_optim as ref
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tests.devices import to_host
from tests.test_optim import problem_loss, problem_params, train
from tinygrad_cnn import nn, optim

STEPS = 20
NAMES = ["NAdam", "RAdam", "Adamax", "Adadelta"]

CONFIGS = [
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6)),
    ("NAdam", dict(lr=0.05, momentum_decay=0.05)),
    ("NAdam", dict(lr=0.05, momentum_decay=0.0)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.02, weight_decay=0.05, maximize=True)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.05)),
    ("RAdam", dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6)),  # rectified from step 4 on
    ("RAdam", dict(lr=0.05, betas=(0.9, 0.5))),  # rho_inf = 3: never rectified
    ("RAdam", dict(lr=0.05, weight_decay=0.1)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.02, betas=(0.9, 0.8), maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-4)),
    ("Adamax", dict(lr=0.05, weight_decay=0.1)),
    ("Adamax", dict(lr=0.02, weight_decay=0.05, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.5, eps=1e-4)),
    ("Adadelta", dict(lr=2.0, rho=0.95, weight_decay=0.1)),
    ("Adadelta", dict(lr=1.0, rho=0.0)),
    ("Adadelta", dict(lr=0.5, maximize=True)),
]
IDS = [f"{name}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CONFIGS]

# per-group overrides for the two-group PyTorch comparison
GROUP_OVERRIDES = {
    "NAdam": dict(lr=0.01, betas=(0.85, 0.99), momentum_decay=0.01),
    "RAdam": dict(lr=0.01, betas=(0.85, 0.9), weight_decay=0.02),
    "Adamax": dict(lr=0.01, betas=(0.85, 0.99), weight_decay=0.02),
    "Adadelta": dict(lr=0.3, rho=0.8, weight_decay=0.02),
}


@pytest.fixture
def torch64():
    """PyTorch with float64 as its default dtype, so NAdam's 0-d ``mu_product`` is float64 (its
    scalar state follows the default dtype) and a 1e-12 comparison is meaningful."""
    torch = pytest.importorskip("torch", reason="PyTorch is an optional test oracle")
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(old)


def torch_trajectory(torch, name, groups, steps, dtype):
    """``groups``: [(kwargs for the group, ...)] over the test problem's W and z, in ``dtype``."""
    W = torch.tensor(ref.W0, dtype=dtype, requires_grad=True)
    z = torch.tensor(ref.Z0, dtype=dtype, requires_grad=True)
    defaults, overrides = groups
    opt = getattr(torch.optim, name)([{"params": [W]}, {"params": [z], **overrides}], **defaults)
    A, Y = torch.tensor(ref.A, dtype=dtype), torch.tensor(ref.Y, dtype=dtype)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        r = A @ W - Y
        valley = (1 - z[:-1]) ** 2 + ref.ROSENBROCK_B * (z[1:] - z[:-1] ** 2) ** 2
        (0.5 * (r * r).sum() + valley.sum()).backward()
        opt.step()
        out.append([W.detach().numpy().copy(), z.detach().numpy().copy()])
    return out, opt


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_trajectory_matches_reference(name, kwargs):
    params = problem_params()
    ours = train(getattr(optim, name)(params, **kwargs), params, STEPS)
    expected = ref.trajectory(ref.REFERENCES[name](**kwargs), STEPS)
    assert np.abs(expected[-1][0] - ref.W0).max() > 1e-4, "the problem should move the params"
    for t, (got, want) in enumerate(zip(ours, expected, strict=True)):
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=f"step {t + 1}")


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_trajectory_matches_pytorch_float64(name, kwargs, torch64):
    torch = torch64
    W, z = problem_params()
    opt = getattr(optim, name)([{"params": [W]}, {"params": [z], **GROUP_OVERRIDES[name]}],
                               **kwargs)
    ours = train(opt, [W, z], STEPS)
    expected, _ = torch_trajectory(torch, name, (kwargs, GROUP_OVERRIDES[name]), STEPS,
                                   torch.float64)
    for t, (got, want) in enumerate(zip(ours, expected, strict=True)):
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=f"step {t + 1}")


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_trajectory_matches_pytorch_float32(name, kwargs, device):
    """float32 parameters on each device, both optimizers fed the same float32 gradients at each
    step (computed in float64 at our parameters), so only the update rules are compared."""
    torch = pytest.importorskip("torch", reason="PyTorch is an optional test oracle")
    W, z = problem_params(np.float32, device)
    opt = getattr(optim, name)([{"params": [W]}, {"params": [z], **GROUP_OVERRIDES[name]}],
                               **kwargs)
    tW = torch.tensor(ref.W0, dtype=torch.float32, requires_grad=True)
    tz = torch.tensor(ref.Z0, dtype=torch.float32, requires_grad=True)
    # PyTorch's default dtype float32: NAdam's mu_product is then a float32 scalar (ours a
    # Python float), a difference well below the tolerance
    topt = getattr(torch.optim, name)([{"params": [tW]}, {"params": [tz],
                                                         **GROUP_OVERRIDES[name]}], **kwargs)
    for t in range(STEPS):
        grads = ref.loss_grads(W.numpy().astype(np.float64), z.numpy().astype(np.float64))
        for p, tp, g in zip((W, z), (tW, tz), grads, strict=True):
            p.grad = tc.Tensor(g.astype(np.float32), device=device)
            tp.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        topt.step()
        for p, tp in zip((W, z), (tW, tz), strict=True):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-6, atol=1e-7,
                                       err_msg=f"step {t + 1}")
            tp.data = torch.tensor(p.numpy())  # go on from the same point: no drift
    assert W.dtype == np.float32 and z.dtype == np.float32 and W.device == device
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, tc.Tensor):
                assert value.dtype == np.float32 and value.device == device


def test_radam_takes_both_branches():
    """Default betas: rho_t <= 5 for the first steps (plain momentum), rectified after."""
    beta2 = 0.999
    rho_inf = 2 / (1 - beta2) - 1
    rho = [rho_inf - 2 * t * beta2**t / (1 - beta2**t) for t in range(1, STEPS + 1)]
    assert rho[0] <= 5 < rho[-1]
    params = problem_params()
    opt = optim.RAdam(params, lr=0.05)
    first = train(opt, params, 1)[0]
    # step 1 is lr * m_hat = lr * g exactly
    gW, gz = ref.loss_grads(ref.W0, ref.Z0)
    np.testing.assert_allclose(first[0], ref.W0 - 0.05 * gW, rtol=1e-14)
    np.testing.assert_allclose(first[1], ref.Z0 - 0.05 * gz, rtol=1e-14)


HYPER = {
    "NAdam": dict(lr=st.floats(1e-4, 0.1), betas=st.tuples(st.floats(0, 0.95),
                                                          st.floats(0.5, 0.999)),
                  eps=st.floats(1e-8, 1e-3), weight_decay=st.floats(0, 0.5),
                  momentum_decay=st.floats(0, 0.1), decoupled_weight_decay=st.booleans()),
    # RAdam's first steps are plain momentum steps lr * m_hat: larger lrs diverge on the valley
    "RAdam": dict(lr=st.floats(1e-4, 0.02), betas=st.tuples(st.floats(0, 0.95),
                                                          st.floats(0.5, 0.999)),
                  eps=st.floats(1e-8, 1e-3), weight_decay=st.floats(0, 0.5),
                  decoupled_weight_decay=st.booleans()),
    # beta2 near 0 makes Adamax a sign method (u = |g| + eps), whose steps jump where g crosses 0,
    # so ulp-level differences grow: keep beta2 >= 0.5 for a 1e-9 comparison (as for Adam)
    "Adamax": dict(lr=st.floats(1e-4, 0.1), betas=st.tuples(st.floats(0, 0.95),
                                                           st.floats(0.5, 0.999)),
                   eps=st.floats(1e-8, 1e-3), weight_decay=st.floats(0, 0.5)),
    "Adadelta": dict(lr=st.floats(1e-2, 2.0), rho=st.floats(0, 0.99),
                     eps=st.floats(1e-8, 1e-3), weight_decay=st.floats(0, 0.5)),
}


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_trajectory_random_hyperparameters(name, data):
    kwargs = data.draw(st.fixed_dictionaries(HYPER[name]))
    params = problem_params()
    ours = train(getattr(optim, name)(params, **kwargs), params, STEPS)
    expected = ref.trajectory(ref.REFERENCES[name](**kwargs), STEPS)
    for got, want in zip(ours[-1], expected[-1], strict=True):
        assert np.isfinite(want).all(), "the hyperparameters should not diverge"
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_defaults_match_pytorch():
    W, _ = problem_params()
    expected = {
        "NAdam": dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                      momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False),
        "RAdam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                      decoupled_weight_decay=False, maximize=False),
        "Adamax": dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False),
        "Adadelta": dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False),
    }
    for name, defaults in expected.items():
        assert getattr(optim, name)([W]).defaults == defaults, name


def test_signatures_match_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is an optional test oracle")
    import inspect

    skipped = {"foreach", "capturable", "differentiable", "fused"}
    for name in NAMES:
        ours = inspect.signature(getattr(optim, name).__init__).parameters
        theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
        want = [(n, p.default, p.kind == p.KEYWORD_ONLY) for n, p in theirs.items()
                if n not in skipped]
        got = [(n, p.default, p.kind == p.KEYWORD_ONLY) for n, p in ours.items()]
        assert got == want, name


def test_state_keys_match_pytorch(torch64):
    torch = torch64
    for name in NAMES:
        W, z = problem_params()
        opt = getattr(optim, name)([W, z])
        train(opt, [W, z], 2)
        _, topt = torch_trajectory(torch, name, ({}, {}), 2, torch.float64)
        sd, tsd = opt.state_dict(), topt.state_dict()
        assert sorted(sd["state"][0]) == sorted(tsd["state"][0]), name
        assert sd["state"][0]["step"] == 2
        assert set(sd["param_groups"][0]) <= set(tsd["param_groups"][0]), name
        if name == "NAdam":
            assert isinstance(sd["state"][0]["mu_product"], float)
            assert sd["state"][0]["mu_product"] == pytest.approx(
                tsd["state"][0]["mu_product"].item(), rel=1e-15)


# --------------------------------------------------------------------------- state_dict

RESUME_CONFIGS = [
    ("NAdam", dict(lr=0.05, weight_decay=0.01, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.05, momentum_decay=0.02, maximize=True)),
    ("RAdam", dict(lr=0.05, weight_decay=0.01)),
    ("RAdam", dict(lr=0.05, weight_decay=0.01, decoupled_weight_decay=True)),
    ("Adamax", dict(lr=0.05, weight_decay=0.01)),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.01)),
]


@pytest.mark.parametrize("name,kwargs", RESUME_CONFIGS,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(RESUME_CONFIGS)])
def test_resume_from_checkpoint_is_bit_identical(name, kwargs, tmp_path):
    groups = lambda W, z: [{"params": [W]}, {"params": [z], **GROUP_OVERRIDES[name]}]  # noqa: E731
    params = problem_params()
    uninterrupted = train(getattr(optim, name)(groups(*params), **kwargs), params, 20)

    params = problem_params()
    opt = getattr(optim, name)(groups(*params), **kwargs)
    train(opt, params, 10)
    path = tmp_path / "ckpt.npz"
    tc.save({"params": {"W": params[0], "z": params[1]}, "optimizer": opt.state_dict()}, path)
    del opt, params

    checkpoint = tc.load(path)
    fresh = problem_params()  # new tensors, new optimizer: only the file carries the state
    for p, saved in zip(fresh, checkpoint["params"].values(), strict=True):
        p.data[...] = saved.data
    opt = getattr(optim, name)(groups(*fresh), lr=0.123)
    opt.load_state_dict(checkpoint["optimizer"])
    assert opt.param_groups[0]["lr"] == kwargs["lr"]
    assert opt.param_groups[1]["lr"] == GROUP_OVERRIDES[name]["lr"]
    assert opt.state[fresh[0]]["step"] == 10
    resumed = train(opt, fresh, 10)
    for a, b in zip(resumed, uninterrupted[10:], strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_nadam_loads_a_tensor_mu_product():
    """PyTorch keeps ``step`` and ``mu_product`` as 0-d tensors; both load as Python numbers."""
    W, z = problem_params()
    opt = optim.NAdam([W, z], lr=0.05)
    uninterrupted = train(opt, [W, z], 6)
    W, z = problem_params()
    opt = optim.NAdam([W, z], lr=0.05)
    train(opt, [W, z], 3)
    sd = opt.state_dict()
    for entries in sd["state"].values():
        entries["step"] = tc.tensor(float(entries["step"]), dtype=tc.float32)
        entries["mu_product"] = tc.tensor(entries["mu_product"], dtype=tc.float64)
    opt2 = optim.NAdam([W, z], lr=0.05)
    opt2.load_state_dict(sd)
    assert opt2.state[W]["step"] == 3 and isinstance(opt2.state[W]["mu_product"], float)
    resumed = train(opt2, [W, z], 3)
    for a, b in zip(resumed[-1], uninterrupted[-1], strict=True):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "cls,kwargs,message",
    [
        (optim.NAdam, dict(lr=0.0), "invalid learning rate lr=0.0, expected a number > 0"),
        (optim.NAdam, dict(betas=(0.9, 1.5)),
         "invalid beta parameter at index 1: 1.5, expected 0 <= beta < 1"),
        (optim.NAdam, dict(betas=(-0.1, 0.9)),
         "invalid beta parameter at index 0: -0.1, expected 0 <= beta < 1"),
        (optim.NAdam, dict(betas=0.9), "betas must be a pair (beta1, beta2), got 0.9"),
        (optim.NAdam, dict(eps=-1e-8), "invalid epsilon value eps=-1e-08, expected a number >= 0"),
        (optim.NAdam, dict(weight_decay=-0.1), "invalid weight_decay=-0.1, expected a number >= 0"),
        (optim.NAdam, dict(momentum_decay=-0.004),
         "invalid momentum_decay=-0.004, expected a number >= 0"),
        (optim.RAdam, dict(lr=-1e-3), "invalid learning rate lr=-0.001, expected a number > 0"),
        (optim.RAdam, dict(betas=(1.0, 0.999)),
         "invalid beta parameter at index 0: 1.0, expected 0 <= beta < 1"),
        (optim.RAdam, dict(eps=-1.0), "invalid epsilon value eps=-1.0, expected a number >= 0"),
        (optim.RAdam, dict(weight_decay=-1), "invalid weight_decay=-1, expected a number >= 0"),
        (optim.Adamax, dict(lr="0.1"), "invalid learning rate lr='0.1', expected a number > 0"),
        (optim.Adamax, dict(betas=(0.9, 1.0)),
         "invalid beta parameter at index 1: 1.0, expected 0 <= beta < 1"),
        (optim.Adamax, dict(eps=-1e-8), "invalid epsilon value eps=-1e-08, expected a number >= 0"),
        (optim.Adamax, dict(weight_decay=-0.5),
         "invalid weight_decay=-0.5, expected a number >= 0"),
        (optim.Adadelta, dict(lr=-1.0), "invalid learning rate lr=-1.0, expected a number > 0"),
        (optim.Adadelta, dict(rho=1.5), "invalid rho=1.5, expected 0 <= rho <= 1"),
        (optim.Adadelta, dict(rho=-0.1), "invalid rho=-0.1, expected 0 <= rho <= 1"),
        (optim.Adadelta, dict(eps=-1e-6),
         "invalid epsilon value eps=-1e-06, expected a number >= 0"),
        (optim.Adadelta, dict(weight_decay=-0.1),
         "invalid weight_decay=-0.1, expected a number >= 0"),
    ],
)
def test_invalid_hyperparameters(cls, kwargs, message):
    W, _ = problem_params()
    with pytest.raises(ValueError, match=f"^{re.escape(f'{cls.__name__} (group 0): {message}')}$"):
        cls([W], **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_invalid_hyperparameter_in_a_group_names_the_group(name):
    W, z = problem_params()
    with pytest.raises(ValueError, match=re.escape(f"{name} (group 1): invalid weight_decay=-0.5")):
        getattr(optim, name)([{"params": [W]}, {"params": [z], "weight_decay": -0.5}])


def test_boundary_hyperparameters_are_accepted():
    W, z = problem_params()
    optim.Adadelta([W], rho=0.0)
    optim.Adadelta([W], rho=1.0, eps=0.0)
    optim.NAdam([W], betas=[0.0, 0.0], momentum_decay=0.0, eps=0.0)
    assert optim.RAdam([W], betas=[0.5, 0.5]).defaults["betas"] == (0.5, 0.5)


# --------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("name", NAMES)
def test_step_skips_missing_grads_and_never_writes_grads(name):
    W, z = problem_params()
    opt = getattr(optim, name)([W, z], lr=0.01)
    r = tc.Tensor(ref.A) @ W
    (r * r).sum().backward()  # only W gets a gradient
    grad_array, grad_copy = W.grad.data, W.grad.numpy().copy()
    opt.step()
    np.testing.assert_array_equal(z.numpy(), ref.Z0)
    assert z not in opt.state
    assert W.grad.data is grad_array
    np.testing.assert_array_equal(W.grad.numpy(), grad_copy)
    assert not np.array_equal(W.numpy(), ref.W0)
    assert W.is_leaf and W.requires_grad and W.grad_fn is None


@pytest.mark.parametrize("name", NAMES)
def test_closure_and_repr(name):
    W, z = problem_params()
    opt = getattr(optim, name)([W, z])

    def closure():
        opt.zero_grad()
        value = problem_loss(W, z)
        value.backward()
        return value

    loss = opt.step(closure)
    np.testing.assert_allclose(loss.item(), ref.loss(ref.W0, ref.Z0), rtol=1e-12)
    assert repr(opt).startswith(f"{name} (")


# Adadelta's first steps are of size ~sqrt(eps): it needs more of them
LRS = {"NAdam": 0.05, "RAdam": 0.05, "Adamax": 0.05, "Adadelta": 1.0}
TRAIN_STEPS = {"NAdam": 60, "RAdam": 60, "Adamax": 60, "Adadelta": 150}


@pytest.mark.parametrize("name", NAMES)
def test_trains_a_tiny_model(name):
    tc.manual_seed(0)
    x = tc.randn(64, 3)
    y = x @ tc.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = getattr(optim, name)(model.parameters(), lr=LRS[name])
    losses = []
    for _ in range(TRAIN_STEPS[name]):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.25 * losses[0], losses[::10]
    for p in model.parameters():
        assert p.dtype == np.float32
        assert to_host(p.data).dtype == np.float32
