"""Converted models on disk: two processes converting one GGUF at once, damaged folders, the cache's location."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from recgym.llm.backends import BackendError
from recgym.llm.backends.transformers_backend import (
    TransformersBackend,
    default_model_cache_dir,
    load_gguf_as_directory,
)
from tests.file_hashes import assert_unchanged, folder_hashes


@pytest.mark.slow
def test_two_processes_converting_into_one_empty_cache_both_get_the_same_loadable_folder(
    smollm2_conversion_race: dict[str, Any], model_cache_dir: Path, smollm2_gguf_file: Path
) -> None:
    """The race the conftest runs once per test run: two real processes, one empty folder, one conversion."""
    record = smollm2_conversion_race
    target = model_cache_dir / smollm2_gguf_file.stem
    assert record["before"] == [], "the model cache was not empty when the race started"
    first, second = record["results"]
    assert first["path"] == second["path"] == str(target)
    assert [first["converted"], second["converted"]].count(True) == 1, record  # the other waited and reused it
    # Only the published folder and its lock remain: no temporary folder left behind by either process.
    assert record["after"] == sorted([target.name, f"{target.name}.lock"])
    print(f"\nconversion race: {first['seconds']:.1f} s and {second['seconds']:.1f} s")
    backend = TransformersBackend.from_pretrained(target, batch_size=2)
    prompt = backend.chat_prompt("You love cooking.", "A pasta video shows up. Do you watch it? Answer Yes or No.")
    scores = backend.option_logprobs([prompt], ["Yes", "No"])
    assert scores.shape == (1, 2) and bool(torch.isfinite(scores).all())
    # A later call finds the published folder at once.
    assert load_gguf_as_directory(smollm2_gguf_file, model_cache_dir) == target


def test_a_damaged_model_folder_is_named_and_left_alone(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"not used: the damaged folder is found first")
    damaged = tmp_path / "models" / "tiny"
    damaged.mkdir(parents=True)
    (damaged / "notes.txt").write_text("a user's file")
    before = folder_hashes(tmp_path / "models")
    with pytest.raises(BackendError, match=r"models/tiny exists but holds no converted model.*RECGYM_MODEL_CACHE"):
        load_gguf_as_directory(gguf, tmp_path / "models")
    assert_unchanged(before, tmp_path / "models")


def test_abandoned_temporary_folders_are_cleaned_but_nothing_else(tmp_path: Path) -> None:
    """A conversion killed half-way leaves ``.<name>.<pid>-<hex>.partial``; the next conversion removes only those."""
    from recgym.llm.backends.transformers_backend import _remove_abandoned_conversions

    models = tmp_path / "models"
    abandoned = models / ".tiny.1234-0123abcd.partial"
    abandoned.mkdir(parents=True)
    (abandoned / "model.safetensors").write_bytes(b"half")
    kept = [models / "tiny.partial", models / ".tiny.notes.partial", models / ".tinier.1234-0123abcd.partial"]
    for folder in kept:
        folder.mkdir()
    _remove_abandoned_conversions(models / "tiny")
    assert not abandoned.exists() and all(folder.is_dir() for folder in kept)


def test_the_model_cache_folder_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECGYM_MODEL_CACHE", str(tmp_path / "mine"))
    assert default_model_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("RECGYM_MODEL_CACHE")
    assert default_model_cache_dir() == Path.home() / ".cache" / "recgym" / "models"


def test_this_test_run_uses_its_own_model_cache(model_cache_dir: Path) -> None:
    assert default_model_cache_dir() == model_cache_dir
    assert Path.home() / ".cache" not in model_cache_dir.parents
