"""Hashes of every file under a folder, so a test can prove a command left earlier results untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path


def folder_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of each file under ``folder``, keyed by its path relative to ``folder``."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def assert_unchanged(before: dict[str, str], folder: Path) -> None:
    """Every file hashed in ``before`` is still there with the same content (new files are allowed)."""
    after = folder_hashes(folder)
    changed = sorted(name for name, digest in before.items() if after.get(name) != digest)
    assert not changed, f"files of an earlier run changed or vanished: {changed}"
