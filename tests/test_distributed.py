"""tinygrad_cnn.distributed: collectives, DistributedDataParallel, SyncBatchNorm, the sampler
and failure handling. The multi-rank tests run scripts under ``mpiexec -n 2`` (the mpich wheel of
the test extra) and read what each rank printed."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tc
import tinygrad_cnn.distributed as dist

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "mpi_scripts"


def _mpiexec():
    pytest.importorskip("mpi4py", reason="mpi4py is not installed: pip install "
                        "'tinygrad_cnn[distributed]' (the test extra installs it)")
    local = Path(sys.executable).with_name("mpiexec")
    found = str(local) if local.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec on PATH or next to this Python (pip install mpich)")
    return found


def run_ranks(script, *args, n=2, timeout=120):
    """Run ``script`` on n ranks; returns the CompletedProcess (stdout+stderr in .stdout)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run([_mpiexec(), "-n", str(n), sys.executable, str(script), *map(str, args)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


# --------------------------------------------------------------------------- multi-rank


def test_collectives_on_two_ranks():
    result = run_ranks(SCRIPTS / "collectives.py")
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("8 of 8 ok") == 2, result.stdout


def test_ddp_on_two_ranks_equals_one_process_with_the_whole_batch():
    """k steps of 2 ranks with batch B give one process's parameters with batch 2B: float64 to
    1e-12, float32 to 1e-6; plain, with SyncBatchNorm, with SGD momentum and Adam."""
    result = run_ranks(SCRIPTS / "ddp_equivalence.py", timeout=180)
    assert result.returncode == 0, result.stdout
    # 5 cases, each reported by both ranks (their lines may interleave in the shared pipe)
    assert result.stdout.count("OK ") == 2 * 5 and "FAIL" not in result.stdout, result.stdout


@pytest.mark.parametrize("mode, message", [
    ("raise", "rank 1 of 2 failed with ValueError: bad batch on purpose"),
    ("hang", "all_reduce timed out after 3 s on rank 0 of 2"),
    ("mismatch", "'bias' is float32 (4,) on rank 0 but float32 (5,) on rank 1"),
])
def test_a_failing_rank_ends_the_job_with_an_error_naming_it(mode, message):
    result = run_ranks(SCRIPTS / "failing_rank.py", mode, timeout=60)  # bounded: no hang
    assert result.returncode != 0
    assert message in result.stdout, result.stdout
    assert "unreachable" not in result.stdout


# --------------------------------------------------------------------------- one process


def test_package_imports_without_initializing_anything():
    assert not dist.is_initialized()
    assert dist.get_rank() == 0 and dist.get_world_size() == 1 and dist.get_backend() is None
    with pytest.raises(dist.DistributedError, match="not initialized"):
        dist.all_reduce(tc.ones(2))
    with pytest.raises(dist.DistributedError, match="not initialized"):
        dist.DistributedDataParallel(tc.nn.Linear(2, 2))


def test_init_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown backend 'gloo'"):
        dist.init_process_group("gloo")
    with pytest.raises(ValueError, match="timeout must be a positive"):
        dist.init_process_group("mpi", timeout=-1)


def test_importing_the_package_does_not_import_mpi4py():
    code = ("import sys, tinygrad_cnn, tinygrad_cnn.distributed; "
            "print('mpi4py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True).stdout
    assert out.strip() == "False"


def test_single_rank_group_trains_like_no_group():
    pytest.importorskip("mpi4py", reason="mpi4py is not installed")
    code = """
import numpy as np, tinygrad_cnn as tc, tinygrad_cnn.distributed as dist
dist.init_process_group('mpi')
assert dist.get_world_size() == 1 and dist.is_initialized()
tc.manual_seed(0); model = tc.nn.Linear(3, 2); ddp = dist.DistributedDataParallel(model)
x = tc.randn(4, 3); ddp(x).sum().backward(); g = model.weight.grad.numpy().copy()
tc.manual_seed(0); ref = tc.nn.Linear(3, 2); ref(x).sum().backward()
assert np.array_equal(g, ref.weight.grad.numpy())
dist.destroy_process_group(); assert not dist.is_initialized(); print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


# --------------------------------------------------------------------------- the sampler


def _torch_sampler_indices(n, replicas, rank, drop_last):
    pytest.importorskip("torch", reason="PyTorch is an optional test oracle")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    return list(TorchSampler(list(range(n)), num_replicas=replicas, rank=rank, shuffle=False,
                             drop_last=drop_last))


@pytest.mark.parametrize("n", [0, 1, 5, 10, 11, 13])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_shards_are_disjoint_cover_the_data_and_have_equal_length(n, replicas, drop_last):
    shards = [list(dist.DistributedSampler(range(n), replicas, r, shuffle=True, seed=3,
                                           drop_last=drop_last)) for r in range(replicas)]
    lengths = {len(s) for s in shards}
    assert len(lengths) == 1                                   # every rank takes as many steps
    length = lengths.pop()
    everything = [i for s in shards for i in s]
    if drop_last:
        assert length == n // replicas
        assert len(set(everything)) == len(everything)         # disjoint
    else:
        assert length == -(-n // replicas)
        assert set(everything) == set(range(n))               # covers the data
        if n >= replicas:                                      # padding repeats at most once
            assert len(everything) - len(set(everything)) == length * replicas - n


def test_sampler_reshuffles_per_epoch_and_is_reproducible():
    s = dist.DistributedSampler(range(100), 2, 0, shuffle=True, seed=5)
    first = list(s)
    s.set_epoch(1)
    second = list(s)
    assert first != second
    s.set_epoch(0)
    assert list(s) == first
    other_rank = dist.DistributedSampler(range(100), 2, 1, shuffle=True, seed=5)
    assert set(first).isdisjoint(other_rank)


@pytest.mark.parametrize("n, replicas", [(10, 3), (11, 4), (2, 3), (7, 2)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_matches_pytorch_without_shuffling(n, replicas, drop_last):
    for rank in range(replicas):
        ours = list(dist.DistributedSampler(range(n), replicas, rank, shuffle=False,
                                            drop_last=drop_last))
        assert ours == _torch_sampler_indices(n, replicas, rank, drop_last)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_replicas": 0}, "num_replicas must be an integer >= 1"),
    ({"num_replicas": 2, "rank": 2}, "rank 2 is not below num_replicas 2"),
    ({"num_replicas": 2, "rank": -1}, "rank must be an integer >= 0"),
    ({"num_replicas": 2, "rank": 0, "seed": "x"}, "seed must be an integer"),
])
def test_sampler_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dist.DistributedSampler(range(4), **kwargs)


def test_ddp_buckets_respect_the_cap_and_keep_every_parameter():
    from tinygrad_cnn.distributed.ddp import _make_buckets

    params = [tc.nn.Parameter(tc.zeros(n)) for n in (10, 300, 5, 5, 1000)]
    buckets = _make_buckets(params, cap_bytes=4 * 310)
    assert [[p.size for p in b.params] for b in buckets] == [[1000], [5, 5, 300], [10]]
    assert sum(len(b.params) for b in buckets) == len(params)
    mixed = _make_buckets([tc.nn.Parameter(tc.zeros(2)),
                           tc.nn.Parameter(tc.zeros(2, dtype=tc.float64))], cap_bytes=1 << 20)
    assert len(mixed) == 2  # one dtype per bucket


def test_sync_batchnorm_is_batchnorm_on_one_process():
    tc.manual_seed(0)
    bn = tc.nn.BatchNorm2d(3).double()
    sync = dist.SyncBatchNorm.convert_sync_batchnorm(tc.nn.Sequential(bn))[0]
    assert isinstance(sync, dist.SyncBatchNorm) and sync.weight is bn.weight
    x = tc.tensor(np.random.default_rng(0).standard_normal((4, 3, 2, 2)))
    ref = tc.nn.BatchNorm2d(3).double()
    np.testing.assert_allclose(sync(x).numpy(), ref(x).numpy(), atol=1e-12)


def test_info_names_the_mpi_and_whether_it_is_cuda_aware(capsys, monkeypatch):
    pytest.importorskip("mpi4py", reason="mpi4py is not installed")
    import json

    from tinygrad_cnn.cli import main

    monkeypatch.delenv("TINYGRAD_CNN_CUDA_AWARE_MPI", raising=False)
    assert main(["info", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)["distributed"]
    assert line.startswith("mpi (") and "not CUDA-aware" in line
    monkeypatch.setenv("TINYGRAD_CNN_CUDA_AWARE_MPI", "1")
    assert dist.cuda_aware_mpi()
    assert main(["info", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)["distributed"]
    assert line.endswith(", CUDA-aware")


# --------------------------------------------------------------------------- fit and the CLI


def test_fit_distributed_shards_the_data_and_writes_on_rank_zero_only(tmp_path):
    import json

    result = run_ranks(SCRIPTS / "fit_distributed.py", tmp_path, timeout=180)
    assert result.returncode == 0, result.stdout
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["saves"] == 3 and r1["saves"] == 0                  # one checkpoint per epoch
    assert sorted(p.name for p in tmp_path.glob("ep_*.ckpt")) == [f"ep_{e}.ckpt" for e in (1, 2, 3)]
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert len(rows) == 1 + 3                                      # a header, one row per epoch
    assert len(r0["seen"]) == len(r1["seen"]) == 3
    for mine, theirs in zip(r0["seen"], r1["seen"], strict=True):              # each epoch:
        assert len(mine) == len(theirs) == 80                      # half the data a rank,
        assert set(mine).isdisjoint(theirs)                        # disjoint shards
        assert set(mine) | set(theirs) == set(range(160))          # covering the data
    assert r0["seen"][0] != r0["seen"][1]                          # reshuffled per epoch
    for h in (r0["history"], r1["history"]):
        h["history"].pop("time")                                   # wall time differs
    assert r0["history"] == r1["history"]                          # metrics over both ranks
    np.testing.assert_array_equal(r0["weights"], r1["weights"])
    ckpt = tc.load(tmp_path / "ep_3.ckpt")                          # the plain model's keys
    assert set(ckpt["model"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    # the rank-0 checkpoint resumes in one process (another number of ranks)
    model = tc.nn.Sequential(tc.nn.Linear(4, 8), tc.nn.ReLU(), tc.nn.Linear(8, 2))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    history = tc.train.fit(model, tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                           tc.nn.CrossEntropyLoss(), (x[:160], y[:160]), epochs=4, verbose=0,
                           resume=tmp_path / "ep_3.ckpt")
    assert history.epochs == [1, 2, 3, 4]


@pytest.mark.cpu_only("MPI ranks on the CPU: with the GPU as default the ranks pick NCCL, "
                      "which needs one GPU per rank")
def test_cli_main_job_under_mpiexec(tmp_path):
    """`mpiexec -n 2 tinygrad-cnn train` with no other flag: one set of output lines (rank 0),
    the global batch size, and the single-process accuracy band (0.986 there)."""
    script = tmp_path / "cli.py"
    script.write_text("import sys\nfrom tinygrad_cnn.cli import main\n"
                      "sys.exit(main(['train', '--save', sys.argv[1]]))\n")
    result = run_ranks(script, tmp_path / "digits.ckpt", timeout=300)
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert out.count("test accuracy:") == 1, out
    assert "2 ranks" in out and "global batch 64" in out, out
    accuracy = float(out.split("test accuracy:")[1].split()[0])
    assert accuracy >= 0.95, out
    assert (tmp_path / "digits.ckpt").exists()


@pytest.mark.cpu_only("MPI ranks on the CPU: with the GPU as default the ranks pick NCCL, "
                      "which needs one GPU per rank")
def test_cli_error_under_mpiexec_ends_every_rank(tmp_path):
    script = tmp_path / "cli.py"
    script.write_text("import sys\nfrom tinygrad_cnn.cli import main\n"
                      "sys.exit(main(['train', '--dataset', 'mnist', sys.argv[1]]))\n")
    result = run_ranks(script, tmp_path / "no-such-folder", timeout=120)
    assert result.returncode != 0
    assert "of 2 failed with" in result.stdout and "no-such-folder" in result.stdout, result.stdout
