"""Reward models for the direct method and doubly robust: constant, the simulator's oracle, a linear fit."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Protocol

import torch

from recgym.errors import ConfigError, LoggedDataError
from recgym.eval.ope.logged import LoggedBandit

if TYPE_CHECKING:
    pass


class RewardModel(Protocol):
    """Predicts each candidate's expected reward for a row, ignoring position, float64 [N, C]."""

    def predict(self, observations: dict[str, torch.Tensor]) -> torch.Tensor: ...


@dataclasses.dataclass(frozen=True)
class ConstantRewardModel:
    """The same predicted reward for every candidate: the simplest wrong model, for robustness checks."""

    value: float

    def predict(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        features = observations["candidate_features"]
        return torch.full(features.shape[:2], float(self.value), dtype=torch.float64, device=features.device)


@dataclasses.dataclass(frozen=True)
class OracleRewardModel:
    """Known per-row candidate rewards ``values [N, C]``, e.g. the simulator's oracle, for exact baselines."""

    values: torch.Tensor

    @classmethod
    def from_log(cls, log: LoggedBandit) -> OracleRewardModel:
        """The simulator's true rewards recorded by ``collect_log(record_oracle=True)``."""
        if log.oracle_rewards is None:
            raise LoggedDataError("This log has no oracle_rewards; collect it with collect_log(record_oracle=True).")
        return cls(log.oracle_rewards)

    def predict(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        shape = tuple(observations["candidate_features"].shape[:2])
        if tuple(self.values.shape) != shape:
            raise ConfigError(
                f"OracleRewardModel holds values of shape {tuple(self.values.shape)} but the observations have "
                f"{shape} [rows, candidates]; build it from the same log."
            )
        return self.values.to(torch.float64)


@dataclasses.dataclass(frozen=True)
class LinearRewardModel:
    """Ridge regression of per-position reward on the logged item's features, plus an intercept.

    Position-free: under a position effect it learns the reward averaged over the logged
    positions. On LinearClick with slate_size 1 the true mean reward is linear in the item's
    features (averaged over users), so this model is well specified there.
    """

    weights: torch.Tensor
    """Coefficient of each feature, float64 [F]."""
    intercept: float
    """Predicted reward of an all-zero feature vector; not regularised."""

    @classmethod
    def fit(cls, log: LoggedBandit, regularization: float = 1.0) -> LinearRewardModel:
        """Fit on every logged (item, position reward) pair; ``regularization`` is the ridge penalty (>= 0)."""
        if not regularization >= 0 or math.isinf(regularization):
            raise ConfigError(f"regularization must be a finite number >= 0; got {regularization}.")
        features = _flat_features(log.observations)
        num_features = features.shape[2]
        shown = features.gather(1, log.slates.unsqueeze(2).expand(-1, -1, num_features)).reshape(-1, num_features)
        target = log.position_rewards.reshape(-1)
        # Centring lets the intercept go unpenalised without a special row in the penalty matrix.
        feature_mean, target_mean = shown.mean(dim=0), target.mean()
        centred = shown - feature_mean
        gram = centred.T @ centred + regularization * torch.eye(num_features, dtype=torch.float64, device=shown.device)
        weights = torch.linalg.pinv(gram) @ (centred.T @ (target - target_mean))
        return cls(weights=weights, intercept=float(target_mean - feature_mean @ weights))

    def predict(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        features = _flat_features(observations)
        return features @ self.weights.to(features.device) + self.intercept


def _flat_features(observations: dict[str, torch.Tensor]) -> torch.Tensor:
    """Candidate features flattened per candidate, float64 [N, C, F]."""
    features = observations["candidate_features"]
    return features.reshape(features.shape[0], features.shape[1], -1).to(torch.float64)
