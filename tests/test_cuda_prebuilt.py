"""The cubins shipped in the package (tinygrad_cnn/cuda/prebuilt.py): current for every kernel,
CUDA ELF for the right GPUs, reproducible, loaded instead of a compile, and left to NVRTC where
they cannot serve."""

import sys
import zipfile

import numpy as np
import pytest

from tests.conftest import CUDA_SKIP_REASON
from tests.cuda_host import NO_NVRTC_REASON, NVRTC
from tests.recording_cupy import RecordingCuPy
from tinygrad_cnn.cuda import activation, kernel, optim, prebuilt
from tinygrad_cnn.cuda.kernel import Kernel

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
EM_CUDA = 190  # the ELF machine number of NVIDIA's GPU code


def test_every_kernel_has_a_current_cubin_for_each_shipped_architecture():
    wanted = {prebuilt.entry_name(k, d): k.name for k in kernel.registered_kernels()
              for d in DTYPES}
    for arch in prebuilt.ARCHITECTURES:
        with zipfile.ZipFile(prebuilt.archive_path(arch)) as archive:
            shipped = set(archive.namelist())
        missing = sorted({name for entry, name in wanted.items() if entry not in shipped})
        assert not missing, (f"sm_{arch}: no current cubin for {missing} (edited since the "
                             "build?): run python scripts/build_cubins.py and commit the zips")
        assert shipped == set(wanted), f"sm_{arch}: stale entries {sorted(shipped - set(wanted))}"


@pytest.mark.parametrize("arch", prebuilt.ARCHITECTURES)
def test_the_shipped_cubins_are_cuda_elf_files(arch):
    with zipfile.ZipFile(prebuilt.archive_path(arch)) as archive:
        for name in archive.namelist():
            cubin = archive.read(name)
            assert cubin[:4] == b"\x7fELF", name
            assert int.from_bytes(cubin[18:20], "little") == EM_CUDA, name


def test_a_gpu_takes_the_cubins_of_its_major_version_not_above_it():
    assert prebuilt.ARCHITECTURES == (80, 90)
    for capability, arch in [(80, 80), (86, 80), (89, 80), (90, 90), (75, None), (100, None),
                             (120, None)]:
        assert prebuilt.shipped_architecture(capability) == arch, capability


@pytest.mark.skipif(NVRTC is None, reason=NO_NVRTC_REASON)
def test_a_build_is_byte_for_byte_reproducible_and_names_a_kernel_that_fails(tmp_path):
    first = prebuilt.build([activation.RELU], [90], tmp_path / "a")
    again = prebuilt.build([activation.RELU], [90], tmp_path / "b")
    assert first[0].read_bytes() == again[0].read_bytes()
    with zipfile.ZipFile(first[0]) as archive:
        assert archive.namelist() == sorted(prebuilt.entry_name(activation.RELU, d)
                                            for d in DTYPES)
    broken = Kernel("tc_test_broken", 'extern "C" __global__ void tc_test_broken() { nope; }',
                    register=False)
    with pytest.raises(RuntimeError, match=r"tc_test_broken \(float32\) does not compile for "
                                           r"sm_80(.|\n)*nope"):
        prebuilt.build([broken], [80], tmp_path / "c")


def test_an_edit_changes_the_entry_so_a_stale_cubin_is_never_loaded():
    relu = activation.RELU
    edited = Kernel(relu.name, relu.body.replace("0", "0 ", 1), register=False)
    for dtype in DTYPES:
        assert prebuilt.entry_name(edited, dtype) != prebuilt.entry_name(relu, dtype)
    assert prebuilt.entry_name(relu, DTYPES[0]) != prebuilt.entry_name(relu, DTYPES[1])


@pytest.fixture
def fresh_kernels(monkeypatch):
    """Kernels that have loaded or compiled nothing yet, and no device's architecture known."""
    monkeypatch.setattr(kernel, "_compiling", {})
    monkeypatch.setattr(kernel, "_runtime", None)
    monkeypatch.setattr(prebuilt, "_architectures", {})
    monkeypatch.setattr(prebuilt, "failures", {})
    for k in kernel.registered_kernels():
        monkeypatch.setattr(k, "_functions", {})
    return kernel.registered_kernels()


def _use(monkeypatch, fake):
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


