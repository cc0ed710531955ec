"""Logs from a simulator: a behaviour policy's slates with exact propensities, and the target's true value."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from recgym.core.rollout import MetricSummary
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
    oracle_env = env.unwrapped
    observation, _ = env.reset(seed=seed)
    observations, slates, propensities, position_propensities, position_rewards, rewards, oracles = (
        [] for _ in range(7)
    )
    users = torch.arange(oracle_env.num_envs, device=observation["candidate_features"].device)
    for _ in range(num_steps):
        slate = behaviour.sample(observation)
        propensities.append(behaviour.propensity(observation, slate))
        marginals = behaviour.position_marginals(observation)
        position_propensities.append(marginals.gather(2, slate.unsqueeze(2)).squeeze(2))
        if record_oracle:
            oracles.append(oracle_env.expected_reward().to(torch.float64))
        next_observation, reward, _, _, info = env.step(slate)
        response = info["response"]
        behaviour.update(observation, slate, response)
        observations.append(observation)
        slates.append(slate)
        position_rewards.append(getattr(response, position_reward).to(torch.float64))
        rewards.append(torch.as_tensor(reward, dtype=torch.float64, device=slate.device))
        observation = next_observation
    return LoggedBandit(
        observations=_concatenate(observations),
        slates=torch.cat(slates),
        propensities=torch.cat(propensities),
        position_propensities=torch.cat(position_propensities),
        position_rewards=torch.cat(position_rewards),
        rewards=torch.cat(rewards),
        oracle_rewards=torch.cat(oracles) if record_oracle else None,
        groups=users.repeat(num_steps),
    )


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
    draw = _slate_drawer(target)
    oracle_env = env.unwrapped
    observation, _ = env.reset(seed=seed)
    values = []
    for _ in range(num_steps):
        slate = draw(observation)
        values.append(oracle_env.expected_slate_reward(slate).to(torch.float64))
        observation, *_ = env.step(slate)
    return MetricSummary.of(torch.cat(values))
