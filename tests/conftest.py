"""Shared test set-up: Hypothesis profiles and the device parametrization."""

import os

import pytest
from hypothesis import HealthCheck, settings

import tinygrad_cnn as tc

# ci: derandomized and bounded, for CI and the README's test command;
# dev: the default for local runs; thorough: many more examples, before a release.
settings.register_profile(
    "ci", derandomize=True, max_examples=15, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
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

GPU_SKIP_REASON = tc.backend.gpu_unavailable_reason()

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


@pytest.fixture(params=DEVICES)
def device(request):
    """Run a test once per device; the GPU run skips with the reason when CUDA is unusable."""
    return request.param


@pytest.fixture(autouse=True)
def _seeded():
    tc.manual_seed(0)
    yield
    tc.set_default_device(None)
