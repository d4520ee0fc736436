"""Optimizers: trajectories against the NumPy references (and PyTorch when installed), param
groups, zero_grad, state_dict resume, validation."""

import numpy as np
import pytest
import references_optim as ref
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tests.devices import to_host
from tinygrad_cnn import optim

STEPS = 25

CONFIGS = [
    ("SGD", dict(lr=0.01)),
    ("SGD", dict(lr=0.01, momentum=0.9)),
    ("SGD", dict(lr=0.01, momentum=0.8, dampening=0.3)),
    ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.01, momentum=0.5, weight_decay=0.1)),
    ("SGD", dict(lr=0.001, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.02, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.005, momentum=0.5)),
    ("RMSprop", dict(lr=0.005, momentum=0.3, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.005, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-3, maximize=True)),
]
IDS = [f"{name}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CONFIGS]


def problem_params(dtype=np.float64, device=None):  # None: the default device
    W = tc.Tensor(ref.W0.astype(dtype), requires_grad=True, device=device)
    z = tc.Tensor(ref.Z0.astype(dtype), requires_grad=True, device=device)
    return W, z


def problem_loss(W, z):
    A = tc.Tensor(ref.A.astype(W.dtype), device=W.device)
    Y = tc.Tensor(ref.Y.astype(W.dtype), device=W.device)
    r = A @ W - Y
    valley = (1 - z[:-1]) ** 2 + ref.ROSENBROCK_B * (z[1:] - z[:-1] ** 2) ** 2
    return 0.5 * (r * r).sum() + valley.sum()


def train(opt, params, steps):
    """``steps`` rounds of zero_grad / backward / step; the parameter values after each."""
    out = []
    for _ in range(steps):
        opt.zero_grad()
        problem_loss(*params).backward()
        opt.step()
        out.append([p.numpy().copy() for p in params])
    return out


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_trajectory_matches_reference(name, kwargs):
    params = problem_params()
    ours = train(getattr(optim, name)(params, **kwargs), params, STEPS)
    expected = ref.trajectory(ref.REFERENCES[name](**kwargs), STEPS)
    moved = np.abs(expected[-1][0] - ref.W0).max()
    assert moved > 1e-3, "the test problem should move the parameters"
    for t, (got, want) in enumerate(zip(ours, expected, strict=True)):
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, err_msg=f"step {t + 1}")


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_trajectory_matches_pytorch(name, kwargs):
    torch = pytest.importorskip("torch")
    params = problem_params()
    ours = train(getattr(optim, name)(params, **kwargs), params, STEPS)
    W = torch.tensor(ref.W0, requires_grad=True)
    z = torch.tensor(ref.Z0, requires_grad=True)
    opt = getattr(torch.optim, name)([W, z], **kwargs)
    A, Y = torch.tensor(ref.A), torch.tensor(ref.Y)
    for t in range(STEPS):
        opt.zero_grad()
        r = A @ W - Y
        valley = (1 - z[:-1]) ** 2 + ref.ROSENBROCK_B * (z[1:] - z[:-1] ** 2) ** 2
        (0.5 * (r * r).sum() + valley.sum()).backward()
        opt.step()
        np.testing.assert_allclose(ours[t][0], W.detach().numpy(), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(ours[t][1], z.detach().numpy(), rtol=1e-9, atol=1e-9)


HYPER = {
    "SGD": dict(lr=st.floats(1e-4, 0.02), momentum=st.sampled_from([0.0, 0.5, 0.9]),
                weight_decay=st.floats(0, 0.5), nesterov=st.booleans()),
    # beta2 near 0 makes Adam a sign method (p -= lr * m / |g|), whose steps jump where g crosses
    # 0, so ulp-level differences grow: keep beta2 >= 0.5 for a 1e-9 comparison
    "Adam": dict(lr=st.floats(1e-4, 0.1),
                 betas=st.tuples(st.floats(0, 0.95), st.floats(0.5, 0.999)),
                 eps=st.floats(1e-8, 1e-3), weight_decay=st.floats(0, 0.5),
                 amsgrad=st.booleans()),
    "RMSprop": dict(lr=st.floats(1e-4, 0.01), alpha=st.floats(0.5, 0.999),
                    momentum=st.floats(0, 0.9), centered=st.booleans(),
                    weight_decay=st.floats(0, 0.5)),
    "Adagrad": dict(lr=st.floats(1e-3, 0.2), lr_decay=st.floats(0, 0.1),
                    initial_accumulator_value=st.floats(0, 1), eps=st.floats(1e-10, 1e-2)),
}


@pytest.mark.parametrize("name", sorted(HYPER))
@given(data=st.data())
def test_trajectory_random_hyperparameters(name, data):
    kwargs = data.draw(st.fixed_dictionaries(HYPER[name]))
    if name == "SGD" and kwargs["nesterov"] and kwargs["momentum"] == 0:
        kwargs["nesterov"] = False
    params = problem_params()
    ours = train(getattr(optim, name)(params, **kwargs), params, 20)
    expected = ref.trajectory(ref.REFERENCES[name](**kwargs), 20)
    for got, want in zip(ours[-1], expected[-1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_param_groups_use_their_own_options():
    W, z = problem_params()
    opt = optim.SGD([{"params": [W]}, {"params": [z], "lr": 0.03, "momentum": 0.0}],
                    lr=0.01, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[1]["lr"] == 0.03
    assert opt.param_groups[1]["nesterov"] is False  # filled from the defaults
    ours = train(opt, [W, z], 20)
    ref_W, ref_z = ref.SGD(lr=0.01, momentum=0.9), ref.SGD(lr=0.03)
    pW, pz = ref.W0.copy(), ref.Z0.copy()
    for t in range(20):
        gW, gz = ref.loss_grads(pW, pz)
        (pW,), (pz,) = ref_W.step([pW], [gW]), ref_z.step([pz], [gz])
        np.testing.assert_allclose(ours[t][0], pW, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(ours[t][1], pz, rtol=1e-9, atol=1e-9)


def test_add_param_group_fills_defaults_and_updates_new_params():
    W, z = problem_params()
    opt = optim.Adam([W], lr=0.05, betas=(0.8, 0.9))
    opt.add_param_group({"params": z, "lr": 0.01})
    assert len(opt.param_groups) == 2
    assert opt.param_groups[1]["betas"] == (0.8, 0.9) and opt.param_groups[1]["lr"] == 0.01
    before = z.numpy().copy()
    train(opt, [W, z], 1)
    assert not np.array_equal(before, z.numpy())
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [W]})


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    W, z = problem_params()
    opt = optim.SGD([W, z], lr=0.1)
    problem_loss(W, z).backward()
    old = W.grad.data
    old_copy = old.copy()
    opt.zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert W.grad is None and z.grad is None
    else:
        assert W.grad.shape == W.shape and W.grad.dtype == W.dtype
        assert not W.grad.numpy().any() and not z.grad.numpy().any()
        assert W.grad.data is not old  # a fresh array: a shared old one is left alone
    np.testing.assert_array_equal(to_host(old), to_host(old_copy))


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_step_skips_missing_grads_and_never_writes_grads(name):
    W, z = problem_params()
    kwargs = {"momentum": 0.9} if name in ("SGD", "RMSprop") else {}
    opt = getattr(optim, name)([W, z], lr=0.01, **kwargs)
    r = tc.Tensor(ref.A) @ W
    (r * r).sum().backward()  # only W gets a gradient
    grad_array, grad_copy = W.grad.data, W.grad.numpy().copy()
    state_before = dict(opt.state.get(z, {}))
    opt.step()
    np.testing.assert_array_equal(z.numpy(), ref.Z0)
    assert z.grad is None
    assert opt.state.get(z, {}).keys() == state_before.keys()  # no state created for z
    assert W.grad.data is grad_array
    np.testing.assert_array_equal(W.grad.numpy(), grad_copy)
    assert not np.array_equal(W.numpy(), ref.W0)
    assert W.is_leaf and W.requires_grad and W.grad_fn is None  # no graph recorded


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_float32_parameters_keep_their_dtype(name, device):
    W, z = problem_params(np.float32, device)
    kwargs = {"momentum": 0.9} if name in ("SGD", "RMSprop") else {}
    opt = getattr(optim, name)([W, z], lr=0.01, **kwargs)
    ours = train(opt, [W, z], 5)
    assert W.dtype == np.float32 and z.dtype == np.float32
    assert W.device == device and z.device == device
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, tc.Tensor):
                assert value.dtype == np.float32 and value.device == device
    expected = ref.trajectory(ref.REFERENCES[name](lr=0.01, **kwargs), 5)
    np.testing.assert_allclose(ours[-1][0], expected[-1][0], rtol=1e-4, atol=1e-5)


def test_closure_is_evaluated_with_grad_enabled():
    W, z = problem_params()
    opt = optim.SGD([W, z], lr=0.01)

    def closure():
        opt.zero_grad()
        value = problem_loss(W, z)
        value.backward()
        return value

    with tc.no_grad():
        loss = opt.step(closure)
    np.testing.assert_allclose(loss.item(), ref.loss(ref.W0, ref.Z0), rtol=1e-12)
    expected = ref.trajectory(ref.SGD(lr=0.01), 1)[0]
    np.testing.assert_allclose(W.numpy(), expected[0], rtol=1e-12)


# --------------------------------------------------------------------------- state_dict

RESUME_CONFIGS = [
    ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.01)),
    ("AdamW", dict(lr=0.05)),
    ("RMSprop", dict(lr=0.005, momentum=0.3, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
]


@pytest.mark.parametrize("name,kwargs", RESUME_CONFIGS, ids=[c[0] for c in RESUME_CONFIGS])
def test_resume_from_checkpoint_is_bit_identical(name, kwargs, tmp_path):
    params = problem_params()
    uninterrupted = train(getattr(optim, name)(params, **kwargs), params, 20)[-1]

    params = problem_params()
    opt = getattr(optim, name)(params, **kwargs)
    train(opt, params, 10)
    path = tmp_path / "ckpt.npz"
    tc.save({"params": {"W": params[0], "z": params[1]}, "optimizer": opt.state_dict(),
             "epoch": 10}, path)
    del opt, params

    checkpoint = tc.load(path)
    assert checkpoint["epoch"] == 10
    fresh = problem_params()  # new tensors, new optimizer: only the file carries the state
    for p, saved in zip(fresh, checkpoint["params"].values(), strict=True):
        p.data[...] = saved.data
    opt = getattr(optim, name)(fresh, lr=0.123)
    opt.load_state_dict(checkpoint["optimizer"])
    assert opt.param_groups[0]["lr"] == kwargs["lr"]
    resumed = train(opt, fresh, 10)[-1]
    for a, b in zip(resumed, uninterrupted, strict=True):
        np.testing.assert_array_equal(a, b)


def test_state_dict_layout_matches_pytorch():
    W, z = problem_params()
    opt = optim.Adam([{"params": [W]}, {"params": [z], "lr": 0.01}], lr=0.05)
    train(opt, [W, z], 3)
    sd = opt.state_dict()
    assert list(sd) == ["state", "param_groups"]
    assert sorted(sd["state"]) == [0, 1]
    assert sd["state"][0]["step"] == 3
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.01
    # a snapshot: changing the returned dict or training on does not alter the other
    sd["state"][0]["exp_avg"].data[...] = 123.0
    assert not np.any(opt.state[W]["exp_avg"].numpy() == 123.0)
    torch = pytest.importorskip("torch")
    tW, tz = torch.tensor(ref.W0, requires_grad=True), torch.tensor(ref.Z0, requires_grad=True)
    topt = torch.optim.Adam([{"params": [tW]}, {"params": [tz], "lr": 0.01}], lr=0.05)
    tsd = topt.state_dict()
    assert set(tsd["param_groups"][0]) >= set(sd["param_groups"][0])


def test_load_state_dict_copies_and_does_not_alias():
    W, z = problem_params()
    opt = optim.SGD([W, z], lr=0.01, momentum=0.9)
    train(opt, [W, z], 2)
    sd = opt.state_dict()
    W2, z2 = problem_params()
    opt2 = optim.SGD([W2, z2], lr=0.5, momentum=0.1)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["momentum"] == 0.9
    buf = sd["state"][0]["momentum_buffer"].numpy().copy()
    train(opt2, [W2, z2], 2)
    np.testing.assert_array_equal(sd["state"][0]["momentum_buffer"].numpy(), buf)


def test_load_state_dict_errors():
    W, z = problem_params()
    opt = optim.SGD([W, z], lr=0.01, momentum=0.9)
    train(opt, [W, z], 1)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="1 parameter groups but this optimizer has 2"):
        optim.SGD([{"params": [W]}, {"params": [z]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="saved group 0 has 2 parameters .* has 1"):
        optim.SGD([W], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"shape \(3, 2\) but the parameter has shape \(3,\)"):
        optim.SGD([z, W], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="keys 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "cls,kwargs,match",
    [
        (optim.SGD, dict(lr=0.0), r"invalid learning rate lr=0\.0"),
        (optim.SGD, dict(lr=-0.1), r"invalid learning rate lr=-0\.1"),
        (optim.SGD, dict(lr=0.1, momentum=-0.5), r"momentum=-0\.5"),
        (optim.SGD, dict(lr=0.1, weight_decay=-1), "weight_decay=-1"),
        (optim.SGD, dict(lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening=0.1"),
        (optim.Adam, dict(lr=-1e-3), "learning rate lr=-0.001"),
        (optim.Adam, dict(betas=(1.0, 0.999)), "beta parameter at index 0: 1.0"),
        (optim.Adam, dict(betas=(0.9, -0.1)), r"beta parameter at index 1: -0\.1"),
        (optim.Adam, dict(betas=0.9), "betas must be a pair"),
        (optim.Adam, dict(eps=-1e-8), "eps=-1e-08"),
        (optim.AdamW, dict(weight_decay=-0.01), r"weight_decay=-0\.01"),
        (optim.AdamW, dict(betas=(0.9, 1.5)), "index 1: 1.5"),
        (optim.RMSprop, dict(alpha=-0.1), r"alpha=-0\.1"),
        (optim.RMSprop, dict(momentum=-0.9), r"momentum=-0\.9"),
        (optim.RMSprop, dict(eps=-1.0), r"eps=-1\.0"),
        (optim.Adagrad, dict(lr_decay=-0.5), r"lr_decay=-0\.5"),
        (optim.Adagrad, dict(initial_accumulator_value=-1.0), "initial_accumulator_value=-1.0"),
        (optim.Adagrad, dict(lr="0.1"), "learning rate lr='0.1'"),
    ],
)
def test_invalid_hyperparameters(cls, kwargs, match):
    W, _ = problem_params()
    with pytest.raises(ValueError, match=match):
        cls([W], **kwargs)


def test_invalid_hyperparameter_in_a_group_names_the_group():
    W, z = problem_params()
    with pytest.raises(ValueError, match=r"group 1.*lr=-0\.5"):
        optim.SGD([{"params": [W]}, {"params": [z], "lr": -0.5}], lr=0.1)


def test_invalid_params():
    W, z = problem_params()
    frozen = tc.Tensor(np.ones(4))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match=r"parameter 1 of group 0 \(shape \(4,\)\) does not"):
        optim.SGD([W, frozen], lr=0.1)
    with pytest.raises(TypeError, match="parameter 1 of group 0 is a ndarray, not a Tensor"):
        optim.Adam([W, np.ones(3)])
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(W, lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD({W, z}, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([W, z, W], lr=0.1)
    with pytest.raises(ValueError, match="not a leaf tensor"):
        optim.SGD([W * 2], lr=0.1)
    with pytest.raises(ValueError, match="group 1 has an empty parameter list"):
        optim.SGD([{"params": [W]}, {"params": []}], lr=0.1)
    with pytest.raises(ValueError, match="has no 'params'"):
        optim.SGD([{"lr": 0.1}], lr=0.1)


def test_generator_of_params_and_repr():
    W, z = problem_params()
    opt = optim.RMSprop(p for p in [W, z])
    assert len(opt.param_groups[0]["params"]) == 2
    text = repr(opt)
    assert text.startswith("RMSprop (") and "lr: 0.01" in text and "alpha: 0.99" in text


def test_state_follows_a_parameter_to_another_device():
    if not tc.gpu_available():
        pytest.skip("needs a GPU to move a parameter between devices")
    W, z = problem_params()
    opt = optim.Adam([W, z], lr=0.05)
    train(opt, [W, z], 2)
    W.data, z.data = W.to("gpu").data, z.to("gpu").data
    W.grad = z.grad = None
    train(opt, [W, z], 2)
    assert opt.state[W]["exp_avg"].device == "gpu"
    expected = ref.trajectory(ref.Adam(lr=0.05), 4)[-1]
    np.testing.assert_allclose(W.numpy(), expected[0], rtol=1e-9, atol=1e-9)
