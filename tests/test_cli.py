"""The tinygrad-cnn command: every subcommand, --help, and one-line errors with a non-zero exit."""

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn.cli import main

ROOT = Path(__file__).resolve().parents[1]
needs_sklearn = pytest.mark.skipif(
    __import__("importlib").util.find_spec("sklearn") is None,
    reason="scikit-learn is not installed (the main extra): the digits dataset is unavailable")
needs_pillow = pytest.mark.skipif(
    __import__("importlib").util.find_spec("PIL") is None,
    reason="Pillow is not installed (the main extra)")


def run(capsys, *argv):
    """main(argv) in-process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, pattern, expected_code=1):
    assert code == expected_code
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and re.search(pattern, lines[0]), lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The default `tinygrad-cnn train` (digits, 5 epochs) with --save, run once."""
    if __import__("importlib").util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed (the main extra)")
    tmp = tmp_path_factory.mktemp("cli")
    ckpt = tmp / "digits.ckpt"
    plot = tmp / "curves.png"
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["train", "--save", str(ckpt), "--plot", str(plot)])
    return code, buf.getvalue(), ckpt, plot


# --------------------------------------------------------------------------- train


def test_default_train_reaches_97_percent(trained):
    code, out, ckpt, plot = trained
    assert code == 0
    lines = out.strip().splitlines()
    assert [ln.split()[1] for ln in lines if ln.startswith("epoch ")] == \
        ["1/5", "2/5", "3/5", "4/5", "5/5"]
    match = re.fullmatch(r"test accuracy: (0\.\d{3}|1\.000)", lines[-1])
    assert match, lines[-1]
    assert float(match.group(1)) >= 0.97
    assert ckpt.is_file() and plot.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_reproduces_the_test_accuracy(trained, capsys):
    _, out, ckpt, _ = trained
    code, eval_out, _ = run(capsys, "evaluate", "--checkpoint", str(ckpt))
    assert code == 0
    assert eval_out.strip().splitlines()[-1] == out.strip().splitlines()[-1]
    code, eval_json, _ = run(capsys, "evaluate", "--checkpoint", str(ckpt), "--json")
    assert json.loads(eval_json)["samples"] == 359


@needs_pillow
def test_predict_top_classes(trained, capsys, tmp_path):
    from PIL import Image

    _, _, ckpt, _ = trained
    digits = tc.data.load_digits()
    paths = []
    for i in (0, 1, 2):  # real digits written as 8-bit PNGs (0..16 scaled to 0..255)
        img = (digits.tensors[0][i, 0] * 255).astype(np.uint8)
        paths.append(tmp_path / f"digit{i}.png")
        Image.fromarray(img).save(paths[-1])
    code, out, _ = run(capsys, "predict", "--checkpoint", str(ckpt), "--top", "2",
                       *map(str, paths))
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines):
        m = re.fullmatch(rf".*digit{i}\.png: (\d) (0\.\d+|1\.000), (\d) (0\.\d+)", line)
        assert m, line
        assert float(m.group(2)) >= float(m.group(4))
    code, out, _ = run(capsys, "predict", "--checkpoint", str(ckpt), "--json", str(paths[0]))
    result = json.loads(out)[0]
    assert len(result["top"]) == 3 and sum(p for _, p in result["top"]) <= 1.0 + 1e-6


