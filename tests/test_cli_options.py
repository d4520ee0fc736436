"""The train command's options (issue 13, sections 2 and 5): bad values name the flag, foreign
or incomplete checkpoints name what is missing, and `train --resume` follows one rule: the
checkpoint's settings unless a flag is given explicitly, and a flag that contradicts its model,
optimizer or image size is an error naming both."""

import json
import re

import pytest

import tinygrad_cnn as tc
from tests.conftest import needs_generic_path
from tinygrad_cnn.cli import main
from tinygrad_cnn.cli.common import CHECKPOINT_FORMAT

needs_sklearn = pytest.mark.skipif(
    __import__("importlib").util.find_spec("sklearn") is None,
    reason="scikit-learn is not installed (the main extra): the digits dataset is unavailable")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


POSITIVE_INT, FRACTION = "must be a positive integer", "must be 0 (none) or between 0 and 1"
FINITE = "must be a positive finite number"


@pytest.mark.parametrize("argv,message", [
    (["train", "--seed", "-1"], "argument --seed: must be a non-negative integer, got '-1'"),
    (["train", "--test-split", "1.5"], f"argument --test-split: {FRACTION}, got '1.5'"),
    (["train", "--test-split", "-1"], f"argument --test-split: {FRACTION}, got '-1'"),
    (["train", "--test-split", "1"], f"argument --test-split: {FRACTION}, got '1'"),
    (["train", "--val-split", "2"], f"argument --val-split: {FRACTION}, got '2'"),
    (["train", "--image-size", "100000"], "image size '100000' is too large: at most 4096"),
    (["train", "--lr", "inf"], f"argument --lr: {FINITE}, got 'inf'"),
    (["train", "--lr", "nan"], f"argument --lr: {FINITE}, got 'nan'"),
    (["train", "--lr", "-0.1"], f"argument --lr: {FINITE}, got '-0.1'"),
    (["train", "--epochs", "0"], f"argument --epochs: {POSITIVE_INT}, got '0'"),
    (["train", "--batch-size", "-3"], f"argument --batch-size: {POSITIVE_INT}, got '-3'"),
    (["summary", "--num-classes", "0"], f"argument --num-classes: {POSITIVE_INT}, got '0'"),
    (["summary", "--num-classes", "-5"], f"argument --num-classes: {POSITIVE_INT}, got '-5'"),
])
def test_bad_values_name_the_flag(capsys, argv, message):
    err = usage_error(capsys, *argv)
    assert message in err and "(see tinygrad-cnn" in err


@needs_sklearn
def test_test_split_zero_passes_the_option_check(capsys):
    from tinygrad_cnn.cli.common import fraction

    assert fraction("0") == 0.0
    # 0: no test split (issue 12: the article's workflow has none); training says so at the end
    code, out, err = run(capsys, "train", "--test-split", "0", "--epochs", "1")
    assert code == 0 and "no test split (--test-split 0)" in out, err
    assert "val_fraction" not in err and "test accuracy:" not in out


@pytest.mark.parametrize("content,missing", [
    ({"format": CHECKPOINT_FORMAT}, "'model_name' (the model's name)"),
    ({"format": CHECKPOINT_FORMAT, "model_name": "digits_cnn", "model_kwargs": {},
      "classes": [0, 1], "mean": [0.0], "std": [1.0], "in_channels": 1, "image_size": [8, 8],
      "dataset": {"name": "digits", "path": None}}, "'model' (the weights)"),
])
def test_header_only_checkpoint_names_path_and_what_is_missing(capsys, tmp_path, content,
                                                                 missing):
    path = tmp_path / "header.ckpt"
    tc.save(content, path)
    for command in (["evaluate", "--checkpoint"], ["train", "--resume"]):
        code, _, err = run(capsys, *command, str(path))
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert str(path) in err and missing in err and "incomplete" in err, err


def test_checkpoint_without_dataset_details(capsys, tmp_path):
    ckpt = {"format": CHECKPOINT_FORMAT, "model_name": "digits_cnn", "model_kwargs": {},
            "model": {}, "classes": [0, 1], "mean": [0.0], "std": [1.0], "in_channels": 1,
            "image_size": [8, 8], "dataset": {"name": "digits"}}
    path = tmp_path / "partial.ckpt"
    tc.save(ckpt, path)
    code, _, err = run(capsys, "evaluate", "--checkpoint", str(path))
    assert code == 1 and re.search(r"partial\.ckpt: its 'dataset' entry has no 'path', 'seed', "
                                   r"'test_split'", err), err


# --------------------------------------------------------------------------- --resume


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """`train --epochs 2 --batch-size 64 --lr 0.004 --save`, and `train --epochs 3` straight."""
    if __import__("importlib").util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed (the main extra)")
    tmp = tmp_path_factory.mktemp("resume")
    ckpt = tmp / "run.ckpt"
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["train", "--epochs", "2", "--batch-size", "64", "--lr", "0.004",
                     "--save", str(ckpt), "--json"]) == 0
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["train", "--epochs", "3", "--batch-size", "64", "--lr", "0.004",
                         "--json"]) == 0
    return ckpt, json.loads(buf.getvalue())


@needs_sklearn
def test_resume_uses_the_checkpoint_settings_bit_for_bit(capsys, two_epochs):
    ckpt, straight = two_epochs
    code, out, err = run(capsys, "train", "--resume", str(ckpt), "--epochs", "3", "--json")
    assert code == 0, err
    assert "optimizer: adam (lr 0.004)" in err and "after epoch 2, up to epoch 3" in err
    resumed = json.loads(out)
    assert resumed["history"]["history"]["loss"] == straight["history"]["history"]["loss"]
    assert resumed["test_accuracy"] == straight["test_accuracy"]


