"""Shared test set-up: Hypothesis profiles, the device parametrization and the cpu_only marker."""

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

import tinygrad_cnn as tc

# ci: derandomized and bounded, for CI and the README's test command;
# dev: the default for local runs; thorough: many more examples, before a release.
settings.register_profile(
    "ci", derandomize=True, max_examples=15, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# gpu-check: ci without shrinking, for the short device runs of scripts/gpu-check.sh, where a
# failure's first example is enough and shrinking it would spend the device's minutes
settings.register_profile(
    "gpu-check", derandomize=True, max_examples=15, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
settings.register_profile(
    "dev", max_examples=40, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough", max_examples=400, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Tests compare runs bit for bit (resumed training against an uninterrupted run, ...), also with
# the GPU as default device: cuDNN's deterministic engines only, not PyTorch's default (our
# default too; test_backends_tf32.py checks it in a fresh process, test_cudnn_conv.py runs it)
tc.backends.cudnn.deterministic = True

# TINYGRAD_CNN_HOST_KERNELS=1: the whole session runs our CUDA kernels on the CPU through the host
# runner (tests/cuda_host.py), wherever an op would launch one on a GPU. With
# TINYGRAD_CNN_FAKE_GPU=1 TINYGRAD_CNN_DEVICE=gpu the suite then takes the GPU's code path end to
# end without a GPU (cuDNN aside: the fake CuPy has none, so convolutions take im2col).
HOST_KERNELS_ENV = "TINYGRAD_CNN_HOST_KERNELS"
HOST_KERNELS = os.environ.get(HOST_KERNELS_ENV, "0") != "0"
# for tests that need the generic path next to the kernels', or NumPy without kernels
needs_generic_path = pytest.mark.skipif(
    HOST_KERNELS, reason=f"${HOST_KERNELS_ENV} runs the kernels everywhere: no generic path to "
                         "compare with")
if HOST_KERNELS:
    from tests.cuda_host import shared_runner

    _HOST_KERNELS = tc.cuda.running_on_host(shared_runner())  # kept: its exit would undo it
    _HOST_KERNELS.__enter__()  # for the whole session

GPU_SKIP_REASON = tc.backend.gpu_unavailable_reason()
# Tests of the CUDA kernels themselves (and cuBLAS settings) need the real CuPy, not the fake one.
CUDA_SKIP_REASON = GPU_SKIP_REASON or (
    "the fake CuPy ($TINYGRAD_CNN_FAKE_GPU) runs no CUDA kernels"
    if os.environ.get(tc.backend.FAKE_GPU_ENV_VAR) else None
)

DEVICES = [
    "cpu",
    pytest.param(
        "gpu",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(GPU_SKIP_REASON is not None, reason=f"no GPU: {GPU_SKIP_REASON}"),
        ],
    ),
]


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.cpu_only(reason)``: a test about the CPU on purpose (memory shared with
    NumPy, tracemalloc, thread pools, worker processes, CPU-only oracles). It runs as usual when
    the default device is the CPU and skips, with its reason, when $TINYGRAD_CNN_DEVICE=gpu."""
    try:
        default = tc.backend.get_default_device()
    except (RuntimeError, ValueError) as e:  # $TINYGRAD_CNN_DEVICE names a GPU that is unusable
        raise pytest.UsageError(str(e)) from None
    for item in items:
        for mark in item.iter_markers("cpu_only"):
            if len(mark.args) != 1 or not isinstance(mark.args[0], str) or not mark.args[0]:
                raise pytest.UsageError(f"{item.nodeid}: cpu_only needs one reason string, "
                                        f"got {mark.args!r}")
        mark = item.get_closest_marker("cpu_only")
        if mark is not None and default != tc.backend.CPU:
            item.add_marker(pytest.mark.skip(
                reason=f"cpu_only ({mark.args[0]}); the default device is {default}"))


@pytest.fixture(params=DEVICES)
def device(request):
    """Run a test once per device; the GPU run skips with the reason when CUDA is unusable."""
    return request.param


@pytest.fixture(autouse=True)
def _seeded():
    tc.manual_seed(0)
    yield
    tc.set_default_device(None)
