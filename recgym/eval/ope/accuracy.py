"""How accurate each estimator is: bias, spread and interval coverage over independent seeds."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from recgym.errors import ConfigError
from recgym.eval.ope.collection import collect_log, on_policy_value
from recgym.eval.ope.estimators import OffPolicyEstimate
from recgym.eval.ope.logged import LoggedBandit

if TYPE_CHECKING:
    from policies.stochastic import SlateDistribution

Estimator = Callable[[LoggedBandit], OffPolicyEstimate]
"""An estimator with its target (and model) bound: log -> estimate."""


@dataclasses.dataclass(frozen=True)
class EstimatorAccuracy:
    """Each estimator's estimate and that seed's true value over independent seeds, float64 [S] each."""

    truth: torch.Tensor
    estimates: dict[str, torch.Tensor]
    covered: dict[str, torch.Tensor]
    """Whether each seed's 95% CI held that seed's truth, bool [S]."""

    def errors(self, name: str) -> torch.Tensor:
        return self.estimates[name] - self.truth

    def bias(self, name: str) -> float:
        return float(self.errors(name).mean())

    def standard_error(self, name: str) -> float:
        """Standard error of ``bias``: the spread of the errors over sqrt(seeds)."""
        errors = self.errors(name)
        return float(errors.std() / math.sqrt(errors.numel()))

    def spread(self, name: str) -> float:
        """Standard deviation of the error over seeds."""
        return float(self.errors(name).std())

    def rmse(self, name: str) -> float:
        return float(self.errors(name).square().mean().sqrt())

    def summary(self) -> pd.DataFrame:
        """One row per estimator: true value, mean estimate, bias (with its standard error), spread, RMSE, coverage."""
        return pd.DataFrame(
            [
                {
                    "estimator": name,
                    "truth": float(self.truth.mean()),
                    "mean_estimate": float(values.mean()),
                    "bias": self.bias(name),
                    "bias_se": self.standard_error(name),
                    "std": self.spread(name),
                    "rmse": self.rmse(name),
                    "ci_coverage": float(self.covered[name].to(torch.float64).mean()),
                }
                for name, values in self.estimates.items()
            ]
        )


def estimator_accuracy(
    env: Any,
    behaviour: SlateDistribution,
    target: SlateDistribution,
    estimators: dict[str, Estimator],
    num_seeds: int,
    num_steps: int,
    first_seed: int = 0,
    on_seed: Callable[[int, int], None] | None = None,
) -> EstimatorAccuracy:
    """Log, estimate and compare with ``on_policy_value`` on ``num_seeds`` independent seeds.

    ``reset(seed=s)`` gives user i the seed s + i, so seeds are spaced ``env.num_envs`` apart:
    no user recurs across seeds and the runs are independent (consecutive seeds would share
    all but one user and understate every spread). ``on_seed(done, total)`` reports progress.
    """
    if num_seeds < 2:
        raise ConfigError(f"num_seeds must be at least 2 to measure a spread; got {num_seeds}.")
    truths: list[float] = []
    estimates: dict[str, list[float]] = {name: [] for name in estimators}
    covered: dict[str, list[bool]] = {name: [] for name in estimators}
    for index in range(num_seeds):
        seed = first_seed + index * env.num_envs
        log = collect_log(env, behaviour, num_steps=num_steps, seed=seed)
        truth = on_policy_value(env, target, num_steps=num_steps, seed=seed).mean
        truths.append(truth)
        for name, estimator in estimators.items():
            estimate = estimator(log)
            estimates[name].append(estimate.value)
            covered[name].append(estimate.ci_low <= truth <= estimate.ci_high)
        if on_seed is not None:
            on_seed(index + 1, num_seeds)
    return EstimatorAccuracy(
        truth=torch.tensor(truths, dtype=torch.float64),
        estimates={name: torch.tensor(values, dtype=torch.float64) for name, values in estimates.items()},
        covered={name: torch.tensor(values) for name, values in covered.items()},
    )
