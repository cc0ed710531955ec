"""LLMPersona-v0 on a tiny in-test language model: env checkers, decisions, memory, cache replay, errors."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from recgym.envs.factory import clear_simulator_memo
from recgym.envs.vector_env import RecVectorEnv
from recgym.errors import ConfigError
from recgym.llm.backends import BackendError
from simulators.llm.memory import EMPTY, SKIPPED
from simulators.llm.persona import PersonaFileError
from simulators.llm.user import LLMPersonaUser
from tests.simulators.llm.tiny_model import tiny_model, tiny_tokenizer

ENV_ID = "recgym/LLMPersona-v0"


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama saved as a local model directory, the way a user passes their own model."""
    directory = tmp_path_factory.mktemp("models") / "tiny-llama"
    tokenizer = tiny_tokenizer()
    tiny_model(len(tokenizer), seed=1).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _vector_env(model: Path, cache: Path, num_envs: int = 4, **kwargs: object) -> RecVectorEnv:
    options = {"num_items": 60, "num_personas": 6, "num_candidates": 6, "slate_size": 3, "max_episode_steps": 8}
    options.update(kwargs)
    env = gym.make_vec(
        ENV_ID,
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        model=str(model),
        cache_path=str(cache),
        **options,
    )
    return env.unwrapped


def _rollout(env: RecVectorEnv, seed: int, steps: int) -> list[torch.Tensor]:
    observation, _ = env.reset(seed=seed)
    generator = torch.Generator().manual_seed(seed)
    record = [observation["candidate_ids"]]
    for _ in range(steps):
        slate = torch.rand(env.num_envs, env.num_candidates, generator=generator).argsort(dim=1)[:, : env.slate_size]
        observation, reward, terminated, _, info = env.step(slate)
        record += [observation["candidate_ids"], reward, terminated, info["response"].choice, info["rating"]]
    return record


def test_env_passes_the_gymnasium_checker_on_a_local_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    env = gym.make(ENV_ID, model=str(tiny_model_dir), cache_path=str(tmp_path / "cache.sqlite"), num_items=60)
    check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=0)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert 0 <= int(info["rating"]) <= 5
    assert env.unwrapped.vector_env.simulator.usage()["cache_hits"] > 0  # the checker repeats seeds


def test_responses_are_consistent_decisions(tiny_model_dir: Path, tmp_path: Path) -> None:
    env = _vector_env(tiny_model_dir, tmp_path / "cache.sqlite", num_envs=6, leave_bias=-1.0)
    env.reset(seed=3)
    for _ in range(4):
        slate = torch.arange(env.slate_size).expand(env.num_envs, -1)
        _, reward, terminated, _, info = env.step(slate)
        response, rating = info["response"], info["rating"]
        clicked_any = response.choice >= 0
        assert torch.equal(response.clicked.sum(dim=1), clicked_any.long())  # at most one click, at the choice
        assert torch.equal(rating > 0, clicked_any)  # a rating exactly for those who watched something
        assert bool((rating <= 5).all())
        assert torch.equal(response.liked.any(dim=1), clicked_any & (rating >= 4))
        assert torch.equal(response.skipped, ~response.clicked)
        assert torch.equal(terminated, response.left)  # leaving ends the episode
        assert bool((reward[~clicked_any] == 0).all()) and bool((reward[clicked_any] > 0).all())


def test_memory_keeps_the_last_window_of_reactions(tiny_model_dir: Path, tmp_path: Path) -> None:
    env = _vector_env(tiny_model_dir, tmp_path / "cache.sqlite", memory_window=2, decide_leave=False)
    env.reset(seed=0)
    watched = []
    for _ in range(3):
        slate = torch.arange(env.slate_size).expand(env.num_envs, -1)
        shown = env.state.candidates[:, : env.slate_size]
        _, _, _, _, info = env.step(slate)
        choice = info["response"].choice
        watched.append(torch.where(choice >= 0, shown.gather(1, choice.clamp_min(0).unsqueeze(1)).squeeze(1), SKIPPED))
    memory = env.state.user.memory_items
    assert torch.equal(memory, torch.stack(watched[-2:], dim=1))
    assert torch.equal(env.state.user.topic_counts.sum(dim=1), sum((step >= 0).float() for step in watched))


