"""Learning curves and regret against the simulator's oracle, for any policy.

Regret here is pseudo-regret: at each step, the true expected reward of the best slate
minus that of the slate the policy showed, both from the simulator's oracle, so the
curve is free of click noise. The oracle slate is the top K candidates by true expected
reward, best first: optimal whenever a slate's value is a position-weighted sum of its
items' values with weights falling by position (e.g. ``recgym/LinearClick-v0``); under a
multinomial-logit choice it is the natural, not always optimal, reference.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch

from recgym.core.rollout import StepRecord, roll_out
from recgym.core.slate import top_k_slate
from recgym.envs.vector_env import RecVectorEnv
from recgym.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class LearningCurve:
    """Per-step means over users, float64 [T] each."""

    reward: torch.Tensor
    """Realised reward the env returned."""
    expected_reward: torch.Tensor
    """True expected reward of the policy's slates."""
    oracle_reward: torch.Tensor
    """True expected reward of the oracle's slates."""

    @property
    def regret(self) -> torch.Tensor:
        """Oracle minus policy, per step, [T]."""
        return self.oracle_reward - self.expected_reward

    @property
    def cumulative_regret(self) -> torch.Tensor:
        """Regret summed up to each step, per user, [T]."""
        return torch.cumsum(self.regret, dim=0)

    def regret_growth_exponent(self, start_fraction: float = 0.2) -> float:
        """Slope of log cumulative regret against log t over steps [start_fraction * T, T].

        About 1 for a policy that keeps paying a constant price (linear regret); below 1
        when it learns (sqrt(T) regret gives 0.5, log T regret less still).
        """
        steps = self.regret.shape[0]
        start = max(1, int(start_fraction * steps))
        cumulative = self.cumulative_regret[start - 1 :].clamp_min(1e-12)
        if cumulative.numel() < 2:
            raise ConfigError(f"Need at least two steps after start_fraction * T; got T={steps}.")
        log_t = torch.log(torch.arange(start, steps + 1, dtype=torch.float64))
        log_regret = torch.log(cumulative)
        centred_t = log_t - log_t.mean()
        return float((centred_t * (log_regret - log_regret.mean())).sum() / centred_t.square().sum())


def oracle_slate(env: RecVectorEnv) -> torch.Tensor:
    """The oracle's slate for every user's current candidates: top K by true expected reward, [B, K]."""
    return top_k_slate(env.expected_reward(), env.slate_size)


def learning_curve(
    env: RecVectorEnv,
    policy: Any,
    num_steps: int,
    seed: int = 0,
    explore: bool = True,
    learn: bool = True,
    on_step: Callable[[int, int], None] | None = None,
    oracle: bool = True,
) -> LearningCurve:
    """Run ``policy`` for ``num_steps`` steps of every user, learning from each response when ``learn``.

    Users whose episode ends are replaced (autoreset); a policy with ``reset_users(mask)``
    is told, so per-user models start afresh. ``on_step(step, num_steps)`` reports progress.
    ``oracle=False`` skips the oracle (expected rewards become NaN) where it is costly, e.g. LLM users.
    """
    if num_steps <= 0:
        raise ConfigError(f"num_steps must be positive; got {num_steps}.")
    curve = _CurveObserver(num_steps, env.device, oracle)
    roll_out(
        env,
        lambda observation: policy.act(observation, explore=explore),
        seed=seed,
        num_steps=num_steps,
        learn=policy.update if learn else None,
        reset_users=getattr(policy, "reset_users", None),
        observers=[curve],
        on_step=on_step,
    )
    if oracle and not math.isfinite(float(curve.expected.sum())):
        raise ConfigError("The simulator's oracle returned non-finite expected rewards.")
    return LearningCurve(curve.rewards.cpu(), curve.expected.cpu(), curve.best.cpu())


class _CurveObserver:
    """Per-step means over users of realised, expected and oracle reward; they stay on the env's device."""

    def __init__(self, num_steps: int, device: torch.device, oracle: bool) -> None:
        self.rewards = torch.zeros(num_steps, dtype=torch.float64, device=device)
        self.expected, self.best = (torch.full_like(self.rewards, 0.0 if oracle else math.nan) for _ in range(2))
        self.oracle, self.step = oracle, 0

    def before_step(self, env: Any, observation: Any, slate: torch.Tensor, active: torch.Tensor) -> None:
        if self.oracle:
            self.expected[self.step] = env.expected_slate_reward(slate).mean(dtype=torch.float64)
            self.best[self.step] = env.expected_slate_reward(oracle_slate(env)).mean(dtype=torch.float64)

    def after_step(self, step: StepRecord) -> None:
        self.rewards[self.step] = step.reward.mean(dtype=torch.float64)
        self.step += 1