def test_a_hopper_gpu_loads_every_kernel_from_its_cubin_and_compiles_none(monkeypatch,
                                                                           fresh_kernels):
    fake = _use(monkeypatch, RecordingCuPy(compute_capability="90"))
    for k in (activation.RELU, optim.SGD_KERNEL):
        k._launch_cupy(np.float32, 10, ())
    kernel.wait_for_compiles()
    assert fake.compiled == [] and fake.calls == ["tc_relu", "tc_sgd_step"]
    with zipfile.ZipFile(prebuilt.archive_path(90)) as archive:
        assert fake.loaded == [archive.read(prebuilt.entry_name(activation.RELU, DTYPES[0])),
                               archive.read(prebuilt.entry_name(optim.SGD_KERNEL, DTYPES[0]))]


def test_an_ada_gpu_loads_the_sm_80_cubins(monkeypatch, fresh_kernels):
    fake = _use(monkeypatch, RecordingCuPy(compute_capability="89"))
    activation.RELU._launch_cupy(np.float64, 10, ())
    with zipfile.ZipFile(prebuilt.archive_path(80)) as archive:
        assert fake.loaded == [archive.read(prebuilt.entry_name(activation.RELU, DTYPES[1]))]
    assert fake.compiled == []


@pytest.mark.parametrize("how", ["older GPU", "switched off", "driver refuses"])
def test_without_a_usable_cubin_every_kernel_compiles_as_before(monkeypatch, fresh_kernels, how):
    fake = _use(monkeypatch, RecordingCuPy(compute_capability="75" if how == "older GPU" else "90",
                                           refuse_cubins=how == "driver refuses"))
    if how == "switched off":
        monkeypatch.setenv(prebuilt.ENV_SWITCH, "0")
    activation.RELU._launch_cupy(np.float32, 10, ())
    kernel.wait_for_compiles()
    assert fake.calls == ["tc_relu"] and fake.loaded == []
    if how == "driver refuses":  # that kernel compiles; the others still try their cubins
        assert len(fake.compiled) == 1 and "tc_relu" in fake.compiled[0]
        assert list(prebuilt.failures.values()) == [
            "RuntimeError: CUDA_ERROR_UNSUPPORTED_PTX_VERSION"]
    else:
        assert len(fake.compiled) == len(fresh_kernels)


def test_a_kernel_without_a_cubin_compiles_alone_beside_the_shipped_ones(monkeypatch,
                                                                          fresh_kernels):
    fake = _use(monkeypatch, RecordingCuPy(compute_capability="90"))
    late = Kernel("tc_test_late", 'extern "C" __global__ void tc_test_late(T* x, long long n) '
                  "{ TC_GRID_STRIDE(i, n) { x[i] = 0; } }", register=False)
    late._launch_cupy(np.float32, 10, ())
    activation.RELU._launch_cupy(np.float32, 10, ())
    kernel.wait_for_compiles()
    assert len(fake.compiled) == 1 and "tc_test_late" in fake.compiled[0]
    assert len(fake.loaded) == 1 and fake.calls == ["tc_test_late", "tc_relu"]


def _gpu_architecture():
    import cupy  # noqa: PLC0415

    return prebuilt.shipped_architecture(int(cupy.cuda.Device().compute_capability))


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_the_shipped_cubins_load_on_this_gpu_and_compute_what_a_compile_does(dtype):
    import cupy  # noqa: PLC0415

    if _gpu_architecture() is None:
        pytest.skip(f"no cubins shipped for compute capability "
                    f"{cupy.cuda.Device().compute_capability}")
    device = cupy.cuda.runtime.getDevice()
    for k in kernel.registered_kernels():
        assert prebuilt.load(k, dtype, device) is not None, (k.name, prebuilt.failures)
    x = cupy.asarray(np.random.default_rng(0).normal(size=1000).astype(dtype))
    outputs = []
    for function in (prebuilt.load(activation.RELU, dtype, device),
                     kernel._compile(activation.RELU, dtype, device)):
        y = cupy.empty_like(x)
        function((4,), (256,), (x, y, np.int64(x.size)))
        outputs.append(cupy.asnumpy(y))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[0], np.maximum(cupy.asnumpy(x), 0))


def test_info_says_how_a_gpu_gets_the_kernels(monkeypatch):
    assert prebuilt.describe(90) == "shipped cubins for sm_90"
    assert prebuilt.describe(86) == "shipped cubins for sm_80"
    assert prebuilt.describe(75) == ("compiled on first use (no cubins shipped for compute "
                                     "capability 7.5; shipped: sm_80, sm_90)")
    monkeypatch.setenv(prebuilt.ENV_SWITCH, "0")
    assert prebuilt.describe(90) == "compiled on first use (TINYGRAD_CNN_PREBUILT_KERNELS=0)"
