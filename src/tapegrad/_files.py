"""Writing files atomically (weights, checkpoints, pictures): never half-written, nothing left.

`atomic_write` creates the target's folder if needed, writes a temporary file next to the target,
syncs it, gives it the mode `open(path, "w")` would (the existing file's, else 0o666 minus the
umask) and `os.replace`s it over the target. The temporary is removed on any exception; one left
by a process that was killed (SIGKILL cannot be caught) is swept by the next write of the same
target: temporaries are named `.tmp-<kind>-<target>.<pid>-<random><suffix>`, and one is stale when
it is older than this process and its writer is no longer running.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from collections.abc import Callable
from typing import IO, Any

__all__ = ["atomic_write"]

_STARTED = time.time()  # temporaries older than this were not written by this process


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any],
                 kind: str = "file") -> None:
    """Call `write(f)` on a temporary binary file, then move it over `path` in one step.

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "new", "a.txt")
    >>> atomic_write(p, lambda f: f.write(b"hi")); open(p).read(), os.listdir(os.path.dirname(p))
    ('hi', ['a.txt'])
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    base = os.path.basename(path)
    prefix = f".tmp-{kind}-{base[:80]}."
    suffix = os.path.splitext(base)[1][:16]
    sweep_stale(directory, prefix)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", suffix=suffix, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def sweep_stale(directory: str, prefix: str) -> list[str]:
    """Remove temporaries named `<prefix><pid>-...` left by dead writers; returns their names."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid_text = entry.name[len(prefix):].split("-", 1)[0]
        try:
            old = entry.stat().st_mtime < _STARTED
        except OSError:
            continue
        if not old or (pid_text.isdigit() and int(pid_text) != os.getpid()
                       and _running(int(pid_text))):
            continue
        with contextlib.suppress(OSError):
            os.remove(entry.path)
            removed.append(entry.name)
    return removed


def _running(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate it there: assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _mode_for(path: str) -> int:
    """The permission bits a plain `open(path, "w")` would leave (np.save's behaviour)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would, for a moment, in all threads)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
