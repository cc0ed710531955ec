"""The transformers backend on a tiny model built in the test: batching, padding, errors, save and reload."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from simulators.llm.backends import BackendError
from simulators.llm.backends.transformers_backend import TransformersBackend
from tests.simulators.llm.tiny_model import tiny_model, tiny_tokenizer

PROMPTS = [
    "you are a user who loves cooking . choose one item or 0 for none : 1 cooking 2 football",
    "you are a user . the slate is : 1 music 2 travel 3 science . answer",
    "rate it from 1 to 5 :",
]
OPTIONS = ["0", "1", "2", "3"]


@pytest.fixture(scope="module")
def backend() -> TransformersBackend:
    tokenizer = tiny_tokenizer()
    return TransformersBackend(tiny_model(len(tokenizer)), tokenizer, model_id="tiny-llama", batch_size=2)


def test_batched_left_padded_scores_equal_one_prompt_at_a_time(backend: TransformersBackend) -> None:
    batched = backend.option_logprobs(PROMPTS, OPTIONS)
    single = torch.cat([backend.option_logprobs([prompt], OPTIONS) for prompt in PROMPTS])
    assert batched.shape == (3, 4)
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-4)
    assert bool((batched <= 0).all()) and bool((batched.exp().sum(dim=1) < 1).all())


def test_options_must_be_single_distinct_tokens(backend: TransformersBackend) -> None:
    with pytest.raises(BackendError, match="single token"):
        backend.option_logprobs(PROMPTS, ["1", "cooking travel"])


def test_saved_model_reloads_from_a_local_directory_with_the_same_scores(
    backend: TransformersBackend, tmp_path: Path
) -> None:
    backend.model.save_pretrained(tmp_path / "tiny")
    backend.tokenizer.save_pretrained(tmp_path / "tiny")
    reloaded = TransformersBackend.from_pretrained(tmp_path / "tiny")
    torch.testing.assert_close(reloaded.option_logprobs(PROMPTS, OPTIONS), backend.option_logprobs(PROMPTS, OPTIONS))


def test_unknown_model_path_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="never downloaded"):
        TransformersBackend.from_pretrained(tmp_path / "no-such-model")


def test_generation_is_seeded(backend: TransformersBackend) -> None:
    first = backend.generate(PROMPTS[:2], max_new_tokens=4, temperature=1.0, seed=3)
    assert first == backend.generate(PROMPTS[:2], max_new_tokens=4, temperature=1.0, seed=3)
    assert len(first) == 2 and all(isinstance(text, str) for text in first)
