"""Env ids: one ``register`` call makes a simulator available to gym.make and gym.make_vec."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

NAMESPACE = "recgym"


def register(id: str, simulator: str, max_episode_steps: int | None = None, **default_kwargs: Any) -> None:
    """Register ``id`` (e.g. 'recgym/InterestEvolution-v0') for a simulator factory entry point.

    ``simulator`` is a string 'package.module:function' returning a ``UserSimulator``; it is
    imported only when the env is made. ``default_kwargs`` are defaults for the env and the
    simulator factory, which ``gym.make(id, **kwargs)`` can override.
    """
    gym.register(
        id=id,
        entry_point="recgym.envs.factory:make_env",
        vector_entry_point="recgym.envs.factory:make_vector_env",
        max_episode_steps=max_episode_steps,
        kwargs={"simulator": simulator, **default_kwargs},
    )


def registered_ids() -> list[str]:
    """All env ids in recgym's namespace, sorted."""
    return sorted(env_id for env_id in gym.registry if env_id.startswith(f"{NAMESPACE}/"))


# id -> (simulator factory entry point, max_episode_steps). Simulators whose episodes span
# many sessions end themselves at their horizon in days; the step cap is only a safety net.
BUILTIN_ENVS: dict[str, tuple[str, int]] = {
    "recgym/InterestEvolution-v0": ("simulators.interest_evolution:make_simulator", 500),
    "recgym/LongTermSatisfaction-v0": ("simulators.long_term_satisfaction:make_simulator", 2000),
    "recgym/FatigueNovelty-v0": ("simulators.fatigue_novelty:make_simulator", 2000),
    "recgym/MultiBehaviorRetention-v0": ("simulators.multi_behavior:make_simulator", 2000),
    "recgym/Hydra-v0": ("simulators.hydra:make_simulator", 500),
    "recgym/Sim2RecFamily-v0": ("simulators.family:make_family_simulator", 2000),
    "recgym/LinearClick-v0": ("simulators.linear_click:make_simulator", 1000),
    "recgym/LLMPersona-v0": ("simulators.llm.factory:make_simulator", 100),
}


def register_builtin_envs() -> None:
    """The envs that ship with recgym; idempotent."""
    for env_id, (simulator, max_episode_steps) in BUILTIN_ENVS.items():
        if env_id not in gym.registry:
            register(env_id, simulator=simulator, max_episode_steps=max_episode_steps)