@needs_sklearn
def test_train_json_and_resume(capsys, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    code, out, err = run(capsys, "train", "--epochs", "1", "--save", str(ckpt), "--json")
    assert code == 0 and "model: digits_cnn" in err
    first = json.loads(out)
    assert first["epochs"] == 1 and 0 <= first["test_accuracy"] <= 1
    code, out, _ = run(capsys, "train", "--epochs", "2", "--resume", str(ckpt), "--json")
    second = json.loads(out)
    assert code == 0 and second["history"]["epochs"] == [1, 2]
    assert second["history"]["history"]["loss"][0] == first["history"]["history"]["loss"][0]


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_train_on_generated_mnist_files(capsys, tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        labels = np.arange(n) % 2
        images = rng.integers(0, 60, size=(n, 28, 28))
        images[labels == 1, :, :14] += 180  # class 1 is bright on the left
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    code, out, _ = run(capsys, "train", "--dataset", "mnist", str(tmp_path), "--epochs", "2",
                       "--batch-size", "10", "--val-split", "0")
    assert code == 0 and "60 train / 0 validation / 20 test" in out
    assert re.search(r"test accuracy: \d\.\d{3}$", out.strip())


@needs_pillow
def test_train_on_generated_image_folder(capsys, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(("cat", "dog")):
        (tmp_path / name).mkdir()
        for i in range(6):
            arr = rng.integers(0, 100, size=(20, 20, 3)).astype(np.uint8)
            arr[..., 2] += 150 * label
            Image.fromarray(arr).save(tmp_path / name / f"{i}.png")
    (tmp_path / "dog" / "broken.jpg").write_bytes(b"not a jpeg")
    code, out, err = run(capsys, "train", "--dataset", "folder", str(tmp_path), "--image-size",
                         "12", "--epochs", "1", "--val-split", "0")
    assert code == 0 and "skipped unreadable image" in err and "broken.jpg" in err
    assert "3x12x12, 2 classes" in out and out.strip().splitlines()[-1].startswith("test accuracy")


@needs_pillow
def test_train_a_torchvision_model_on_larger_images(capsys, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(("cat", "dog")):
        (tmp_path / name).mkdir()
        for i in range(4):
            arr = rng.integers(0, 100, size=(40, 40, 3)).astype(np.uint8)
            arr[..., 2] += 150 * label
            Image.fromarray(arr).save(tmp_path / name / f"{i}.png")
    code, out, _ = run(capsys, "train", "--dataset", "folder", str(tmp_path), "--image-size",
                       "32", "--model", "squeezenet1_1", "--epochs", "1", "--val-split", "0",
                       "--test-split", "0.25")
    assert code == 0 and "3x32x32, 2 classes" in out
    assert out.strip().splitlines()[-1].startswith("test accuracy")
    # too small for the model: one line naming the model, the size and the flags to change
    code, _, err = run(capsys, "train", "--dataset", "folder", str(tmp_path), "--image-size",
                       "16", "--model", "vgg11_bn", "--epochs", "1")
    assert_one_line_error(code, err, r"vgg11_bn needs images of at least 32x32, got 16x16; "
                                     r"pick another --model or resize with --image-size")


# --------------------------------------------------------------------------- other commands


def test_summary(capsys):
    code, out, _ = run(capsys, "summary", "--model", "lenet5")
    assert code == 0 and "Total params: 61,706" in out
    code, out, _ = run(capsys, "summary", "--model", "article_cnn", "--input-shape", "3", "32",
                       "32", "--num-classes", "2")
    assert code == 0 and "(None, 32, 28, 28)" in out
    code, out, _ = run(capsys, "summary", "--model", "squeezenet1_1", "--input-shape", "3", "64",
                       "64", "--num-classes", "1000")
    assert code == 0 and "Total params: 1,235,496" in out


def test_gradcheck_suite_passes(capsys):
    code, out, _ = run(capsys, "gradcheck", "--device", "cpu")
    assert code == 0 and out.strip().splitlines()[-1].startswith("all ")
    assert "conv2d" in out and "max_pool2d" in out and "cross_entropy" in out


def test_info(capsys):
    code, out, _ = run(capsys, "info")
    assert code == 0 and f"tinygrad_cnn:      {tc.__version__}" in out
    assert re.search(r"^gpu: +(available|unavailable: .+)$", out, re.M)
    assert re.search(r"^blas: +\S", out, re.M)
    code, out, _ = run(capsys, "info", "--json")
    assert "cpu" in json.loads(out)["devices"]


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "summary", "gradcheck",
                                     "info", None])
def test_help_everywhere_with_examples(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"] if command else ["--help"])
    assert exit_info.value.code == 0
    assert "examples:" in capsys.readouterr().out


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("argv,pattern", [
    (["train", "--dataset", "mnist", "/no/such/dir"], r"train: error: MNIST folder not found"),
    (["train", "--dataset", "folder", "/no/such/dir"], r"image folder not found"),
    (["train", "--dataset", "digits", "x"], r"digits takes no path"),
    (["train", "--dataset", "mnist"], r"needs exactly one PATH"),
    (["train", "--dataset", "cifar"], r"unknown dataset 'cifar'"),
    (["train", "--device", "tpu"], r"unknown device 'tpu'"),
    (["evaluate", "--checkpoint", "/no/such.ckpt"], r"checkpoint not found"),
])
def test_errors_are_one_line(capsys, argv, pattern):
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, pattern)


def test_usage_errors_exit_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "many"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "argument --epochs: must be a positive integer, got 'many'" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2


def test_corrupt_checkpoint_and_image(capsys, tmp_path, trained):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"garbage" * 10)
    code, _, err = run(capsys, "evaluate", "--checkpoint", str(bad))
    assert_one_line_error(code, err, r"bad\.ckpt")
    foreign = tmp_path / "foreign.npz"
    tc.save({"weights": tc.ones(2)}, foreign)
    code, _, err = run(capsys, "predict", "--checkpoint", str(foreign), "x.png")
    assert_one_line_error(code, err, r"not a checkpoint written by `tinygrad-cnn train --save`")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG broken")
    code, _, err = run(capsys, "predict", "--checkpoint", str(trained[2]), str(broken))
    assert_one_line_error(code, err, r"cannot read image .*broken\.png")
    code, _, err = run(capsys, "train", "--model", "lenet5", "--epochs", "1")
    assert_one_line_error(code, err, r"lenet5: input_size \[8, 8\] is too small.*--image-size")


def test_module_entry_point_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "tinygrad_cnn", "evaluate", "--checkpoint",
                           str(tmp_path / "none.ckpt")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == f"tinygrad-cnn evaluate: error: checkpoint not found: " \
                                  f"{tmp_path / 'none.ckpt'}"
