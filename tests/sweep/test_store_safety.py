"""Issue 16: a damaged result file is reported and re-run, never deleted; two processes never share a store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from recgym.cli import main
from recgym.errors import StoreError
from recgym.sweep import ResultsStore, UnreadableResultWarning
from tests.file_hashes import assert_unchanged, folder_hashes
from tests.sweep.helpers import TINY_SCENARIOS

TINY = TINY_SCENARIOS[0]
REPO = Path(__file__).resolve().parents[2]
GARBAGE = b"PAR1 this is not a parquet file any more"


def flat(text: str) -> str:
    return "".join(text.split())


FINISHED_SEEDS = 3
"""Seeds of the ``finished`` sweep (tests/sweep/conftest.py) these tests start from."""


def cli(*arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    return subprocess.run(
        [sys.executable, "-m", "recgym.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=REPO,
        check=False,
    )


# -- C: a corrupt Parquet file ----------------------------------------------------------------------


def test_report_reads_what_it_can_and_names_the_damaged_file(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = store / "runs" / "tiny_linear--random--seed1.parquet"
    bad.write_bytes(GARBAGE)
    before = folder_hashes(store)
    with pytest.warns(UnreadableResultWarning, match="seed1.parquet"):
        runs = ResultsStore(store).runs()
    assert sorted(runs["seed"]) == [0, 2]
    assert main(["report", str(store)]) == 0
    text = flat(capsys.readouterr().out)
    assert text.count("warning:") == 1, "each damaged file is named once"
    assert flat(str(bad)) in text and "--resume" in text
    assert "tiny_linear" in (store / "report.md").read_text()
    assert_unchanged(before, store)  # reading moves nothing: only --resume quarantines
    assert bad.read_bytes() == GARBAGE


@pytest.mark.parametrize("damaged", ["runs", "curves"])
def test_resume_quarantines_a_damaged_run_and_runs_exactly_it_again(
    store: Path, capsys: pytest.CaptureFixture[str], damaged: str
) -> None:
    bad = store / damaged / "tiny_linear--random--seed1.parquet"
    bad.write_bytes(GARBAGE)
    before = folder_hashes(store)
    assert main(["sweep", "--resume", "--out", str(store), "--workers", "1"]) == 0
    text = flat(capsys.readouterr().out)
    assert "unreadableresultfile(s)movedto" in text and "2of3runsalreadyfinished" in text
    # the damaged file is kept, byte for byte, with a note saying why it moved
    kept = store / "quarantine" / damaged / bad.name
    assert kept.read_bytes() == GARBAGE
    assert "could not be read" in kept.with_name(kept.name + ".why.txt").read_text()
    # exactly that run ran again; the other runs' files are untouched
    untouched = {name: digest for name, digest in before.items() if "seed1" not in name and name != "manifest.sqlite"}
    assert_unchanged(untouched, store)
    runs = ResultsStore(store).runs()
    assert sorted(runs["seed"]) == [0, 1, 2]
    assert len(pd.read_parquet(store / "curves" / bad.name))  # its curve is whole again
    import sqlite3

    with sqlite3.connect(store / "manifest.sqlite") as connection:
        assert connection.execute("select count(*) from runs").fetchone()[0] == 3


# -- E: one sweep per store, with two real processes ------------------------------------------------

HOLD_LOCK = """
import sys, time
from recgym.sweep import ResultsStore
with ResultsStore(sys.argv[1]).lock():
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_store_held_by_another_process_is_refused_naming_it(store: Path) -> None:
    (store / "runs" / "tiny_linear--random--seed2.parquet").unlink()  # one run left to do
    before = folder_hashes(store)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(store), "60"], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = cli("sweep", "--resume", "--out", str(store), "--workers", "1")
        assert result.returncode == 2, result.stdout + result.stderr
        text = flat(result.stdout)
        assert f"Anothersweepisusing{store}" in text and f"process{holder.pid}" in text
        assert "sweep.lock" in text and "runthiscommandagain" in text
        assert_unchanged(before, store)
        assert "tiny_linear--random--seed2" not in ResultsStore(store).finished_ids()
        with pytest.raises(StoreError, match=f"process {holder.pid}"), ResultsStore(store).lock():
            pass
    finally:
        holder.kill()
        holder.wait()
    with ResultsStore(store).lock():  # the kernel released the dead holder's lock: never stale
        pass


def test_two_resumes_at_once_leave_every_run_once_and_whole(store: Path) -> None:
    plan = json.loads((store / "sweep.json").read_text())
    plan["plan"]["seeds"] = list(range(8))  # five runs to do, enough for the two processes to overlap
    (store / "sweep.json").write_text(json.dumps(plan))
    before = folder_hashes(store / "runs")
    command = [sys.executable, "-m", "recgym.cli", "sweep", "--resume", "--out", str(store), "--workers", "1"]
    environment = os.environ | {"OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    codes = [process.returncode for process in processes]
    assert 0 in codes, outputs
    ran = 0
    for code, output in zip(codes, outputs, strict=True):
        text = flat(output)
        if code == 2:
            assert "Anothersweepisusing" in text, output
        else:
            assert code == 0, output
            done = int(text.split("Resuming")[1].split("runsalreadyfinished")[0].split(":")[1].split("of")[0])
            ran += 8 - done
    assert ran == 5, f"each missing run ran once: {outputs}"
    store_ = ResultsStore(store)
    assert len(store_.runs()) == 8 and not store_.unreadable()
    assert not [path for path in store.rglob("*") if path.name.endswith((".partial", ".tmp"))]
    assert_unchanged(before, store / "runs")


def test_two_new_sweeps_into_one_folder_at_once_write_one_sweep(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "recgym.cli", "sweep", TINY, "--policies", "random", "--seeds", "3"]
    environment = os.environ | {"OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    processes = [
        subprocess.Popen(
            [*command, "--out", str(out), "--workers", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
        for _ in range(2)
    ]
    outputs = [flat(process.communicate(timeout=300)[0]) for process in processes]
    codes = sorted(process.returncode for process in processes)
    assert codes == [0, 2], outputs
    refused = outputs[[process.returncode for process in processes].index(2)]
    assert "Anothersweepisusing" in refused or "alreadyholdsasweep" in refused
    assert len(ResultsStore(out).runs()) == 3


def test_store_files_are_written_under_names_unique_to_their_process(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers of one file never share a temporary name (the old '.NAME.tmp' was the same for all)."""
    seen: list[str] = []
    real_replace = os.replace

    def record(source: str, target: str) -> None:
        seen.append(os.path.basename(source))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", record)
    ResultsStore(store).write_plan(json.loads((store / "sweep.json").read_text()))
    ResultsStore(store).write_plan(json.loads((store / "sweep.json").read_text()))
    assert len(seen) == 2 and seen[0] != seen[1] and all(name.startswith(".sweep.json.") for name in seen)


# -- G: the sweep benchmark never deletes a folder ----------------------------------------------------


def test_the_sweep_benchmark_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    out = tmp_path / "my-results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    before = folder_hashes(out)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "benchmarks/sweep_time.py", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(out) in result.stderr and "--out" in result.stderr
    assert "Traceback" not in result.stderr
    assert_unchanged(before, out)
    assert time.monotonic() - started < 60, "it must refuse before running anything"


def test_report_of_a_store_with_only_damaged_files_names_them(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in (store / "runs").glob("*.parquet"):
        path.write_bytes(GARBAGE)
    assert main(["report", str(store)]) == 2
    text = flat(capsys.readouterr().out)
    assert text.count("warning:") == 3 and "nofinishedruns" in text and "--resume" in text
