"""Shared fixtures: small envs and simulators, so every test runs in seconds."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import recgym  # noqa: F401  (registers env ids)
from recgym.core.catalog import Catalog
from recgym.envs.vector_env import RecVectorEnv
from simulators.interest_evolution import InterestEvolutionParams, InterestEvolutionUser

ENV_ID = "recgym/InterestEvolution-v0"

TEST_ENV_KWARGS: dict[str, dict[str, object]] = {
    # LLM personas decide through MiniLM embeddings in the generic env tests: the same env code path
    # at tensor speed. The language-model backends have their own tests in tests/simulators/llm.
    "recgym/LLMPersona-v0": {"backend": "embedding", "num_personas": 16},
}


def env_test_kwargs(env_id: str, **kwargs: object) -> dict[str, object]:
    """Keyword arguments for making ``env_id`` in a fast test: the env's own plus ``kwargs``."""
    return {**TEST_ENV_KWARGS.get(env_id, {}), **kwargs}


@pytest.fixture(autouse=True, scope="session")
def _private_model_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """LLM responses go to a per-run cache, never the user's ~/.cache/recgym."""
    import os

    os.environ["RECGYM_LLM_CACHE"] = str(tmp_path_factory.mktemp("llm-cache") / "responses.sqlite")


@pytest.fixture(autouse=True)
def _single_thread() -> None:
    """Two pytest workers on two cores: one torch thread each avoids oversubscription."""
    torch.set_num_threads(1)


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.generate(num_items=500, num_topics=20, seed=3)


@pytest.fixture
def user_model(catalog: Catalog) -> InterestEvolutionUser:
    return InterestEvolutionUser(catalog, InterestEvolutionParams())


def make_vector_env(num_envs: int = 8, **kwargs) -> RecVectorEnv:
    """A small interest-evolution vector env through gymnasium's make_vec."""
    kwargs.setdefault("num_items", 500)
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs).unwrapped
