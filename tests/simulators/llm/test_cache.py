"""The response cache: persistent, keyed by everything that changes an answer, counting hits."""

from __future__ import annotations

from pathlib import Path

from simulators.llm.cache import ResponseCache, cache_key


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
