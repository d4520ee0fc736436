"""tc.save's file handling (issue 13, section 4): what is at the path, symlinks, permissions,
error messages, and temporaries left by a save that was killed (SIGKILL in a subprocess)."""

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import tinygrad_cnn as tc

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, devices and flock are POSIX")


def small():
    return {"w": tc.Tensor(np.arange(6.0)), "epoch": 3}


def temporaries(folder, name):
    return sorted(n for n in os.listdir(folder) if n.startswith(f".{name}.") and n.endswith(".tmp"))


@posix_only
def test_save_refuses_a_fifo(tmp_path):
    fifo = tmp_path / "pipe.ckpt"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"pipe\.ckpt' is a FIFO .*not a regular file"):
        tc.save(small(), fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a FIFO, not replaced by a file
    assert temporaries(tmp_path, "pipe.ckpt") == []
    os.mkdir(tmp_path / "folder")
    with pytest.raises(IsADirectoryError, match=r"cannot save a checkpoint.*'.*folder'"):
        tc.save(small(), tmp_path / "folder")


@posix_only
def test_save_refuses_a_character_device(tmp_path):
    device = tmp_path / "null.ckpt"
    try:  # a copy of /dev/null's device number, made in the test's own folder
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")
    link = tmp_path / "to_null.ckpt"
    link.symlink_to(device)
    for path in (device, link):
        with pytest.raises(ValueError, match=rf"{path.name}' is a character device"):
            tc.save(small(), path)
        assert stat.S_ISCHR(os.stat(device).st_mode)


def test_save_writes_through_a_symlink(tmp_path):
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "epoch3.ckpt"
    tc.save({"epoch": 1}, target)
    link = tmp_path / "latest.ckpt"
    link.symlink_to(os.path.join("runs", "epoch3.ckpt"))  # relative, as `ln -s` makes them
    chain = tmp_path / "chain.ckpt"
    chain.symlink_to(link)
    tc.save({"epoch": 2}, link)
    assert link.is_symlink() and os.readlink(link) == os.path.join("runs", "epoch3.ckpt")
    assert tc.load(target)["epoch"] == 2
    tc.save({"epoch": 3}, chain)
    assert chain.is_symlink() and link.is_symlink() and tc.load(target)["epoch"] == 3
    dangling = tmp_path / "dangling.ckpt"
    dangling.symlink_to(tmp_path / "runs" / "new.ckpt")
    tc.save({"epoch": 4}, dangling)  # creates the file the link points to, as open() would
    assert dangling.is_symlink() and tc.load(tmp_path / "runs" / "new.ckpt")["epoch"] == 4
    assert temporaries(tmp_path, "latest.ckpt") == temporaries(tmp_path / "runs", "epoch3.ckpt")\
        == []


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444])
def test_save_keeps_the_target_permissions(tmp_path, mode):
    path = tmp_path / "secret.ckpt"
    tc.save(small(), path)
    os.chmod(path, mode)
    tc.save({"epoch": 5}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert tc.load(path)["epoch"] == 5


@posix_only
def test_a_new_file_gets_open_permissions(tmp_path):
    umask = os.umask(0o027)
    try:
        tc.save(small(), tmp_path / "new.ckpt")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "new.ckpt").st_mode) == 0o640


def test_errors_name_the_users_path_not_the_temporary(tmp_path, monkeypatch):
    missing = tmp_path / "no_such_folder" / "m.ckpt"
    with pytest.raises(FileNotFoundError) as info:
        tc.save(small(), missing)
    assert str(missing) in str(info.value) and ".tmp" not in str(info.value)
    assert info.value.filename == str(missing)

    path = tmp_path / "m.ckpt"
    tc.save({"epoch": 1}, path)

    def failing_fsync(fd):
        raise OSError(errno.EIO, "Input/output error", f"/somewhere/.m.ckpt.{os.getpid()}.x.tmp")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError) as info:
        tc.save({"epoch": 2}, path)
    assert info.value.errno == errno.EIO
    assert str(path) in str(info.value) and ".tmp" not in str(info.value)
    monkeypatch.undo()
    assert tc.load(path)["epoch"] == 1 and temporaries(tmp_path, "m.ckpt") == []


def test_save_to_an_empty_path_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="path is an empty string"):
        tc.save(small(), "")
    assert os.listdir(tmp_path) == []
    assert not any(n.endswith(".tmp") for n in os.listdir(tmp_path.parent))


@posix_only
def test_stale_temporaries_are_removed_but_live_ones_kept(tmp_path):
    path = tmp_path / "m.ckpt"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)  # a process that has exited
    stale = tmp_path / f".m.ckpt.{dead_pid}.0badc0de.tmp"
    stale.write_bytes(b"half a checkpoint")
    mine = tmp_path / f".m.ckpt.{os.getpid()}.12345678.tmp"  # a save in progress here
    mine.write_bytes(b"")
    locked = tmp_path / f".m.ckpt.{dead_pid}.cafef00d.tmp"  # PID reused elsewhere, but locked
    locked.write_bytes(b"")
    other = tmp_path / ".other.ckpt.1.abcdef01.tmp"  # another file's temporary
    other.write_bytes(b"")
    import fcntl
    with open(locked, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        tc.save(small(), path)
        assert not stale.exists() and mine.exists() and locked.exists() and other.exists()
    tc.save(small(), path)  # the lock is released: now it is stale too
    assert not locked.exists() and mine.exists() and other.exists()


CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import tinygrad_cnn as tc
    path, value = sys.argv[1], float(sys.argv[2])
    big = {"w": tc.Tensor(np.full(2_000_000, value, dtype=np.float32)), "value": value}
    while True:
        tc.save(big, path)
""")


@posix_only
@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_sigkill_during_save_leaves_a_whole_file_and_no_pile_of_temporaries(tmp_path, fmt):
    path = tmp_path / ("run.npz" if fmt == "npz" else "run.safetensors")
    tc.save({"w": tc.Tensor(np.zeros(2_000_000, dtype=np.float32)), "value": 0.0}, path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for kill in range(1, 7):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(float(kill))],
                                 env=env)
        before = set(temporaries(tmp_path, path.name))
        deadline = time.monotonic() + 120  # a guard against a hang, not a timing assertion
        while not set(temporaries(tmp_path, path.name)) - before:  # until it is mid-save
            assert child.poll() is None, "the saving process died on its own"
            assert time.monotonic() < deadline, "the child never started saving"
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
        child.wait()
        loaded = tc.load(path)  # the old or the new checkpoint, whole
        assert loaded["value"] in (0.0, *map(float, range(1, kill + 1)))
        np.testing.assert_array_equal(loaded["w"].numpy(), loaded["value"])
        # the killed child's own temporary at most: each save removes the stale ones first
        assert len(temporaries(tmp_path, path.name)) <= 1, temporaries(tmp_path, path.name)
    tc.save(small(), path)
    assert temporaries(tmp_path, path.name) == []