@needs_sklearn
def test_resume_with_an_explicit_lr_uses_it(capsys, two_epochs):
    ckpt, _ = two_epochs
    code, out, err = run(capsys, "train", "--resume", str(ckpt), "--epochs", "3", "--lr",
                         "0.0001", "--json")
    assert code == 0, err
    assert "optimizer: adam (lr 0.0001)" in err
    assert json.loads(out)["history"]["history"]["lr"] == [0.004, 0.004, 0.0001]


@needs_sklearn
@pytest.mark.parametrize("flags,pattern", [
    (["--model", "lenet5"], r"--model lenet5 contradicts the checkpoint .*run\.ckpt, which holds "
                            r"a digits_cnn"),
    (["--optimizer", "sgd"], r"--optimizer sgd contradicts the checkpoint .*run\.ckpt, trained "
                             r"with adam"),
    (["--image-size", "28"], r"--image-size 28x28 contradicts the checkpoint .*trained on 8x8"),
    (["--epochs", "2"], r"--epochs 2: the checkpoint .*run\.ckpt has already trained 2 epochs; "
                        r"pass --epochs 3 or more"),
    (["--epochs", "1"], r"--epochs 1: the checkpoint .*has already trained 2 epochs"),
    ([], r"--epochs not given and the checkpoint .*run\.ckpt has finished its 2 epochs; pass "
         r"--epochs 3 or more"),
])
def test_resume_flags_that_contradict_the_checkpoint(capsys, two_epochs, flags, pattern):
    ckpt, _ = two_epochs
    code, out, err = run(capsys, "train", "--resume", str(ckpt), *flags)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert re.search(pattern, err), err
    assert "trained" not in out


@needs_sklearn
def test_deterministic_is_kept_in_the_checkpoint_and_resumed(capsys, tmp_path, monkeypatch):
    """--deterministic turns deterministic cuDNN on for the run only; --resume goes on with the
    checkpoint's setting, so an interrupted deterministic run resumes deterministic."""
    seen = []
    fit = tc.train.fit

    def spy(*args, **kwargs):
        seen.append(tc.backends.cudnn.deterministic)
        return fit(*args, **kwargs)

    monkeypatch.setattr(tc.train, "fit", spy)
    monkeypatch.setattr(tc.backends.cudnn, "deterministic", False)  # a user's session
    ckpt, plain = tmp_path / "det.ckpt", tmp_path / "plain.ckpt"
    common = ["--epochs", "1", "--batch-size", "128", "--val-split", "0", "--json"]
    assert run(capsys, "train", *common, "--deterministic", "--save", str(ckpt))[0] == 0
    assert run(capsys, "train", *common, "--save", str(plain))[0] == 0
    assert tc.backends.cudnn.deterministic is False
    assert tc.load(ckpt)["train"]["deterministic"] is True
    assert tc.load(plain)["train"]["deterministic"] is False
    for path in (ckpt, plain):
        assert run(capsys, "train", "--resume", str(path), "--epochs", "2", "--json")[0] == 0
    assert seen == [True, False, True, False]
    assert tc.backends.cudnn.deterministic is False


@needs_sklearn
def test_resume_takes_the_image_size_from_the_checkpoint(capsys, tmp_path):
    ckpt = tmp_path / "lenet.ckpt"
    code, _, err = run(capsys, "train", "--model", "lenet5", "--image-size", "28", "--epochs",
                       "1", "--batch-size", "128", "--val-split", "0", "--save", str(ckpt),
                       "--json")
    assert code == 0, err
    code, out, err = run(capsys, "train", "--resume", str(ckpt), "--epochs", "2", "--json")
    assert code == 0, err
    assert "images of 1x28x28" in err and json.loads(out)["history"]["epochs"] == [1, 2]


@needs_sklearn
@needs_generic_path  # the interrupted run is a subprocess, without the session's host kernels
def test_ctrl_c_during_train_then_resume_is_bit_identical(capsys, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from tests.subprocesses import sigint_default

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    ckpt = tmp_path / "run.ckpt"
    # --deterministic: on a GPU, cuDNN's default engines may sum in another order on each run
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_cnn", "train", "--epochs", "4",
                             "--deterministic", "--save", str(ckpt)], env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    for line in proc.stdout:  # wait for the first epoch's line, then press Ctrl-C
        if line.startswith("epoch 1/4"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    interrupted = tmp_path / "run.interrupted.ckpt"
    assert "interrupted (Ctrl-C)" in err and f"continue with: tinygrad-cnn train --resume " \
        f"{interrupted}" in err, err
    assert tc.load(ckpt)["epoch"] == tc.load(interrupted)["epoch"] - 1 or \
        tc.load(interrupted)["batch"] is None
    code, out, err = run(capsys, "train", "--resume", str(interrupted), "--json")
    assert code == 0, err
    resumed = json.loads(out)
    assert tc.load(interrupted)["train"]["deterministic"] is True  # the resume goes on with it
    with tc.backends.cudnn.deterministic_engines():
        tc.backends.cudnn.deterministic = False  # as a user's session would be
        code, out, err = run(capsys, "train", "--epochs", "4", "--deterministic", "--json")
        assert tc.backends.cudnn.deterministic is False  # the flag's setting ends with the run
    straight = json.loads(out)
    assert resumed["history"]["epochs"] == [1, 2, 3, 4]
    assert resumed["history"]["history"]["loss"] == straight["history"]["history"]["loss"]
    assert resumed["test_accuracy"] == straight["test_accuracy"]
