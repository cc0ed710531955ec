"""Files that several processes may write at once: atomic writes, published folders and locks.

Every on-disk cache and store in recgym goes through these, so two processes (two pytest
workers, two sweeps, a sweep and a report) never see a half-written file and never trip over
each other's temporary names:

- ``atomic_write_bytes`` / ``atomic_write_text``: write to a uniquely named temporary file in
  the same folder, fsync, then ``os.replace`` (atomic on POSIX and Windows).
- ``write_new_bytes`` / ``write_new_text``: create a file that must not exist yet, whole or not at all.
- ``publish_directory``: build a folder under a unique temporary name and rename it into
  place; if another process got there first, its folder is kept and ours is discarded, so the
  loser of the race uses the winner's result.
- ``file_lock``: an inter-process lock (``filelock``) for work that must run once, such as a
  45-second model conversion that two processes would otherwise both do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock


def unique_sibling(path: Path, suffix: str = ".partial") -> Path:
    """A name beside ``path`` that no other process will pick: ``<name>.<pid>-<random><suffix>``."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def _read_umask() -> int:
    """The process umask (read once, at import: setting it to read it is not thread-safe later)."""
    current = os.umask(0)
    os.umask(current)
    return current


_UMASK = _read_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        os.fchmod(descriptor, 0o666 & ~_UMASK)  # mkstemp makes 0600; results keep the usual permissions
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """``atomic_write_bytes`` for UTF-8 text."""
    atomic_write_bytes(path, text.encode())


def write_new_bytes(path: str | Path, data: bytes) -> None:
    """Create ``path`` with ``data``, complete or not at all; FileExistsError if it already exists.

    Written beside it first, then hard-linked into place: ``os.link`` fails on an existing
    name, so a result someone else wrote meanwhile is never overwritten.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = unique_sibling(path)
    try:
        temporary.write_bytes(data)
        os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_new_text(path: str | Path, text: str) -> None:
    """``write_new_bytes`` for UTF-8 text."""
    write_new_bytes(path, text.encode())


def publish_directory(target: str | Path, build: Callable[[Path], None]) -> Path:
    """Make ``target`` by ``build(temporary_folder)`` then one rename; a folder already there wins.

    Safe when several processes publish the same ``target`` at once: each builds in its own
    temporary folder, the first rename wins, and the others delete only their own temporary
    folder and return the winner's ``target``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = unique_sibling(target)
    try:
        build(temporary)
        try:
            os.rename(temporary, target)
        except OSError:
            if not target.is_dir():
                raise
            # Another process published first (rename onto a non-empty folder fails): use theirs.
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    return target


@contextlib.contextmanager
def file_lock(path: str | Path, timeout: float = -1) -> Iterator[None]:
    """Hold an inter-process lock on ``<path>.lock`` (created beside ``path``) for the ``with`` block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_name(path.name + ".lock")), timeout=timeout):
        yield
