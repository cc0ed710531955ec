"""A persistent cache of model calls, so a rerun with the same seed replays exactly and costs nothing.

Every backend call goes through ``ResponseCache.get_or_compute``: the key is a hash of the
model id, the prompt and every sampling parameter (temperature, seed, options), the value is
the call's JSON-serialisable result. SQLite makes it one file that survives restarts; hits and
misses are counted so runs can report the hit rate.

Several processes may share the file (pytest workers, a sweep's runs): it is in WAL mode, so
readers never wait for a writer, writers queue behind a busy timeout instead of failing, and
each write is one transaction. When two processes compute the same prompt at once the first
stored answer is kept and both use it, so a rerun from the file replays what both saw.
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

    def __init__(self, path: str | Path = ":memory:", busy_timeout_s: float = 60.0) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit (isolation_level=None): transactions are opened explicitly, as BEGIN IMMEDIATE, below.
            self._connection = sqlite3.connect(
                self.path, check_same_thread=False, timeout=busy_timeout_s, isolation_level=None
            )
            if self.path != ":memory:":
                self._connection.execute("PRAGMA journal_mode=WAL")
                # NORMAL keeps a WAL file consistent through a crash; a cache may lose its last write.
                self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.execute(_SCHEMA)
        except sqlite3.DatabaseError as error:
            raise ConfigError(
                f"Cannot open the response cache at {self.path}: {error}. Pass another cache_path "
                "(or set $RECGYM_LLM_CACHE); a locked file means another process held it for over "
                f"{busy_timeout_s:.0f} s."
            ) from error
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
        with self._lock:
            found = self._select(keys)
            hits = sum(key in found for key in keys)
            self.hits += hits
            self.misses += len(keys) - hits
        return [found.get(key) for key in keys]

    def put_many(self, model: str, items: Sequence[tuple[str, Any]]) -> list[Any]:
        """Store (key, value) pairs for ``model`` and return the values the file now holds for those keys.

        A key already present keeps its first value (perhaps another process's): the returned
        value is that one, so every process uses the same answer for the same key.
        """
        keys = [key for key, _ in items]
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")  # take the write lock now: no read-then-upgrade deadlock
            try:
                self._connection.executemany(
                    "INSERT OR IGNORE INTO responses (key, model, value) VALUES (?, ?, ?)",
                    [(key, model, json.dumps(value)) for key, value in items],
                )
                stored = self._select(keys)
                self._connection.execute("COMMIT")
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
        return [stored[key] for key in keys]

    def _select(self, keys: Sequence[str]) -> dict[str, Any]:
        """Stored values of those ``keys`` that are present; the caller holds ``self._lock``."""
        found: dict[str, Any] = {}
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            chunk = list(keys[start : start + 500])
            placeholders = ",".join("?" * len(chunk))
            rows = self._connection.execute(
                f"SELECT key, value FROM responses WHERE key IN ({placeholders})", chunk
            ).fetchall()
            found.update((key, json.loads(value)) for key, value in rows)
        return found

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
            # What the file holds, not what was computed: another process may have stored these keys first.
            computed_items = [(keys[index], value) for index, value in zip(missing, computed, strict=True)]
            stored = self.put_many(model, computed_items)
            for index, value in zip(missing, stored, strict=True):
                values[index] = value
        return values

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self._connection.close()
