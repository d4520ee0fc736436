"""Every script in examples/ runs to the end (small settings) and prints what it promises."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tinygrad_cnn as tc

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _needs(*modules):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (the examples "
                              "extra: pip install -e '.[examples]')")


def run_example(name, *args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@_needs("skimage", "matplotlib")
def test_01_cnn_walkthrough(tmp_path):
    out = run_example("01_cnn_walkthrough.py", str(tmp_path / "figs"), cwd=tmp_path)
    assert "(300, 451, 3)" in out and "(300, 450)" in out
    assert "floor((32 - 3 + 2*0) / 1) + 1 = 30   conv2d gives (30, 30)" in out
    assert "-> (10, 28, 28)" in out and "(3, 150, 225)" in out
    assert "out[0, 0] = sum(patch * kernel) = 35 = 35" in out
    figures = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert len(figures) == 7 and all(f.endswith(".png") for f in figures)


@_needs("sklearn", "matplotlib")
def test_02_lenet_digits(tmp_path):
    out = run_example("02_lenet_digits.py", "--epochs", "1", "--out", str(tmp_path), cwd=tmp_path)
    assert "Total params: 61,706" in out and "epoch 1/1" in out
    assert "test accuracy" in out and (tmp_path / "lenet5_digits.png").is_file()
    assert (tmp_path / "lenet5_digits.ckpt").is_file()


def test_03_custom_op_gradcheck(tmp_path):
    out = run_example("03_custom_op_gradcheck.py", cwd=tmp_path)
    assert "gradcheck(Swish):     True" in out and "gradgradcheck(Swish): True" in out
    assert "gradcheck: Jacobian mismatch for input 0" in out
    if importlib.util.find_spec("hypothesis"):
        assert "Hypothesis: forward and gradcheck hold on 20 generated arrays" in out


@_needs("PIL")
def test_04_cats_vs_dogs_generated_folder(tmp_path):
    out = run_example("04_cats_vs_dogs_folder.py", "--epochs", "2", "--image-size", "16",
                      cwd=tmp_path)
    assert "generated a toy cats-vs-dogs folder" in out
    assert "80 images in classes ['cat', 'dog']" in out and "epoch 2/2" in out
    assert "validation accuracy after 2 epochs" in out


@_needs("PIL")
def test_04_cats_vs_dogs_given_folder(tmp_path):
    spec = importlib.util.spec_from_file_location("ex04", EXAMPLES / "04_cats_vs_dogs_folder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = module.make_toy_folder(str(tmp_path / "pets"), per_class=6, size=16)
    (tmp_path / "pets" / "dog" / "broken.jpg").write_bytes(b"not an image")
    out = run_example("04_cats_vs_dogs_folder.py", folder, "--epochs", "1", "--image-size", "12",
                      cwd=tmp_path)
    assert "12 images in classes ['cat', 'dog']" in out and "skipped 1 unreadable" in out


@_needs("sklearn")
def test_05_gpu_falls_back_or_runs(tmp_path):
    out = run_example("05_gpu.py", "--epochs", "1", cwd=tmp_path)
    import tinygrad_cnn as tc

    if tc.gpu_available():
        assert "device gpu: 1 epochs" in out
    else:
        assert "no GPU: " in out and "falling back to the CPU" in out
        assert "device cpu: 1 epochs" in out


# --------------------------------------------------------------------------- docs


def _python_blocks(path):
    text = path.read_text()
    blocks, inside, current = [], False, []
    for line in text.splitlines():
        if line.strip() == "```python":
            inside, current = True, []
        elif line.strip() == "```" and inside:
            inside = False
            blocks.append("\n".join(current))
        elif inside:
            current.append(line)
    return blocks


@_needs("sklearn", "matplotlib", "PIL")
@pytest.mark.parametrize("name", ["tutorial.md", "data.md", "training.md", "gpu.md"])
def test_docs_python_blocks_run(name, tmp_path, monkeypatch, capsys):
    path = ROOT / "docs" / name
    blocks = _python_blocks(path)
    assert blocks or name == "gpu.md", f"{name} has no python blocks"
    monkeypatch.chdir(tmp_path)  # files the docs write land in a temp dir
    namespace = {"__name__": "docs_example"}
    # gpu.md switches TF32 on: later tests in this process must see the defaults again
    switches = (tc.backends.cuda.matmul.allow_tf32, tc.backends.cudnn.allow_tf32,
                tc.backends.cudnn.deterministic)
    try:
        for i, block in enumerate(blocks):
            try:
                exec(compile(block, f"{path}:block{i}", "exec"), namespace)
            except Exception as e:  # name the block that failed
                raise AssertionError(f"{name} block {i} failed: {e!r}\n{block}") from e
    finally:
        (tc.backends.cuda.matmul.allow_tf32, tc.backends.cudnn.allow_tf32,
         tc.backends.cudnn.deterministic) = switches
