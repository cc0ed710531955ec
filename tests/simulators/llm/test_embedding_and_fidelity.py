"""The embedding backend on the real all-MiniLM-L6-v2, and persona fidelity against the shuffled control."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
import torch

from recgym.envs.factory import clear_simulator_memo
from simulators.llm.decisions import Situation
from simulators.llm.embedding import EmbeddingDecider
from simulators.llm.factory import make_simulator
from simulators.llm.fidelity import choice_fidelity, controlled_slates
from simulators.llm.memory import empty_memory
from simulators.llm.user import LLMPersonaUser


@pytest.fixture(scope="module")
def embedding_user(tmp_path_factory: pytest.TempPathFactory) -> LLMPersonaUser:
    cache = tmp_path_factory.mktemp("cache") / "responses.sqlite"
    return make_simulator(backend="embedding", num_personas=48, num_items=400, cache_path=str(cache))


def test_controlled_slates_hold_one_loved_item_among_unloved_ones(embedding_user: LLMPersonaUser) -> None:
    population, catalog = embedding_user.population, embedding_user.catalog
    personas, slates, targets = controlled_slates(population, catalog, slate_size=4, trials_per_persona=2, seed=0)
    interest = population.interests[personas.unsqueeze(1), catalog.topic[slates]]
    rows = torch.arange(len(personas))
    assert bool((interest[rows, targets] >= 0.5).all())
    others = torch.ones_like(interest, dtype=torch.bool)
    others[rows, targets] = False
    assert bool((interest[others] <= 0.1).all())
    assert set(targets.tolist()) == {0, 1, 2, 3}  # the loved item moves around the slate


def test_minilm_personas_choose_from_their_interests_far_above_chance(embedding_user: LLMPersonaUser) -> None:
    decider, population, catalog = embedding_user.decider, embedding_user.population, embedding_user.catalog
    faithful = choice_fidelity(decider, population, catalog, slate_size=4)
    control = choice_fidelity(decider, population.shuffled(seed=1), catalog, slate_size=4)
    assert faithful.trials >= 30
    assert faithful.top_choice_rate > 0.85 and faithful.target_rate > 0.45  # chance is 0.25
    assert control.target_rate < 0.32 and control.top_choice_rate < 0.4


def test_fatigue_lowers_the_utility_of_an_item_just_watched(embedding_user: LLMPersonaUser) -> None:
    decider = embedding_user.decider
    assert isinstance(decider, EmbeddingDecider)
    slate = torch.tensor([[3, 4, 5]])
    fresh_items, fresh_ratings = empty_memory(1, 2, torch.device("cpu"))
    fresh = Situation(torch.tensor([0]), slate, fresh_items, fresh_ratings, torch.zeros(1, 20))
    tired = Situation(torch.tensor([0]), slate, torch.tensor([[-2, 3]]), torch.tensor([[0, 4]]), torch.zeros(1, 20))
    drop = decider.click_utilities(fresh) - decider.click_utilities(tired)
    assert drop[0, 0] == pytest.approx(decider.fatigue, abs=1e-4)  # the same item: cosine 1
    assert bool((drop[0, 1:] < decider.fatigue).all())


def test_embedding_ratings_follow_affinity(embedding_user: LLMPersonaUser) -> None:
    decider = embedding_user.decider
    population, catalog = embedding_user.population, embedding_user.catalog
    personas, slates, targets = controlled_slates(population, catalog, slate_size=4, trials_per_persona=1, seed=3)
    memory_items, memory_ratings = empty_memory(len(personas), 0, torch.device("cpu"))
    situation = Situation(personas, slates, memory_items, memory_ratings, torch.zeros(len(personas), 20))
    levels = torch.arange(1, 6, dtype=torch.float32)
    rows = torch.arange(len(personas))
    loved = torch.softmax(decider.rating_logits(situation, slates[rows, targets]), dim=1) @ levels
    unloved = torch.softmax(decider.rating_logits(situation, slates[rows, (targets + 1) % 4]), dim=1) @ levels
    assert float(loved.mean()) > float(unloved.mean()) + 1.0


def test_embedding_env_is_deterministic_and_reuses_cached_embeddings(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache.sqlite")

    def episode() -> tuple[list[torch.Tensor], dict]:
        env = gym.make_vec(
            "recgym/LLMPersona-v0",
            num_envs=16,
            vectorization_mode="vector_entry_point",
            backend="embedding",
            num_items=200,
            num_personas=8,
            cache_path=cache,
        ).unwrapped
        env.reset(seed=4)
        record = []
        for step in range(5):
            slate = torch.arange(step, step + env.slate_size).expand(env.num_envs, -1) % env.num_candidates
            _, reward, terminated, _, info = env.step(slate)
            record += [reward, terminated, info["rating"]]
        return record, env.simulator.usage()

    first, first_usage = episode()
    clear_simulator_memo()  # build the simulator again, so its embeddings come from the cache file
    again, again_usage = episode()
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert first_usage["cache_misses"] > 0 and again_usage["cache_misses"] == 0
