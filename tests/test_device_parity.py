"""CPU-GPU parity: the same seeded small CNN (conv, BatchNorm, max-pool, linear) trained a few
steps on the CPU and on the GPU gives the same losses, parameters and running statistics within
float32 tolerance, with SGD + momentum and with Adam. Skips, with the reason, without a GPU."""

import numpy as np
import pytest

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import nn, optim

GPU_SKIP_REASON = tc.backend.gpu_unavailable_reason()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(GPU_SKIP_REASON is not None, reason=f"no GPU: {GPU_SKIP_REASON}"),
]

OPTIMIZERS = {
    "sgd_momentum": lambda params: optim.SGD(params, lr=0.05, momentum=0.9),
    "adam": lambda params: optim.Adam(params, lr=1e-3),
}
STEPS = 4


def _model():
    # no conv bias before BatchNorm: its gradient is rounding noise (BN removes the mean), and
    # Adam's first step, lr * sign(g), would turn that noise into +-lr on each device
    # built on the CPU whatever the default device, so both runs start from the same draws
    tc.manual_seed(0)
    tc.set_default_device("cpu")
    try:
        return nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1, bias=False),  # (N, 6, 8, 8)
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.MaxPool2d(2),                            # (N, 6, 4, 4)
            nn.Flatten(),
            nn.Linear(6 * 4 * 4, 5),
        )
    finally:
        tc.set_default_device(None)


def _train(device, make_optimizer, x, y):
    """Losses of STEPS training steps on ``device``, the state afterwards, and the eval-mode
    output, all as host copies."""
    model = _model().to(device)
    opt = make_optimizer(model.parameters())
    xb, yb = tc.tensor(x, device=device), tc.tensor(y, device=device)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    model.eval()
    with tc.no_grad():
        out = model(xb).numpy()
    return np.array(losses), state, out


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_training_on_the_gpu_matches_the_cpu(opt_name):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 5, size=8)
    cpu_losses, cpu_state, cpu_out = _train("cpu", OPTIMIZERS[opt_name], x, y)
    gpu_losses, gpu_state, gpu_out = _train("gpu", OPTIMIZERS[opt_name], x, y)

    assert np.all(np.diff(cpu_losses) < 0), f"the loss should fall on the CPU: {cpu_losses}"
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4, atol=1e-5)
    assert gpu_state.keys() == cpu_state.keys()
    for name, value in cpu_state.items():
        assert gpu_state[name].dtype == value.dtype, name
        np.testing.assert_allclose(gpu_state[name], value, rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(gpu_out, cpu_out, rtol=1e-4, atol=1e-5)
