"""The response cache: persistent, keyed by everything that changes an answer, counting hits."""

from __future__ import annotations

from pathlib import Path

from simulators.llm.cache import ResponseCache, cache_key
from tests.simulators.llm.processes import run_at_once, write_responses


def test_second_run_is_served_from_the_file_without_calling_the_model(tmp_path: Path) -> None:
    calls: list[list[int]] = []

    def compute(missing: list[int]) -> list[dict[str, float]]:
        calls.append(missing)
        return [{"logprob": -float(index)} for index in missing]

    prompts = ["a", "b", "c"]
    first = ResponseCache(tmp_path / "cache.sqlite")
    values = first.get_or_compute("model-x", prompts, {"temperature": 0.7}, compute)
    first.close()
    again = ResponseCache(tmp_path / "cache.sqlite")
    assert again.get_or_compute("model-x", prompts, {"temperature": 0.7}, compute) == values
    assert calls == [[0, 1, 2]]
    assert (again.hits, again.misses, again.hit_rate) == (3, 0, 1.0)


def test_only_missing_prompts_are_computed() -> None:
    cache = ResponseCache()
    cache.get_or_compute("m", ["a"], {}, lambda missing: ["A"])
    seen: list[list[int]] = []
    values = cache.get_or_compute("m", ["x", "a", "y"], {}, lambda missing: seen.append(missing) or ["X", "Y"])
    assert values == ["X", "A", "Y"] and seen == [[0, 2]]
    assert len(cache) == 3


def test_key_depends_on_model_prompt_and_every_parameter_but_not_their_order() -> None:
    base = cache_key("m", "p", {"temperature": 0.5, "seed": 1})
    assert base == cache_key("m", "p", {"seed": 1, "temperature": 0.5})
    assert (
        len(
            {
                base,
                cache_key("n", "p", {"temperature": 0.5, "seed": 1}),
                cache_key("m", "q", {"temperature": 0.5, "seed": 1}),
                cache_key("m", "p", {"temperature": 0.6, "seed": 1}),
            }
        )
        == 4
    )


def test_two_processes_writing_one_cache_file_at_once_agree_on_every_answer(tmp_path: Path) -> None:
    """Two real processes miss and store the same prompts at once (one walks forward, one backward).

    Neither fails on a locked database, nothing is lost, and where both computed a prompt each
    process used the answer the file kept (the first stored), so a rerun replays what both saw.
    """
    path = tmp_path / "shared.sqlite"
    prompts = [f"prompt {index}" for index in range(240)]
    forward, backward = run_at_once(
        write_responses, [(str(path), "A", prompts, 12), (str(path), "B", prompts[::-1], 12)], timeout_s=120
    )
    cache = ResponseCache(path)
    stored = dict(zip(prompts, cache.get_many([cache_key("model", p, {"call": "test"}) for p in prompts]), strict=True))
    assert len(cache) == len(prompts) and None not in stored.values()
    writers = {value.split(":")[0] for value in stored.values()}
    assert writers == {"A", "B"}  # both really wrote
    assert forward == stored, sorted(p for p in prompts if forward[p] != stored[p])[:5]
    assert backward == stored, sorted(p for p in prompts if backward[p] != stored[p])[:5]
