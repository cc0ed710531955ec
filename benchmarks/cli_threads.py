"""Wall time of ``recgym train`` and ``recgym evaluate`` at each ``--threads`` value: the CLI's default.

Each command runs as a fresh process, as a user runs it, so import and set-up are counted.
The default (``recgym.cli.default_threads``) is chosen from these figures; record them in
benchmarks/RESULTS.md with the machine and how busy it was (``uptime``'s load average).

    python benchmarks/cli_threads.py [--threads 1 2] [--num-users 1024] [--total-steps 65536]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def timed(command: list[str]) -> float:
    """Seconds one command takes, from process start to exit (it must succeed)."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--num-users", type=int, default=1024)
    parser.add_argument("--total-steps", type=int, default=65_536)
    arguments = parser.parse_args()
    recgym = [sys.executable, "-m", "recgym.cli"]
    table = Table(title=f"recgym CLI wall time (s), {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start")
    for column in ("threads", "train", "evaluate"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as folder:
        for threads in arguments.threads:
            run = Path(folder) / f"run-{threads}"
            common = ["--device", "cpu", "--num-users", str(arguments.num_users), "--threads", str(threads)]
            train = timed([*recgym, "train", *common, "--total-steps", str(arguments.total_steps), "--out", str(run)])
            evaluate = timed([*recgym, "evaluate", str(run), *common])
            table.add_row(str(threads), f"{train:.1f}", f"{evaluate:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
