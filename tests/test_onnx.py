"""tc.onnx.export: every zoo model and the CLI-trained digits model run in onnxruntime and give
our outputs (float32, rtol 1e-4) at two batch sizes; ops it cannot write are named."""

import json

import numpy as np
import pytest

import tinygrad_cnn as tc
from tests.devices import to_default
from tinygrad_cnn import models, nn

onnx = pytest.importorskip("onnx", reason="onnx is not installed (the test extra installs it)")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (the test extra "
                          "installs it)")
from tinygrad_cnn import onnx as tc_onnx  # noqa: E402


def _randomize_batchnorm(model, seed=0):
    """Running statistics and affine parameters away from their defaults, so that exporting
    BatchNorm in eval mode is tested for real."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.data[...] = to_default(rng.normal(0, 0.2, c))
            m.running_var.data[...] = to_default(rng.uniform(0.5, 2.0, c))
            m.weight.data[...] = to_default(rng.uniform(0.5, 1.5, c))
            m.bias.data[...] = to_default(rng.normal(0, 0.2, c))
    return model


def _check_in_onnxruntime(model, path, shape, batches=(2, 5)):
    """Outputs of the ONNX file at two batch sizes against the model's own (eval mode)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model.eval()
    worst = 0.0
    for b in batches:
        x = np.random.default_rng(b).standard_normal((b, *shape)).astype(np.float32)
        ours = model(tc.tensor(x)).numpy()
        theirs = session.run(None, {"input": x})[0]
        assert theirs.shape == ours.shape
        np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-4 * np.abs(ours).max())
        worst = max(worst, float(np.abs(theirs - ours).max() / np.abs(ours).max()))
    return worst


ZOO = [
    ("resnet18", lambda: models.resnet18(num_classes=10), (3, 64, 64)),
    ("vgg11_bn", lambda: models.vgg11_bn(num_classes=10), (3, 32, 32)),
    ("mobilenet_v2", lambda: models.mobilenet_v2(num_classes=10), (3, 64, 64)),
    ("squeezenet1_1", lambda: models.squeezenet1_1(num_classes=10), (3, 64, 64)),
    ("unet", lambda: models.unet(), (3, 32, 32)),
    ("lenet5", lambda: models.lenet5(), (1, 28, 28)),
    ("digits_cnn", lambda: models.digits_cnn(), (1, 8, 8)),
    ("article_cnn", lambda: models.article_cnn((3, 64, 64), 2), (3, 64, 64)),
]


@pytest.mark.parametrize("name, build, shape", ZOO, ids=[z[0] for z in ZOO])
def test_zoo_models_run_in_onnxruntime_like_ours(tmp_path, name, build, shape):
    tc.manual_seed(0)
    model = _randomize_batchnorm(build())
    path = tc_onnx.export(model, tc.zeros(1, *shape), tmp_path / f"{name}.onnx")
    assert model.training  # export leaves the model in the mode it found it
    onnx.checker.check_model(onnx.load(path), full_check=True)
    _check_in_onnxruntime(model, path, shape)


