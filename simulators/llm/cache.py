"""A persistent cache of model calls, so a rerun with the same seed replays exactly and costs nothing.

Every backend call goes through ``ResponseCache.get_or_compute``: the key is a hash of the
model id, the prompt and every sampling parameter (temperature, seed, options), the value is
the call's JSON-serialisable result. SQLite makes it one file that survives restarts and is
safe for several processes to share; hits and misses are counted so runs can report the
hit rate.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from recgym.errors import ConfigError

_SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, value TEXT NOT NULL)"


def cache_key(model: str, prompt: str, parameters: dict[str, Any]) -> str:
    """SHA-256 of model, prompt and sampling parameters (sorted, so argument order never matters)."""
    payload = json.dumps({"model": model, "prompt": prompt, "parameters": parameters}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class ResponseCache:
    """Model responses by (model, prompt, parameters) in an SQLite file (``":memory:"`` for a throwaway one)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connection = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
            self._connection.execute(_SCHEMA)
            self._connection.commit()
        except sqlite3.DatabaseError as error:
            raise ConfigError(f"Cannot open the response cache at {self.path}: {error}.") from error
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def hit_rate(self) -> float:
        """Share of lookups served from the cache so far (0 before any lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        """Cached values for ``keys`` (None where absent), counting hits and misses."""
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
                chunk = list(keys[start : start + 500])
                placeholders = ",".join("?" * len(chunk))
                rows = self._connection.execute(
                    f"SELECT key, value FROM responses WHERE key IN ({placeholders})", chunk
                ).fetchall()
                found.update((key, json.loads(value)) for key, value in rows)
            hits = sum(key in found for key in keys)
            self.hits += hits
            self.misses += len(keys) - hits
        return [found.get(key) for key in keys]

    def put_many(self, model: str, items: Sequence[tuple[str, Any]]) -> None:
        """Store (key, value) pairs for ``model``; a key already present keeps its first value."""
        with self._lock:
            self._connection.executemany(
                "INSERT OR IGNORE INTO responses (key, model, value) VALUES (?, ?, ?)",
                [(key, model, json.dumps(value)) for key, value in items],
            )
            self._connection.commit()

    def get_or_compute(
        self,
        model: str,
        prompts: Sequence[str],
        parameters: dict[str, Any],
        compute: Callable[[list[int]], list[Any]],
    ) -> list[Any]:
        """Values for every prompt: cached ones as they are, the rest from ``compute(missing_indices)``.

        ``compute`` gets the indices of the prompts not in the cache and returns their values in
        that order; it is not called when everything is cached.
        """
        keys = [cache_key(model, prompt, parameters) for prompt in prompts]
        values = self.get_many(keys)
        missing = [index for index, value in enumerate(values) if value is None]
        if missing:
            computed = compute(missing)
            if len(computed) != len(missing):
                raise ConfigError(f"compute returned {len(computed)} values for {len(missing)} prompts.")
            for index, value in zip(missing, computed, strict=True):
                values[index] = value
            self.put_many(model, [(keys[index], values[index]) for index in missing])
        return values

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self._connection.close()
