"""Run a function in several real processes released at the same moment, for tests of on-disk caches.

    results = run_at_once(convert_gguf, [(gguf, cache_dir), (gguf, cache_dir)])

Each call runs in its own spawned Python process (no state shared with the test's process but
the file system); a barrier releases them together once all have started, so their work overlaps
as two pytest workers' does. The targets live here, importable by the children.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any


def run_at_once(target: Callable[..., Any], arguments: Sequence[tuple[Any, ...]], timeout_s: float) -> list[Any]:
    """``target(*args)`` for each ``args``, each in a fresh process, started together; results in order.

    Raises AssertionError with every failed child's traceback, or when they are not all done in ``timeout_s``.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(arguments))
    results = context.Queue()
    processes = [
        context.Process(target=_child, args=(index, barrier, results, target, args), daemon=True)
        for index, args in enumerate(arguments)
    ]
    for process in processes:
        process.start()
    deadline = time.monotonic() + timeout_s
    outcomes: dict[int, tuple[bool, Any]] = {}
    try:
        while len(outcomes) < len(processes):
            try:
                index, succeeded, value = results.get(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
                outcomes[index] = (succeeded, value)
            except queue.Empty:
                dead = [i for i, p in enumerate(processes) if i not in outcomes and p.exitcode is not None]
                if dead:
                    raise AssertionError(
                        f"process(es) {dead} died without a result (exit codes {[processes[i].exitcode for i in dead]})"
                    ) from None
                if time.monotonic() > deadline:
                    raise AssertionError(f"processes not done after {timeout_s:.0f} s") from None
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    failures = [f"process {index}:\n{value}" for index, (succeeded, value) in sorted(outcomes.items()) if not succeeded]
    if failures:
        raise AssertionError("\n".join(failures))
    return [outcomes[index][1] for index in range(len(processes))]


def _child(index: int, barrier: Any, results: Any, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    import torch

    torch.set_num_threads(1)  # two processes on a 2-core machine shared with other test workers
    try:
        barrier.wait(timeout=300)
        results.put((index, True, target(*args)))
    except BaseException:
        results.put((index, False, traceback.format_exc()))


def convert_gguf(gguf_path: str, cache_dir: str) -> dict[str, Any]:
    """``load_gguf_as_directory`` in this process: the folder it returned, whether this process converted, time."""
    from recgym.llm.backends import transformers_backend

    messages: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger(transformers_backend.__name__)
    logger.setLevel(logging.INFO)
    logger.addHandler(Recorder())
    start = time.perf_counter()
    path = transformers_backend.load_gguf_as_directory(gguf_path, cache_dir)
    seconds = time.perf_counter() - start
    return {"path": str(path), "converted": any("Converting" in m for m in messages), "seconds": seconds}


def write_responses(cache_path: str, writer: str, prompts: list[str], batch_size: int) -> dict[str, Any]:
    """Look up and store ``prompts`` in batches through one ResponseCache, each computed value naming ``writer``.

    Each batch's computation sleeps a little, as a model call would, so two writers miss the same
    prompts and then both store them. Returns the value this writer was given for each prompt.
    """
    from simulators.llm.cache import ResponseCache

    cache = ResponseCache(cache_path)
    given: dict[str, Any] = {}
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]

        def compute(missing: list[int], batch: list[str] = batch) -> list[str]:
            time.sleep(0.02)
            return [f"{writer}:{batch[index]}" for index in missing]

        given.update(zip(batch, cache.get_or_compute("model", batch, {"call": "test"}, compute), strict=True))
    cache.close()
    return given
