"""PyTorch weights in and out through safetensors (issue 15, section 2): a state dict PyTorch saved
with safetensors.torch.save_file loads into the matching tinygrad_cnn model with
load_state_dict(tc.load(path)), and tc.save(model.state_dict(), path) gives a file PyTorch's
load_state_dict(safetensors.torch.load_file(path)) accepts. The PyTorch twins are written here in
plain torch.nn with the same module structure, hence the same key names; logits are compared."""

import numpy as np
import pytest

import tinygrad_cnn as tc

torch = pytest.importorskip("torch", reason="PyTorch is an optional test oracle")
safetensors_torch = pytest.importorskip("safetensors.torch",
                                        reason="the safetensors package is not installed")
tnn = torch.nn


def torch_lenet5():
    """tc.models.lenet5() for 28x28 inputs, in PyTorch."""
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(),
        tnn.Linear(16 * 5 * 5, 120), tnn.ReLU(),
        tnn.Linear(120, 84), tnn.ReLU(),
        tnn.Linear(84, 10),
    )


def torch_digits_cnn(width=32):
    """tc.models.digits_cnn() in PyTorch (BatchNorm: running statistics and a 0-d int64)."""
    return tnn.Sequential(
        tnn.Conv2d(1, width, 3, padding=1), tnn.BatchNorm2d(width), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(width, 2 * width, 3, padding=1), tnn.BatchNorm2d(2 * width), tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Flatten(),
        tnn.Linear(2 * width * 2 * 2, 64), tnn.ReLU(),
        tnn.Linear(64, 10),
    )


def torch_resnet18():
    """torchvision's ResNet-18, as tests/torch_zoo.py copies it in plain torch.nn."""
    from torch_zoo import resnet18

    return resnet18(num_classes=10)


MODELS = {
    "lenet5": (tc.models.lenet5, torch_lenet5, (4, 1, 28, 28)),
    "digits_cnn": (tc.models.digits_cnn, torch_digits_cnn, (5, 1, 8, 8)),
    "resnet18": (lambda: tc.models.resnet18(num_classes=10), torch_resnet18, (3, 3, 32, 32)),
}


def trained_a_little(model, shape, framework):
    """Give BatchNorm real running statistics (a few training-mode forwards), then eval()."""
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.normal(size=shape).astype(np.float32)
        if framework == "torch":
            with torch.no_grad():
                model(torch.from_numpy(x))
        else:
            with tc.no_grad():
                model(tc.Tensor(x))
    model.eval()
    return model


def logits_both(tc_model, torch_model, shape):
    x = np.random.default_rng(2).normal(size=shape).astype(np.float32)
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(x)).numpy()
    with tc.no_grad():
        got = tc_model(tc.Tensor(x)).numpy()
    return got, expected


@pytest.mark.parametrize("name", sorted(MODELS))
def test_pytorch_weights_load_into_the_matching_model(tmp_path, name):
    build_tc, build_torch, shape = MODELS[name]
    torch.manual_seed(0)
    torch_model = trained_a_little(build_torch(), shape, "torch")
    path = tmp_path / "torch_weights.safetensors"
    safetensors_torch.save_file(torch_model.state_dict(), str(path))

    model = build_tc().eval()
    weights = tc.load(path)  # a plain safetensors file: a flat {name: Tensor} dict
    assert list(weights) == sorted(torch_model.state_dict())
    model.load_state_dict(weights)
    got, expected = logits_both(model, torch_model, shape)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    for key, value in torch_model.state_dict().items():  # bit for bit, dtypes included
        mine = model.state_dict()[key].numpy()
        assert mine.dtype == value.numpy().dtype, key
        np.testing.assert_array_equal(mine, value.numpy(), err_msg=key)


@pytest.mark.parametrize("name,suffix", [(name, ".safetensors") for name in sorted(MODELS)]
                         + [("lenet5", ".ckpt")])
def test_our_weights_load_into_pytorch(tmp_path, name, suffix):
    build_tc, build_torch, shape = MODELS[name]
    tc.manual_seed(0)
    model = trained_a_little(build_tc(), shape, "tc")
    path = tmp_path / f"ours{suffix}"  # .ckpt is safetensors too while the package is installed
    tc.save(model.state_dict(), path)

    torch_model = build_torch().eval()
    result = torch_model.load_state_dict(safetensors_torch.load_file(str(path)))
    assert not result.missing_keys and not result.unexpected_keys
    got, expected = logits_both(model, torch_model, shape)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_a_whole_checkpoint_is_readable_by_pytorch_by_dotted_names(tmp_path):
    model = tc.models.lenet5()
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    path = tmp_path / "run.safetensors"
    tc.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)
    flat = safetensors_torch.load_file(str(path))
    weights = {k[len("model."):]: v for k, v in flat.items() if k.startswith("model.")}
    torch_model = torch_lenet5()
    torch_model.load_state_dict(weights)
    loaded = tc.load(path)  # and the whole tree comes back here
    assert loaded["epoch"] == 3 and set(loaded["model"]) == set(model.state_dict())


@pytest.mark.cpu_only("the page hands tensors to a CPU build of PyTorch through DLPack")
def test_interop_page_examples_run(capsys):
    from pathlib import Path

    from test_serialization import python_blocks

    page = Path(__file__).resolve().parents[1] / "docs" / "interop.md"
    blocks = python_blocks(page)
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        exec(compile(block, f"{page}:block{i}", "exec"), {"__name__": "docs_example"})
    out = capsys.readouterr().out.split("\n")
    assert out[:6] == ["True", "5.0", "[0.0, 10.0, 20.0, 30.0]", "[ 1.  1. -1.]", "True", ""]
