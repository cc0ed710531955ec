"""Logs from a simulator: a behaviour policy's slates with exact propensities, and the target's true value."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from recgym.core.rollout import MetricSummary, StepRecord, roll_out
from recgym.errors import ConfigError
from recgym.eval.ope.logged import POSITION_REWARDS, LoggedBandit

if TYPE_CHECKING:
    from policies.stochastic import SlateDistribution


def _slate_drawer(target: Any) -> Any:
    """How to draw ``target``'s slates: ``sample`` for a distribution, greedy ``act`` for a plain policy."""
    if callable(getattr(target, "sample", None)):
        return target.sample
    if callable(getattr(target, "act", None)):
        return lambda observation: target.act(observation, explore=False)
    raise ConfigError(
        f"{type(target).__name__} is not a policy (it has neither sample() nor act()); pass a recgym policy."
    )


def _concatenate(rows: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {name: torch.cat([row[name] for row in rows]) for name in rows[0]}


def collect_log(
    env: Any,
    behaviour: SlateDistribution,
    num_steps: int,
    seed: int = 0,
    position_reward: str = "clicked",
    record_oracle: bool = True,
) -> LoggedBandit:
    """Roll ``behaviour`` out on every user of ``env`` for ``num_steps`` steps and log what OPE needs.

    ``position_reward`` names the ``Response`` field logged per position ("clicked" or
    "watch_time"); on LinearClick both sum to the env's reward. ``behaviour.update`` is called
    after every step, so a learning behaviour (an EpsilonMixture around a bandit) keeps
    learning: its propensities then change over time but each row's stays exact for the policy
    that chose it. ``record_oracle`` keeps the simulator's true per-candidate rewards
    (``oracle_rewards``) for oracle baselines. Each row's group is its user (the env slot), so the
    estimates' intervals count users, not steps, as independent.
    """
    if num_steps <= 0:
        raise ConfigError(f"num_steps must be positive; got {num_steps}.")
    if position_reward not in POSITION_REWARDS:
        raise ConfigError(f"Unknown position_reward {position_reward!r}; use one of {POSITION_REWARDS}.")
    rows = _LogObserver(behaviour, position_reward, record_oracle)
    roll_out(env, behaviour.sample, seed=seed, num_steps=num_steps, learn=behaviour.update, observers=[rows])
    users = torch.arange(env.unwrapped.num_envs, device=rows.slates[0].device)
    return LoggedBandit(
        observations=_concatenate(rows.observations),
        slates=torch.cat(rows.slates),
        propensities=torch.cat(rows.propensities),
        position_propensities=torch.cat(rows.position_propensities),
        position_rewards=torch.cat(rows.position_rewards),
        rewards=torch.cat(rows.rewards),
        oracle_rewards=torch.cat(rows.oracles) if record_oracle else None,
        groups=users.repeat(num_steps),
    )


class _LogObserver:
    """Each step's row of the log: propensities (exact, from the behaviour) before the env answers, outcomes after."""

    def __init__(self, behaviour: SlateDistribution, position_reward: str, record_oracle: bool) -> None:
        self.behaviour, self.position_reward, self.record_oracle = behaviour, position_reward, record_oracle
        self.observations: list[dict[str, torch.Tensor]] = []
        self.slates: list[torch.Tensor] = []
        self.propensities: list[torch.Tensor] = []
        self.position_propensities: list[torch.Tensor] = []
        self.position_rewards: list[torch.Tensor] = []
        self.rewards: list[torch.Tensor] = []
        self.oracles: list[torch.Tensor] = []

    def before_step(self, env: Any, observation: dict[str, torch.Tensor], slate: torch.Tensor, active: Any) -> None:
        self.propensities.append(self.behaviour.propensity(observation, slate))
        marginals = self.behaviour.position_marginals(observation)
        self.position_propensities.append(marginals.gather(2, slate.unsqueeze(2)).squeeze(2))
        if self.record_oracle:
            self.oracles.append(env.unwrapped.expected_reward().to(torch.float64))

    def after_step(self, step: StepRecord) -> None:
        self.observations.append(step.observation)
        self.slates.append(step.slate)
        self.position_rewards.append(getattr(step.response, self.position_reward).to(torch.float64))
        self.rewards.append(torch.as_tensor(step.reward, dtype=torch.float64, device=step.slate.device))


def on_policy_value(env: Any, target: SlateDistribution | Any, num_steps: int, seed: int = 0) -> MetricSummary:
    """The target's true value: the oracle's expected slate reward of its own slates, averaged over rows.

    ``target`` is a slate distribution (its ``sample``) or any plain policy (its deployed
    ``act(observation, explore=False)``); only off-policy estimators need exact propensities.

    Runs ``target`` (frozen: no ``update``) on ``env`` reset with ``seed`` for ``num_steps``
    steps and averages ``env.expected_slate_reward`` of each sampled slate, so click noise
    never enters. On simulators whose candidates do not depend on past actions (LinearClick),
    the same seed gives exactly the contexts of ``collect_log``, so this is the value the
    estimators target. Observation fields that record past actions (click history) still
    differ between the two runs: targets should not read them for the comparison to be
    exact. On simulators whose users change with what they are shown, this is the on-policy
    value of deploying the target, which one-step estimators are not designed to match.
    """
    if num_steps <= 0:
        raise ConfigError(f"num_steps must be positive; got {num_steps}.")
    values = _TrueValueObserver()
    roll_out(env, _slate_drawer(target), seed=seed, num_steps=num_steps, observers=[values])
    return MetricSummary.of(torch.cat(values.values))


class _TrueValueObserver:
    """The oracle's expected reward of each slate shown, before the env answers."""

    def __init__(self) -> None:
        self.values: list[torch.Tensor] = []

    def before_step(self, env: Any, observation: Any, slate: torch.Tensor, active: Any) -> None:
        self.values.append(env.unwrapped.expected_slate_reward(slate).to(torch.float64))

    def after_step(self, step: StepRecord) -> None:
        pass
