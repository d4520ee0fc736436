"""`tinygrad-cnn train --dataset folder`: workers, cache, --test-split 0, outputs checked first."""

import json
import os

import numpy as np
import pytest

from tinygrad_cnn.cli import main

Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (the main extra)")


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse refuses a flag's value with exit status 2
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def _folder(root, classes=("cat", "dog"), per_class=6):
    rng = np.random.default_rng(0)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 100, size=(20, 20, 3)).astype(np.uint8)
            arr[..., 2] += 150 * label
            Image.fromarray(arr).save(root / name / f"{i}.png")
    return root


def test_folder_with_workers_cache_and_no_test_split(capsys, tmp_path):
    root = _folder(tmp_path / "pets")
    (root / "dog" / "broken.jpg").write_bytes(b"not a jpeg")
    args = ["train", "--dataset", "folder", str(root), "--image-size", "12", "--epochs", "1",
            "--num-workers", "2", "--cache", str(tmp_path / "cache"), "--test-split", "0",
            "--json"]
    code, out, err = run(capsys, *args)
    assert code == 0 and err.count("broken.jpg") == 1, err
    result = json.loads(out)
    assert result["test_accuracy"] is None and "val_accuracy" in result["history"]["history"]
    assert "validation / no test" in err  # --json: the human lines go to stderr
    assert len(os.listdir(tmp_path / "cache")) == 2
    code, out, err = run(capsys, *args[:-1], "--val-split", "0")
    assert code == 0 and "no test split (--test-split 0)" in out
    assert "val_" not in out and "validation / no test" in out


@pytest.mark.parametrize(("extra", "message"), [
    (["--plot", "curves.xyz"], r"--plot curves\.xyz: unsupported format 'xyz'"),
    (["--save", "missing/run.ckpt"], r"--save missing/run\.ckpt: the folder .*missing does not"),
    (["--test-split", "1"], r"--test-split: must be 0 \(none\) or between 0 and 1"),
    (["--num-workers", "-1"], r"--num-workers: must be a non-negative integer"),
])
def test_bad_options_fail_before_training(capsys, tmp_path, monkeypatch, extra, message):
    root = _folder(tmp_path / "pets")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "--dataset", "folder", str(root), "--image-size", "8",
                         "--epochs", "1", *extra)
    assert code in (1, 2) and "epoch" not in out  # 2: refused by argparse
    import re

    assert re.search(message, err), err
    assert "val_fraction" not in err


def test_single_class_and_empty_class_folders(capsys, tmp_path):
    root = _folder(tmp_path / "one", classes=("cat",))
    code, _, err = run(capsys, "train", "--dataset", "folder", str(root), "--epochs", "1")
    assert code == 1 and "found only the class folder cat/" in err
    root = _folder(tmp_path / "pets")
    (root / "bird").mkdir()
    code, out, err = run(capsys, "train", "--dataset", "folder", str(root), "--image-size", "8",
                         "--epochs", "1")
    assert code == 0 and err.count("empty class folder bird/") == 1 and "2 classes" in out


def test_lazy_folder_with_workers_reports_unreadable_once(capsys, tmp_path):
    root = _folder(tmp_path / "pets")
    (root / "cat" / "broken.png").write_bytes(b"not a png")
    code, out, err = run(capsys, "train", "--dataset", "folder", str(root), "--image-size", "8",
                         "--epochs", "2", "--num-workers", "2", "--val-split", "0")
    assert code == 0 and err.count("broken.png") == 1, err
    assert "skipped unreadable image" in err
