"""The one rollout loop (``roll_out``) that evaluation, learning curves and off-policy logs share.

A rollout chooses slates, steps the env and lets observers record what they need (episode
totals, slate statistics, regret, logged propensities); ``evaluate_policy`` totals each user's
first episode. It sits in core because trainers (policies) use it too: the env is anything
with the vector-env interface (``reset``, ``step``, ``num_envs``, ``device``).
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


@dataclasses.dataclass(frozen=True)
class StepRecord:
    """One step of every user, as observers see it after the env has answered."""

    observation: dict[str, torch.Tensor]
    """What the policy saw when it chose ``slate``."""
    slate: torch.Tensor
    reward: torch.Tensor
    response: Any
    terminated: torch.Tensor
    truncated: torch.Tensor
    active: torch.Tensor
    """Users the rollout still counts, bool [B]: all of them, or those still in their first episode."""

    @property
    def done(self) -> torch.Tensor:
        return self.terminated | self.truncated


class StepObserver(Protocol):
    """Sees every step of a rollout: the slate before the env answers, then what it produced."""

    def before_step(
        self, env: Any, observation: dict[str, torch.Tensor], slate: torch.Tensor, active: torch.Tensor
    ) -> None: ...

    def after_step(self, step: StepRecord) -> None: ...


def roll_out(
    env: Any,
    choose: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    seed: int | None = 0,
    num_steps: int | None = None,
    learn: Callable[[dict[str, torch.Tensor], torch.Tensor, Any], None] | None = None,
    reset_users: Callable[[torch.Tensor], None] | None = None,
    observers: Sequence[Any] = (),
    on_step: Callable[[int, int], None] | None = None,
    max_steps: int | None = None,
) -> int:
    """The one act-step-learn loop every rollout runs; returns the steps taken.

    Each step: ``choose`` a slate, ``before_step`` of each observer, step the env,
    ``after_step`` of each observer, ``learn(observation, slate, response)``, then
    ``reset_users(done)`` when some users' episodes ended. With ``num_steps`` it runs that many
    steps and every user counts; without, until every user has finished its first episode (at
    most ``max_steps``, else the env's limit), later episodes uncounted. ``on_step(done, total)``
    reports steps (or finished users) of the total.
    """
    episodes = num_steps is None
    limit = (max_steps or env.max_episode_steps or 100_000) if episodes else num_steps
    observation, _ = env.reset(seed=seed)
    num_users = env.num_envs
    finished = torch.zeros(num_users, dtype=torch.bool, device=env.unwrapped.device)
    for step in range(limit):
        active = ~finished
        slate = choose(observation)
        for observer in observers:
            observer.before_step(env, observation, slate, active)
        next_observation, reward, terminated, truncated, info = env.step(slate)
        record = StepRecord(observation, slate, reward, info["response"], terminated, truncated, active)
        for observer in observers:
            observer.after_step(record)
        if learn is not None:
            learn(observation, slate, record.response)
        if reset_users is not None and bool(record.done.any()):
            reset_users(record.done)
        observation = next_observation
        if not episodes:
            if on_step is not None:
                on_step(step + 1, limit)
            continue
        finished = finished | record.done
        done_count = int(finished.sum())
        if on_step is not None:
            on_step(done_count, num_users)
        if done_count == num_users:
            return step + 1
    if episodes:
        raise ConfigError(
            f"{num_users - int(finished.sum())} users had not finished an episode after {limit} steps; "
            "set max_episode_steps on the env or pass a larger max_steps."
        )
    return limit


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


class _EpisodeTotalsObserver:
    """Sums each measure over the steps of each user's first episode."""

    def __init__(self, num_users: int, device: torch.device) -> None:
        self.totals = {name: torch.zeros(num_users, device=device) for name in _MEASURES}

    def before_step(self, env: Any, observation: Any, slate: torch.Tensor, active: torch.Tensor) -> None:
        pass

    def after_step(self, step: StepRecord) -> None:
        active, response, totals = step.active.to(torch.float32), step.response, self.totals
        totals["return"] += active * step.reward
        totals["watch_time"] += active * response.watch_time.sum(dim=1)
        totals["clicks"] += active * response.clicked.sum(dim=1)
        totals["length"] += active
        totals["return_visits"] += active * response.returned
        for behaviour in ("liked", "shared", "followed"):
            totals[behaviour] += active * getattr(response, behaviour).sum(dim=1)

    def result(self) -> EpisodeTotals:
        totals = dict(self.totals)
        return EpisodeTotals(episode_return=totals.pop("return"), **totals)


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
    totals = _EpisodeTotalsObserver(env.num_envs, env.device)
    roll_out(
        env,
        lambda observation: policy.act(observation, explore=False),
        seed=seed,
        learn=policy.update if learn_online else None,
        observers=[*observers, totals],
        on_step=on_step,
        max_steps=max_steps,
    )
    return totals.result()
