"""PyTorch spellings code written for torch reaches for: ``tc.device``, ``tc.cuda.is_available``,
``tc.inference_mode``, ``Tensor.type``, ``Module.half``, ``tc.utils.data``; each against
PyTorch's own behaviour where it is installed."""

import threading

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import nn


def test_device_objects_work_where_device_names_do(device):
    d = tc.device("cuda" if device == "gpu" else "cpu")
    assert isinstance(d, str) and d.type == ("cuda" if device == "gpu" else "cpu")
    assert d.index is None
    x = tc.ones(2).to(d)
    assert x.device == device
    assert tc.zeros(3, device=d).device == device
    assert nn.Linear(2, 2).to(d).weight.device == device


def test_device_names_types_indices_and_refusals():
    assert repr(tc.device("cpu")) == "device(type='cpu')"
    zero = tc.device("cuda", 0)
    assert zero == "cuda:0" and zero.type == "cuda" and zero.index == 0
    assert repr(tc.device("CUDA:0")) == "device(type='cuda', index=0)"
    assert tc.device("gpu").type == "cuda"  # our name for the same device
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        tc.device("tpu")
    with pytest.raises(ValueError, match="unknown device 'cuda:1'"):
        tc.device("cuda", 1)  # one GPU per process here


def test_torch_cuda_functions():
    assert tc.cuda.is_available() == tc.gpu_available()
    assert tc.cuda.device_count() == (0 if not tc.gpu_available() else tc.cuda.device_count())
    assert tc.cuda.device_count() >= (1 if tc.gpu_available() else 0)
    assert tc.cuda.synchronize() is None  # nothing queued, or waited for


def test_pytorch_device_objects_behave_alike():
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")
    for ours, theirs in ((tc.device("cpu"), torch.device("cpu")),
                         (tc.device("cuda:0"), torch.device("cuda:0")),
                         (tc.device("cuda", 0), torch.device("cuda", 0))):
        assert (ours.type, ours.index, str(ours)) == (theirs.type, theirs.index, str(theirs))
        assert repr(ours) == repr(theirs)


def test_inference_mode_in_every_form():
    assert tc.is_grad_enabled()
    with tc.inference_mode():
        assert not tc.is_grad_enabled()
        y = tc.ones(2, requires_grad=True) * 2
        assert not y.requires_grad
    assert tc.is_grad_enabled()
    with tc.inference_mode(False):  # leaves the mode as it is, in either mode
        assert tc.is_grad_enabled()
        with tc.no_grad(), tc.inference_mode(False):
            assert not tc.is_grad_enabled()

    @tc.inference_mode
    def bare():
        return tc.is_grad_enabled()

    @tc.inference_mode()
    def called():
        return tc.is_grad_enabled()

    assert bare() is False and called() is False and tc.is_grad_enabled()
    with pytest.raises(KeyError):
        with tc.inference_mode():
            raise KeyError("restored after an error too")
    assert tc.is_grad_enabled()


def test_inference_mode_is_per_thread():
    seen = []
    inside, done = threading.Event(), threading.Event()

    def other():
        inside.wait()
        seen.append(tc.is_grad_enabled())
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with tc.inference_mode():
        inside.set()
        done.wait(10)
    thread.join()
    assert seen == [True]


def test_tensor_type_names_and_casts(device):
    x = tc.ones(2, device=device)
    prefix = "tinygrad_cnn.cuda." if device == "gpu" else "tinygrad_cnn."
    assert x.type() == prefix + "FloatTensor"
    assert x.long().type() == prefix + "LongTensor" and x.bool().type() == prefix + "BoolTensor"
    assert x.type(tc.float64).dtype == np.float64 and x.type(tc.float32) is x
    assert x.type("torch.IntTensor").dtype == np.int32
    assert x.type("tinygrad_cnn.DoubleTensor").device == "cpu"


def test_tensor_type_matches_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")
    for dtype, theirs in ((tc.float32, torch.float32), (tc.float64, torch.float64),
                          (tc.int64, torch.int64), (tc.uint8, torch.uint8), (tc.bool_, torch.bool),
                          (tc.int8, torch.int8), (tc.int16, torch.int16), (tc.float16,
                                                                            torch.float16)):
        ours = tc.zeros(1, dtype=dtype, device="cpu").type().replace("tinygrad_cnn.", "torch.")
        assert ours == torch.zeros(1, dtype=theirs).type()
        name = torch.zeros(1, dtype=theirs).type()
        assert str(tc.ones(1, device="cpu").type(name).dtype) == str(
            torch.ones(1).type(name).dtype).split(".")[1]


def test_module_half_casts_floating_state():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    assert model.half() is model
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float16)}
    assert model[1].running_mean.dtype == np.float16
    assert model[1].num_batches_tracked.dtype == np.int64  # integer buffers are kept


def test_torch_utils_data_names_are_the_data_packages_objects():
    from tinygrad_cnn.utils.data import DataLoader, TensorDataset, random_split

    assert DataLoader is tc.data.DataLoader and TensorDataset is tc.data.TensorDataset
    assert tc.utils.data.random_split is random_split is tc.data.random_split
    batches = list(DataLoader(TensorDataset(tc.arange(6.0).reshape(3, 2)), batch_size=2))
    np.testing.assert_array_equal(batches[0][0].numpy(), [[0.0, 1.0], [2.0, 3.0]])


def test_add_module_get_submodule_get_parameter_get_buffer():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seq.add_module("out", nn.Linear(3, 1))  # a container appends it under the name
    assert [n for n, _ in seq.named_children()] == ["0", "1", "out"]
    assert seq(tc.ones(4, 2)).shape == (4, 1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_module("body", nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))

        def forward(self, x):
            return self.body(x)

    net = Net()
    assert net.get_submodule("") is net and net.get_submodule("body.1") is net.body[1]
    assert net.get_parameter("body.0.weight") is net.body[0].weight
    assert net.get_buffer("body.1.running_var") is net.body[1].running_var
    with pytest.raises(AttributeError, match=r"get_submodule: body has no submodule '7' "
                                             r"\(path 'body.7'\)"):
        net.get_parameter("body.7.weight")
    with pytest.raises(AttributeError, match="get_parameter: body.1 has no parameter 'nope'"):
        net.get_parameter("body.1.nope")
    with pytest.raises(AttributeError, match="get_buffer: body.0 has no buffer 'weight'"):
        net.get_buffer("body.0.weight")  # a parameter, not a buffer
    for name, error in (("a.b", KeyError), ("", KeyError), ("training", KeyError),
                        ("forward", KeyError)):
        with pytest.raises(error, match="add_module"):
            net.add_module(name, nn.ReLU())
    with pytest.raises(TypeError, match="add_module: 'x' must be an nn.Module or None, got int"):
        net.add_module("x", 3)


def test_submodule_lookups_match_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")
    ours = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3),
                                 torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(3, 1)))
    for path in ("0", "1", "1.1"):
        assert type(ours.get_submodule(path)).__name__ == type(theirs.get_submodule(path)).__name__
    assert ours.get_parameter("1.1.bias").shape == tuple(theirs.get_parameter("1.1.bias").shape)
    ours.add_module("tail", nn.ReLU())
    theirs.add_module("tail", torch.nn.ReLU())
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    for model in (ours, theirs):
        with pytest.raises(AttributeError):
            model.get_submodule("1.5")
