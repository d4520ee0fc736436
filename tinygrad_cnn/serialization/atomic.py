"""Atomic file replacement for ``tc.save``: the file at a path is the old one or the new one,
never half of either.

The new bytes go to a hidden temporary file next to the target, ``.NAME.PID.RANDOM.tmp``, which is
flushed to disk and then renamed over the target (``os.replace``, atomic on POSIX and Windows).
Beyond plain "write to temp and rename", this module:

- refuses targets that are not regular files (a directory, a character device, a FIFO, a
  socket), which a rename would silently turn into a regular file;
- writes through a symlink to the file it points to (the link stays a link);
- keeps an existing target's permission bits (and its owner when allowed to), and gives a new
  file ``0o666`` minus the umask, as ``open()`` would;
- names the user's path, never the temporary file, in every error;
- removes the temporaries that a killed save left behind: each writer holds an exclusive
  ``flock`` on its temporary while writing, so a temporary whose lock can be taken and whose
  process (the PID in its name) is gone is stale, and the next save to the same path deletes it.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat

try:  # POSIX only; on Windows stale temporaries are not cleaned up (see docs/checkpoints.md)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def describe_mode(mode: int) -> str:
    """'a FIFO (named pipe)', 'a character device', ... for a file's st_mode."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _error(e: OSError, path: str, what: str) -> OSError:
    """``e`` again (same subclass, e.g. FileNotFoundError) but naming ``path``."""
    if e.errno is None:
        return OSError(f"{what} {path!r}: {e}")
    return OSError(e.errno, f"{what}: {e.strerror or e}", path)


def resolve_target(path: str) -> tuple[str, os.stat_result | None]:
    """The regular file that saving to ``path`` replaces (symlinks followed) and its stat, or None
    when it does not exist yet. Raises for an empty path and for non-regular files."""
    if path == "":
        raise ValueError("save: the path is an empty string; give a file name")
    target = os.path.realpath(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target, None
    except OSError as e:  # ELOOP, EACCES, ENOTDIR, ...
        raise _error(e, path, "cannot save a checkpoint to this path") from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "cannot save a checkpoint: it is a directory", path)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(
            f"save: {path!r} is {describe_mode(st.st_mode)}, not a regular file; refusing to "
            "replace it (tc.save only writes regular files)"
        )
    return target, st


def write_atomically(path, write) -> None:
    """Call ``write(handle)`` with a binary file whose bytes replace the file at ``path`` at once.

    If ``write`` or anything after it fails, the target is untouched and the temporary is removed;
    the exception (OSErrors naming ``path``) propagates.
    """
    path = os.fspath(path)
    target, st = resolve_target(path)
    directory, name = os.path.split(target)
    remove_stale_temporaries(directory, name)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        # 0o666 lets the kernel apply the umask (a new file gets open()'s permissions)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
    except OSError as e:
        raise _error(e, path, "cannot save a checkpoint here") from None
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "alive": see remove_stale_temporaries
        if st is not None:
            _copy_owner_and_mode(fd, st)
        with os.fdopen(fd, "wb") as handle:
            fd = None
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(tmp, target)  # inside `with`: the lock is held until the rename is done
    except OSError as e:
        _remove(tmp)
        if e.filename == path:
            raise
        raise _error(e, path, "cannot save a checkpoint") from None
    except BaseException:
        _remove(tmp)
        raise
    finally:
        if fd is not None:
            os.close(fd)


def _copy_owner_and_mode(fd: int, st: os.stat_result) -> None:
    if hasattr(os, "fchown"):
        try:  # only root (or the owner, for the group) may do this; otherwise keep ours
            os.fchown(fd, st.st_uid, st.st_gid)
        except OSError:
            pass
    if hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
    # Windows has no fchmod; the read-only bit is the only permission there


def _remove(tmp: str) -> None:
    try:
        os.remove(tmp)
    except FileNotFoundError:
        pass


def remove_stale_temporaries(directory: str, name: str) -> list[str]:
    """Delete the ``.NAME.PID.RANDOM.tmp`` files in ``directory`` left by saves that were killed.

    A temporary is stale when its process is gone (no process with that PID) and no one holds its
    lock; a save that is still running holds both. Returns the removed paths. POSIX only.
    """
    if fcntl is None or os.name != "posix":
        return []
    prefix, removed = f".{name}.", []
    try:
        entries = [e for e in os.scandir(directory or ".")
                   if e.name.startswith(prefix) and e.name.endswith(".tmp")]
    except OSError:
        return []
    for entry in entries:
        pid = entry.name[len(prefix):-len(".tmp")].split(".")[0]
        if not pid.isdigit() or _process_exists(int(pid)):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.remove(entry.path)
            removed.append(entry.path)
        except OSError:  # locked (a live save) or already gone
            pass
        finally:
            os.close(fd)
    return removed


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists (POSIX)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists but belongs to someone else
        return True
    return True