@pytest.mark.parametrize("args", [{"kernel_size": 3, "stride": 1, "padding": 1},
                                  {"kernel_size": 3, "stride": 2, "padding": 1,
                                   "count_include_pad": False},
                                  {"kernel_size": 2},
                                  {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
                                  {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                                   "count_include_pad": False},
                                  {"kernel_size": 3, "stride": 2, "ceil_mode": True}],
                         ids=["include_pad", "exclude_pad", "plain", "ceil_include_pad",
                              "ceil_exclude_pad", "ceil"])
@pytest.mark.parametrize("size", [7, 8])
def test_avg_pool_padding_exports_with_its_count_include_pad(tmp_path, args, size):
    # count_include_pad=True with padding was exported as 0 (edge windows divided by fewer);
    # with ceil_mode too, PyTorch counts the padding but not the windows' overhang past it,
    # which no AveragePool attribute says: that export divided the edge windows wrongly
    model = nn.Sequential(nn.AvgPool2d(**args))
    path = tc_onnx.export(model, tc.zeros(1, 2, size, size), tmp_path / "avg.onnx")
    _check_in_onnxruntime(model, path, (2, size, size))


@pytest.mark.parametrize("args", [{"kernel_size": 3, "stride": 2, "ceil_mode": True},
                                  {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
                                  {"kernel_size": 2, "stride": 2, "ceil_mode": True}])
def test_max_pool_ceil_mode_exports(tmp_path, args):
    model = nn.Sequential(nn.MaxPool2d(**args))
    path = tc_onnx.export(model, tc.zeros(1, 2, 7, 7), tmp_path / "max.onnx")
    _check_in_onnxruntime(model, path, (2, 7, 7))


def test_the_graph_keeps_the_model_s_structure(tmp_path):
    model = _randomize_batchnorm(models.resnet18(num_classes=10))
    path = tc_onnx.export(model, tc.zeros(1, 3, 32, 32), tmp_path / "r.onnx")
    graph = onnx.load(path).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("Conv") == 20 and ops.count("MaxPool") == 1 and ops.count("Gemm") == 1
    assert ops.count("BatchNormalization") == 20  # one node per BatchNorm in eval mode
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_batchnorm_without_affine_parameters_exports_with_ones_and_zeros(tmp_path):
    model = _randomize_running_stats(nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3,
                                                                                   affine=False)))
    path = tc_onnx.export(model, tc.zeros(1, 2, 6, 6), tmp_path / "bn.onnx")
    assert [n.op_type for n in onnx.load(path).graph.node] == ["Conv", "BatchNormalization",
                                                               "Identity"]
    _check_in_onnxruntime(model, path, (2, 6, 6))


def _randomize_running_stats(model, seed=1):
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.data[...] = to_default(rng.normal(0, 0.5, m.num_features))
            m.running_var.data[...] = to_default(rng.uniform(0.5, 2.0, m.num_features))
    return model


def test_fixed_batch_export(tmp_path):
    model = models.lenet5()
    path = tc_onnx.export(model, tc.zeros(3, 1, 28, 28), tmp_path / "l.onnx",
                          dynamic_batch=False)
    dim = onnx.load(path).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_value == 3
    _check_in_onnxruntime(model, path, (1, 28, 28), batches=(3,))


class _Sorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)[:, tc.tensor([2, 0]).numpy()]  # integer-array indexing


def test_an_op_it_cannot_export_is_named_with_its_module(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4), _Sorter())
    with pytest.raises(tc_onnx.OnnxExportError,
                       match=r"cannot export op GetItem \(indexing with ndarray\), used in "
                             r"_Sorter '1'"):
        tc_onnx.export(model, tc.zeros(2, 4), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_export_arguments_are_checked(tmp_path):
    model = models.digits_cnn()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tc_onnx.export(model, tc.zeros(1, 1, 8, 8), tmp_path / "missing" / "m.onnx")
    with pytest.raises(ValueError, match="opset must be an integer >= 13"):
        tc_onnx.export(model, tc.zeros(1, 1, 8, 8), tmp_path / "m.onnx", opset=9)


def test_cli_trained_digits_model_exports_and_runs(tmp_path, capsys):
    from tinygrad_cnn.cli import main

    ckpt, out = tmp_path / "digits.ckpt", tmp_path / "digits.onnx"
    assert main(["train", "--epochs", "1", "--save", str(ckpt), "--json"]) == 0
    capsys.readouterr()
    assert main(["export", "--checkpoint", str(ckpt), "--format", "onnx", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    proto = onnx.load(out)
    props = {p.key: p.value for p in proto.metadata_props}
    assert len(json.loads(props["classes"])) == 10 and len(json.loads(props["mean"])) == 1
    saved = tc.load(ckpt)
    model = models.build_model(saved["model_name"], **saved["model_kwargs"])
    model.load_state_dict(saved["model"])
    _check_in_onnxruntime(model, out, (1, 8, 8))


@pytest.mark.parametrize("argv, message", [
    (["--format", "tflite"], "--format tflite: choose one of onnx"),
    (["--format", "onnx"], "the folder"),
])
def test_cli_export_errors_name_the_flag(tmp_path, capsys, argv, message):
    from tinygrad_cnn.cli import main

    target = tmp_path / "no-such-folder" / "m.onnx" if "onnx" in argv else tmp_path / "m.x"
    assert main(["export", "--checkpoint", str(tmp_path / "none.ckpt"), *argv,
                 str(target)]) == 1
    assert message in capsys.readouterr().err
