"""Fused optimizer kernels (tinygrad_cnn/cuda/optim.py) against the generic update rules.

On the CPU the kernels run through the g++ host runner (tests/cuda_host.py): several steps of
each optimizer, every option, float32 and float64, must give the parameters and state of the
generic NumPy path, with one kernel launch per parameter per step. On a GPU the same trajectories
are compared with ``TINYGRAD_CNN_CUDA_KERNELS=0`` (the generic CuPy path).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.cuda as cuda
from tests.conftest import CUDA_SKIP_REASON
from tests.cuda_host import COMPILER, NO_COMPILER_REASON, shared_runner
from tinygrad_cnn import optim
from tinygrad_cnn.tensor import Tensor

pytestmark = pytest.mark.skipif(COMPILER is None, reason=NO_COMPILER_REASON)

SHAPES = [(3, 4), (5,), (2, 3, 2)]
STEPS = 4
KERNEL = {"SGD": "tc_sgd_step", "Adam": "tc_adam_step", "AdamW": "tc_adam_step",
          "RMSprop": "tc_rmsprop_step", "Adagrad": "tc_adagrad_step"}

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.01, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.02, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.005, momentum=0.5, maximize=True)),
    ("RMSprop", dict(lr=0.005, momentum=0.3, centered=True, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-3, maximize=True)),
]
IDS = [f"{name}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CONFIGS]
TOLERANCE = {np.float32: dict(rtol=1e-6, atol=1e-7), np.float64: dict(rtol=1e-13, atol=1e-15)}

runner = shared_runner


def trajectory(name, options, dtype, steps=STEPS, device="cpu", seed=0):
    """Parameters and optimizer state after ``steps`` steps on fixed random gradients; one
    gradient is a transposed (non-contiguous) view, and the last parameter skips step 2."""
    rng = np.random.default_rng(seed)
    params = [tc.tensor(rng.standard_normal(s).astype(dtype), device=device, requires_grad=True)
              for s in SHAPES]
    opt = getattr(optim, name)(params, **options)
    for step in range(steps):
        for i, (p, shape) in enumerate(zip(params, SHAPES, strict=True)):
            g = rng.standard_normal(shape[::-1]).astype(dtype).T if i == 0 else \
                rng.standard_normal(shape).astype(dtype)
            g = tc.backend.to_device(g, device) if device != "cpu" else g
            p.grad = None if (i == len(params) - 1 and step == 2) else Tensor._from_array(g)
        assert not params[0].grad.data.flags.c_contiguous
        opt.step()
    state = opt.state_dict()["state"]
    return ([p.numpy() for p in params],
            {(i, k): (v.numpy() if isinstance(v, Tensor) else v)
             for i, entries in state.items() for k, v in entries.items()})


def assert_same(a, b, dtype):
    params_a, state_a = a
    params_b, state_b = b
    for x, y in zip(params_a, params_b, strict=True):
        np.testing.assert_allclose(x, y, **TOLERANCE[dtype])
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        np.testing.assert_allclose(state_a[key], state_b[key], **TOLERANCE[dtype], err_msg=key)


def fused_trajectory(name, options, dtype, **kwargs):
    host = runner()
    before = len(host.launches)
    with cuda.running_on_host(host):
        result = trajectory(name, options, dtype, **kwargs)
    return result, host.launches[before:]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=IDS)
def test_fused_step_matches_the_generic_rule(name, options, dtype):
    generic = trajectory(name, options, dtype)
    fused, launches = fused_trajectory(name, options, dtype)
    assert_same(fused, generic, dtype)
    # one launch per parameter that has a gradient, per step
    assert launches == [KERNEL[name]] * (len(SHAPES) * STEPS - 1)


@given(
    name=st.sampled_from(["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]),
    lr=st.floats(1e-4, 0.5),
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    dampening=st.sampled_from([0.0, 0.2]),
    nesterov=st.booleans(),
    weight_decay=st.sampled_from([0.0, 1e-3, 0.2]),
    beta1=st.floats(0.0, 0.95),
    beta2=st.floats(0.5, 0.999),
    eps=st.sampled_from([1e-8, 1e-3]),
    alpha=st.floats(0.5, 0.99),
    flag=st.booleans(),
    maximize=st.booleans(),
    lr_decay=st.sampled_from([0.0, 0.1]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_fused_step_matches_for_any_hyperparameters(name, lr, momentum, dampening, nesterov,
                                                    weight_decay, beta1, beta2, eps, alpha,
                                                    flag, maximize, lr_decay, dtype):
    if name == "SGD":
        nesterov = nesterov and momentum > 0
        options = dict(lr=lr, momentum=momentum, dampening=0.0 if nesterov else dampening,
                       nesterov=nesterov, weight_decay=weight_decay)
    elif name in ("Adam", "AdamW"):
        options = dict(lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
                       amsgrad=flag)
    elif name == "RMSprop":
        options = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                       momentum=momentum, centered=flag)
    else:
        options = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                       initial_accumulator_value=0.1 if flag else 0.0)
    options["maximize"] = maximize
    fused, launches = fused_trajectory(name, options, dtype, steps=3, seed=1)
    assert_same(fused, trajectory(name, options, dtype, steps=3, seed=1), dtype)
    assert launches and set(launches) == {KERNEL[name]}


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
def test_amsgrad_switched_on_later_creates_its_buffer_like_the_generic_rule():
    def run(fused):
        p = tc.tensor(np.linspace(-1, 1, 6), requires_grad=True)
        opt = optim.Adam([p], lr=0.1)
        for step in range(4):
            if step == 2:
                opt.param_groups[0]["amsgrad"] = True
            p.grad = Tensor._from_array(np.cos(np.arange(6.0) + step))
            if fused:
                with cuda.running_on_host(runner()):
                    opt.step()
            else:
                opt.step()
        return p.numpy(), opt.state[p]["max_exp_avg_sq"].numpy()

    for a, b in zip(run(True), run(False), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_arrays_a_kernel_cannot_take_fall_back_to_the_generic_rule(name):
    options = {"SGD": dict(lr=0.1, momentum=0.9)}.get(name, dict(lr=0.1))

    def run(fused, dtype, transposed):
        base = np.arange(1.0, 7.0).reshape(2, 3).astype(dtype)
        p = Tensor._from_array(base.T.copy().T if transposed else base.copy())
        p.requires_grad = True
        opt = getattr(optim, name)([p], **options)
        host = runner()
        before = len(host.launches)
        for step in range(3):
            p.grad = Tensor._from_array((np.sin(base + step)).astype(dtype))
            if fused:
                with cuda.running_on_host(host):
                    opt.step()
            else:
                opt.step()
        return p.numpy().copy(), host.launches[before:]

    for dtype, transposed in ((np.float16, False), (np.float64, True)):
        fused, launches = run(True, dtype, transposed)
        generic, _ = run(False, dtype, transposed)
        assert launches == []  # float16, or a non-contiguous parameter: no kernel
        np.testing.assert_array_equal(fused, generic)


def test_kernels_switched_off_take_the_generic_rule(monkeypatch):
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    _, launches = fused_trajectory("Adam", dict(lr=0.1), np.float32)
    assert launches == []


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=IDS)
def test_gpu_fused_step_matches_the_generic_cupy_path(name, options, dtype, monkeypatch):
    fused = trajectory(name, options, dtype, device="gpu")
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    generic = trajectory(name, options, dtype, device="gpu")
    # NVRTC may fuse a * b + c into one rounding: float32 agrees to a few ulps, not bit for bit
    tolerance = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else TOLERANCE[dtype]
    for x, y in zip(fused[0], generic[0], strict=True):
        np.testing.assert_allclose(x, y, **tolerance)
    for key in fused[1]:
        np.testing.assert_allclose(fused[1][key], generic[1][key], **tolerance, err_msg=key)
