"""Files shared by processes: atomic writes, published folders, new-only files and locks."""

from __future__ import annotations

import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest

from recgym.core.files import atomic_write_text, file_lock, publish_directory, write_new_text


def test_atomic_write_replaces_whole_and_keeps_usual_permissions(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "result.json"
    atomic_write_text(path, "first")
    atomic_write_text(path, "second")
    assert path.read_text() == "second"
    assert [entry.name for entry in path.parent.iterdir()] == ["result.json"]  # no temporary left
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_write_new_text_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "table.md"
    write_new_text(path, "mine")
    with pytest.raises(FileExistsError):
        write_new_text(path, "theirs")
    assert path.read_text() == "mine"
    assert [entry.name for entry in tmp_path.iterdir()] == ["table.md"]


def _publish(target: str, label: str, barrier) -> None:
    def build(folder: Path) -> None:
        folder.mkdir()
        barrier.wait()  # both builders are half-way before either renames
        (folder / "who.txt").write_text(label)
        time.sleep(0.05)

    publish_directory(target, build)


def test_two_processes_publishing_one_folder_both_succeed_and_one_wins(tmp_path: Path) -> None:
    target = tmp_path / "model"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    processes = [context.Process(target=_publish, args=(str(target), label, barrier)) for label in "ab"]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0, 0]
    assert (target / "who.txt").read_text() in {"a", "b"}
    assert [entry.name for entry in tmp_path.iterdir()] == ["model"]  # the loser removed only its own folder


def _hold(path: str, seconds: float, log: str) -> None:
    with file_lock(path):
        with open(log, "a") as handle:
            handle.write(f"in {time.monotonic()}\n")
        time.sleep(seconds)
        with open(log, "a") as handle:
            handle.write(f"out {time.monotonic()}\n")


def test_file_lock_excludes_another_process(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_hold, args=(str(tmp_path / "cache"), 0.3, str(log))) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    events = [line.split()[0] for line in log.read_text().splitlines()]
    assert events == ["in", "out", "in", "out"]  # never two holders at once
