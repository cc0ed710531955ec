"""Where runs execute: a local process pool (default) or a Ray cluster; both yield results as they finish.

An executor takes ``RunSpec``s and yields ``(spec, RunResult)`` pairs in completion order;
the sweep's driver writes each one to the store the moment it arrives, so stopping the
driver at any point loses at most the runs still in flight.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import signal
import socket
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from recgym.errors import ConfigError
from recgym.sweep.run import RunResult, RunSpec, execute_run


class Executor(Protocol):
    """Runs specs somewhere and yields each result as soon as it exists."""

    def run(self, specs: Sequence[RunSpec]) -> Iterator[tuple[RunSpec, RunResult]]: ...


class LocalExecutor:
    """A pool of ``workers`` processes on this machine; ``workers=1`` runs in this process (easiest to debug)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        if self.workers <= 0:
            raise ConfigError(f"workers must be positive; got {self.workers}.")

    def run(self, specs: Sequence[RunSpec]) -> Iterator[tuple[RunSpec, RunResult]]:
        if self.workers == 1:
            for spec in specs:
                yield spec, execute_run(spec)
            return
        # spawn: forked children would inherit torch's thread pools and any open handles of the parent.
        # Workers ignore SIGINT: Ctrl-C reaches the whole terminal process group, and only the driver
        # should answer it (stopping the workers itself, without a traceback from each).
        context = multiprocessing.get_context("spawn")
        pool = concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=context, initializer=_ignore_interrupts)
        futures = {pool.submit(execute_run, spec): spec for spec in specs}
        try:
            for future in concurrent.futures.as_completed(futures):
                yield futures[future], future.result()
        except BaseException:  # Ctrl-C, a failed run, or the driver closing this generator early
            _stop(pool, futures)
            raise
        pool.shutdown(wait=True)


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop(pool: concurrent.futures.ProcessPoolExecutor, futures: Iterable[concurrent.futures.Future]) -> None:
    """Stop a pool now: queued runs are cancelled and running ones terminated (their results are not wanted).

    ``shutdown(wait=True)`` would wait for every running run (an RL run trains for minutes);
    an RL run terminated mid-training resumes from its last checkpoint, which is written atomically.
    """
    for future in futures:
        future.cancel()
    processes = list((getattr(pool, "_processes", None) or {}).values())  # Python 3.14 adds terminate_workers()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)


class RayExecutor:
    """The same runs as Ray tasks on the cluster at ``address`` ('auto', 'ray://host:port', or None for a local one)."""

    def __init__(self, address: str | None = None, cpus_per_run: float = 1.0) -> None:
        try:
            import ray
        except ImportError as error:
            raise ConfigError("The Ray executor needs Ray: pip install 'recgym[ray]' (or pip install ray).") from error
        self.ray = ray
        self.address = address
        self.cpus_per_run = cpus_per_run

    def run(self, specs: Sequence[RunSpec]) -> Iterator[tuple[RunSpec, RunResult]]:
        ray = self.ray
        started_here = not ray.is_initialized()
        if started_here:
            try:
                _check_reachable(self.address)
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, OSError, RuntimeError, ValueError) as error:
                raise ConfigError(
                    f"Cannot reach a Ray cluster at {self.address!r}: {error}. Start one with `ray start --head` "
                    "and pass its address (or 'auto'), or use --executor local."
                ) from error
        remote_run = ray.remote(num_cpus=self.cpus_per_run)(execute_run)
        pending = {remote_run.remote(spec): spec for spec in specs}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for reference in done:
                    yield pending.pop(reference), ray.get(reference)
        finally:
            for reference in pending:
                ray.cancel(reference, force=True)
            if started_here:
                ray.shutdown()


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes, when a 'host:port' address has nothing listening (Ray retries for long)."""
    if address is None or address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=timeout):
        pass


def make_executor(name: str, workers: int | None = None, address: str | None = None) -> Executor:
    """'local' (process pool) or 'ray'."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address)
    raise ConfigError(f"Unknown executor {name!r}; use 'local' (a process pool) or 'ray' (with --address).")