def test_same_seed_and_cache_replays_exactly_and_a_rerun_costs_no_model_call(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache.sqlite"
    first_env = _vector_env(tiny_model_dir, cache)
    first = _rollout(first_env, seed=5, steps=6)
    clear_simulator_memo()  # a fresh simulator, as a rerun in a new process builds
    again_env = _vector_env(tiny_model_dir, cache)
    scored_before = again_env.simulator.decider.backend.stats["prompts_scored"]
    again = _rollout(again_env, seed=5, steps=6)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert again_env.simulator.decider.backend.stats["prompts_scored"] == scored_before  # nothing recomputed
    assert again_env.simulator.usage()["cache_hit_rate"] == 1.0
    other = _rollout(_vector_env(tiny_model_dir, cache), seed=6, steps=6)
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_slate_mode_and_expected_reward(tiny_model_dir: Path, tmp_path: Path) -> None:
    env = _vector_env(tiny_model_dir, tmp_path / "cache.sqlite", choice_mode="slate")
    env.reset(seed=1)
    expected = env.expected_reward()
    assert expected.shape == (env.num_envs, env.num_candidates)
    duration = env.simulator.catalog.lookup("duration", env.state.candidates)
    assert bool(((expected > 0) & (expected < duration)).all())
    _, _, _, _, info = env.step(torch.arange(env.slate_size).expand(env.num_envs, -1))
    assert info["response"].clicked.shape == (env.num_envs, env.slate_size)


def test_leaving_users_write_a_reflection(tiny_model_dir: Path, tmp_path: Path) -> None:
    env = _vector_env(tiny_model_dir, tmp_path / "cache.sqlite", reflect=True, leave_bias=10.0)
    env.reset(seed=2)
    _, _, terminated, _, info = env.step(torch.arange(env.slate_size).expand(env.num_envs, -1))
    assert bool(terminated.all())
    assert sorted(info["reflections"]) == list(range(env.num_envs))
    assert all(isinstance(text, str) for text in info["reflections"].values())


def test_memory_window_starts_empty(tiny_model_dir: Path, tmp_path: Path) -> None:
    env = _vector_env(tiny_model_dir, tmp_path / "cache.sqlite", memory_window=3)
    env.reset(seed=0)
    user = env.state.user
    assert isinstance(env.simulator, LLMPersonaUser)
    assert bool((user.memory_items == EMPTY).all()) and bool((user.topic_counts == 0).all())


def test_bad_configuration_is_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache.sqlite")
    with pytest.raises(ConfigError, match="Unknown backend"):
        gym.make(ENV_ID, backend="vllm", cache_path=cache)
    with pytest.raises(BackendError, match="never downloads"):
        gym.make(ENV_ID, model="HuggingFaceTB/SmolLM2-135M-Instruct", cache_path=cache)
    with pytest.raises(ConfigError, match="base_url"):
        gym.make(ENV_ID, backend="openai", model="smollm2", cache_path=cache)
    with pytest.raises(ConfigError, match="temperature"):
        gym.make(ENV_ID, model=str(tiny_model_dir), temperature=0.0, cache_path=cache)
    with pytest.raises(ConfigError, match="choice_mode"):
        gym.make(ENV_ID, model=str(tiny_model_dir), choice_mode="numbered", cache_path=cache)
    with pytest.raises(ConfigError, match="Unknown argument"):
        gym.make(ENV_ID, model=str(tiny_model_dir), temprature=0.5, cache_path=cache)
    persona_file = tmp_path / "personas.json"
    persona_file.write_text(json.dumps([{"name": "Maya", "interests": {"cooking": 0.9}}]))
    with pytest.raises(PersonaFileError, match="missing field"):
        gym.make(ENV_ID, model=str(tiny_model_dir), persona_file=str(persona_file), cache_path=cache)


@pytest.mark.parametrize("backend", ["transformers", "openai", "embedding"])
def test_a_misspelt_choice_mode_is_refused_for_every_backend_before_any_model_loads(
    backend: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """``choice_mode="slat"`` was ignored by the embedding backend, and found only after loading a model by others."""
    options = {
        "transformers": {"model": str(tiny_model_dir)},
        "openai": {"base_url": "http://127.0.0.1:9/v1", "model": "smollm2"},  # nothing listens: never contacted
        "embedding": {},
    }[backend]
    with pytest.raises(
        ConfigError, match=r"Unknown choice_mode 'slat'; did you mean 'slate'\? choose one of \('per_item', 'slate'\)"
    ):
        gym.make(ENV_ID, backend=backend, choice_mode="slat", cache_path=str(tmp_path / "cache.sqlite"), **options)


def test_the_embedding_backend_refuses_the_slate_question_it_cannot_ask(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"choice_mode='slate' needs a language model .* leave choice_mode unset"):
        gym.make(ENV_ID, backend="embedding", choice_mode="slate", cache_path=str(tmp_path / "cache.sqlite"))
