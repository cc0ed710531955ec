"""Roll a policy out until every user has finished one episode, and total what happened.

It sits in core because trainers (policies) and evaluation both run episodes: the env is
anything with the vector-env interface (``reset``, ``step``, ``num_envs``, ``device``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from recgym.errors import ConfigError

_NORMAL_95 = 1.959964
_MEASURES = ("return", "watch_time", "clicks", "length", "return_visits", "liked", "shared", "followed")


class StepObserver(Protocol):
    """Sees every step of an evaluation; ``active [B]`` marks users still in their first episode."""

    def before_step(
        self, env: Any, observation: dict[str, torch.Tensor], slate: torch.Tensor, active: torch.Tensor
    ) -> None: ...

    def after_step(self, response: Any, active: torch.Tensor) -> None: ...


@dataclasses.dataclass(frozen=True)
class MetricSummary:
    """Mean over users with a normal-approximation 95% confidence interval."""

    mean: float
    ci_low: float
    ci_high: float
    count: int

    @classmethod
    def of(cls, values: torch.Tensor) -> MetricSummary:
        values = values.to(torch.float64).cpu()
        count = int(values.numel())
        mean = float(values.mean())
        half_width = _NORMAL_95 * float(values.std()) / math.sqrt(count) if count > 1 else float("nan")
        return cls(mean, mean - half_width, mean + half_width, count)


@dataclasses.dataclass(frozen=True)
class EpisodeTotals:
    """Each user's first complete episode, float [B] per measure."""

    episode_return: torch.Tensor
    watch_time: torch.Tensor
    clicks: torch.Tensor
    length: torch.Tensor
    return_visits: torch.Tensor
    """Sessions that ended with the user coming back within the episode (retention)."""
    liked: torch.Tensor
    shared: torch.Tensor
    followed: torch.Tensor

    def summary(self) -> dict[str, MetricSummary]:
        """Mean and 95% CI of each measure over users."""
        return {field.name: MetricSummary.of(getattr(self, field.name)) for field in dataclasses.fields(self)}


def evaluate_policy(
    env: Any,
    policy: Any,
    seed: int = 0,
    learn_online: bool = True,
    max_steps: int | None = None,
    on_step: Callable[[int, int], None] | None = None,
    observers: Sequence[StepObserver] = (),
) -> EpisodeTotals:
    """Run ``policy`` (greedily: ``explore=False``) on every user of ``env`` for one episode.

    Online learners keep learning from responses when ``learn_online``. Users who finish
    early keep being stepped (the batch moves in lockstep) but only their first episode
    counts. ``on_step(finished_users, num_users)`` reports progress; ``observers`` see each
    step's slates and responses (e.g. ``recgym.eval.metrics.SlateStatistics``).
    """
    limit = max_steps or env.max_episode_steps or 100_000
    observation, _ = env.reset(seed=seed)
    num_users, device = env.num_envs, env.device
    totals = {name: torch.zeros(num_users, device=device) for name in _MEASURES}
    finished = torch.zeros(num_users, dtype=torch.bool, device=device)
    for _ in range(limit):
        slate = policy.act(observation, explore=False)
        for observer in observers:
            observer.before_step(env, observation, slate, ~finished)
        next_observation, reward, terminated, truncated, info = env.step(slate)
        response = info["response"]
        for observer in observers:
            observer.after_step(response, ~finished)
        if learn_online:
            policy.update(observation, slate, response)
        active = (~finished).to(torch.float32)
        totals["return"] += active * reward
        totals["watch_time"] += active * response.watch_time.sum(dim=1)
        totals["clicks"] += active * response.clicked.sum(dim=1)
        totals["length"] += active
        totals["return_visits"] += active * response.returned
        for behaviour in ("liked", "shared", "followed"):
            totals[behaviour] += active * getattr(response, behaviour).sum(dim=1)
        finished |= terminated | truncated
        observation = next_observation
        done_count = int(finished.sum())
        if on_step is not None:
            on_step(done_count, num_users)
        if done_count == num_users:
            break
    else:
        raise ConfigError(
            f"{num_users - int(finished.sum())} users had not finished an episode after {limit} steps; "
            "set max_episode_steps on the env or pass a larger max_steps."
        )
    return EpisodeTotals(episode_return=totals.pop("return"), **totals)
