"""The estimators (IPS, SNIPS, DM, DR, item-position IPS), registered by decorator, and their table."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from recgym.core.rollout import _NORMAL_95, MetricSummary
from recgym.errors import ConfigError, LoggedDataError
from recgym.eval.ope.logged import LoggedBandit
from recgym.eval.ope.reward_models import LinearRewardModel, RewardModel

if TYPE_CHECKING:
    from policies.stochastic import SlateDistribution


@dataclasses.dataclass(frozen=True)
class OffPolicyEstimate:
    """An estimator's value of the target per logged row, with a normal-approximation 95% CI."""

    name: str
    value: float
    ci_low: float
    ci_high: float
    count: int

    @property
    def std_error(self) -> float:
        return (self.ci_high - self.ci_low) / (2 * _NORMAL_95)

    @classmethod
    def from_influence(
        cls, name: str, value: float, influence: torch.Tensor, groups: torch.Tensor | None = None
    ) -> OffPolicyEstimate:
        """``value`` with a CI from per-row influence terms [N] (the contributions minus their mean for a mean).

        With ``groups`` [N] the variance is cluster-robust: influence is summed within each group and
        the groups are the independent units, G / (G - 1) * sum_g S_g^2 / N^2. With one row per group
        this is the plain row variance exactly.
        """
        count = int(influence.numel())
        if groups is None:
            standard_error = float(influence.std()) / math.sqrt(count) if count > 1 else float("nan")
        else:
            _, group_of_row = torch.unique(groups, return_inverse=True)
            num_groups = int(group_of_row.max()) + 1
            sums = influence.new_zeros(num_groups).index_add_(0, group_of_row.to(influence.device), influence)
            variance = num_groups / (num_groups - 1) * float(sums.square().sum()) / count**2
            standard_error = math.sqrt(variance) if num_groups > 1 else float("nan")
        half_width = _NORMAL_95 * standard_error
        return cls(name, value, value - half_width, value + half_width, count)

    @classmethod
    def of_mean(cls, name: str, contributions: torch.Tensor, groups: torch.Tensor | None = None) -> OffPolicyEstimate:
        """The mean of per-row contributions [N] and its CI (cluster-robust over ``groups`` when given)."""
        value = float(contributions.mean())
        return cls.from_influence(name, value, contributions - value, groups)


def _check_target(log: LoggedBandit, target: SlateDistribution) -> None:
    missing = [name for name in ("propensity", "position_marginals") if not callable(getattr(target, name, None))]
    if missing:
        raise ConfigError(
            f"Off-policy estimators need the target's exact slate probabilities, but {type(target).__name__} has no "
            f"{' or '.join(missing)}(). Wrap a deterministic scoring policy as "
            "policies.stochastic.Deterministic(policy), or a stochastic one as EpsilonMixture(policy, epsilon) / "
            "PlackettLuce(policy, temperature)."
        )
    if target.slate_size != log.slate_size:
        raise ConfigError(
            f"The target shows slates of {target.slate_size} items but the log holds slates of {log.slate_size}."
        )


def importance_weights(log: LoggedBandit, target: SlateDistribution) -> torch.Tensor:
    """Full-slate weights pi_e(slate | x) / pi_b(slate | x), float64 [N]."""
    _check_target(log, target)
    target_propensity = target.propensity(log.observations, log.slates).to(torch.float64)
    return target_propensity.to(log.propensities.device) / log.propensities


def _target_marginals(log: LoggedBandit, target: SlateDistribution) -> torch.Tensor:
    _check_target(log, target)
    return target.position_marginals(log.observations).to(torch.float64)


@dataclasses.dataclass(frozen=True)
class EstimatorSpec:
    """One off-policy estimator of ``evaluate_off_policy`` and sweeps: how to call it and what it needs."""

    function: Callable[..., OffPolicyEstimate]
    uses_model: bool
    """Takes a reward model as third argument (DM, DR)."""
    needs_marginals: bool
    """Needs the target's position marginals (undefined for Plackett-Luce slates of more than one item)."""

    def __call__(self, log: LoggedBandit, target: SlateDistribution, model: RewardModel) -> OffPolicyEstimate:
        return self.function(log, target, model) if self.uses_model else self.function(log, target)


ESTIMATORS: dict[str, EstimatorSpec] = {}
"""Every estimator by its short name, in the order reports show them (filled by ``estimator``)."""


def estimator(name: str, uses_model: bool = False, needs_marginals: bool = False) -> Callable[[Any], Any]:
    """Decorator: register an estimator function under ``name`` (its one listing, read by reports and sweeps)."""

    def decorate(function: Callable[..., OffPolicyEstimate]) -> Callable[..., OffPolicyEstimate]:
        ESTIMATORS[name] = EstimatorSpec(function, uses_model, needs_marginals)
        return function

    return decorate


@estimator("ips")
def ips(log: LoggedBandit, target: SlateDistribution) -> OffPolicyEstimate:
    """Full-slate IPS: mean of w r. Assumes exact behaviour propensities with support wherever the target goes."""
    return OffPolicyEstimate.of_mean("ips", importance_weights(log, target) * log.rewards, log.groups)


@estimator("snips")
def snips(log: LoggedBandit, target: SlateDistribution) -> OffPolicyEstimate:
    """Self-normalised IPS, sum(w r) / sum(w): IPS divided by the mean weight (whose expectation is 1).

    The CI is the delta method's: influence w_n (r_n - V) / mean(w).
    """
    weights = importance_weights(log, target)
    mean_weight = float(weights.mean())
    if mean_weight == 0.0:
        raise LoggedDataError(
            "The target gives probability 0 to every logged slate, so SNIPS is 0/0: the log has no support "
            "for this target. Log with more exploration (EpsilonMixture with a larger epsilon)."
        )
    value = float((weights * log.rewards).sum() / weights.sum())
    influence = weights * (log.rewards - value) / mean_weight
    return OffPolicyEstimate.from_influence("snips", value, influence, log.groups)


def _direct_method_rows(log: LoggedBandit, target: SlateDistribution, predicted: torch.Tensor) -> torch.Tensor:
    """Per row, the model's value of the target's slate distribution, float64 [N]."""
    return torch.einsum("nkc,nc->n", _target_marginals(log, target), predicted)


def _predict(log: LoggedBandit, model: RewardModel) -> torch.Tensor:
    predicted = model.predict(log.observations).to(torch.float64)
    expected = (log.num_rows, log.num_candidates)
    if tuple(predicted.shape) != expected:
        raise ConfigError(f"The reward model predicted shape {tuple(predicted.shape)}; expected {expected}.")
    return predicted


@estimator("dm", uses_model=True, needs_marginals=True)
def direct_method(log: LoggedBandit, target: SlateDistribution, model: RewardModel) -> OffPolicyEstimate:
    """DM: sum over positions and candidates of the target's marginal times q, averaged over rows.

    Assumes the model is right and that a slate's value is the sum of its items' position-free
    values; uses the log only for its contexts.
    """
    return OffPolicyEstimate.of_mean("dm", _direct_method_rows(log, target, _predict(log, model)), log.groups)


@estimator("dr", uses_model=True, needs_marginals=True)
def doubly_robust(log: LoggedBandit, target: SlateDistribution, model: RewardModel) -> OffPolicyEstimate:
    """DR: DM + w (r - sum_k q(slate_k)).

    Unbiased with exact full-slate propensities whatever the model, position effects included:
    the IPS term corrects the DM term exactly in expectation. A good model cuts the variance of IPS.
    """
    predicted = _predict(log, model)
    logged_prediction = predicted.gather(1, log.slates).sum(dim=1)
    correction = importance_weights(log, target) * (log.rewards - logged_prediction)
    return OffPolicyEstimate.of_mean("dr", _direct_method_rows(log, target, predicted) + correction, log.groups)


@estimator("iips", needs_marginals=True)
def independent_ips(log: LoggedBandit, target: SlateDistribution) -> OffPolicyEstimate:
    """Item-position IPS (Li et al. 2018): sum_k pi_e(item at k) / pi_b(item at k) * r_k, averaged over rows.

    Assumes each position's reward depends only on the item at that position (no interaction
    between slate items), as in position-based click models; then unbiased with far smaller
    weights than full-slate IPS.
    """
    target_marginals = _target_marginals(log, target).gather(2, log.slates.unsqueeze(2)).squeeze(2)
    weights = target_marginals.to(log.position_propensities.device) / log.position_propensities
    return OffPolicyEstimate.of_mean("iips", (weights * log.position_rewards).sum(dim=1), log.groups)


def evaluate_off_policy(
    log: LoggedBandit,
    target: SlateDistribution,
    model: RewardModel | None = None,
    truth: MetricSummary | None = None,
) -> pd.DataFrame:
    """Every estimator on one log, one row each: estimate, CI and, given ``truth``, bias and CI coverage.

    ``model`` defaults to ``LinearRewardModel.fit(log)`` (fit on the same log, as is common;
    cross-fitting would remove its small in-sample bias). Estimators the target cannot
    support (position marginals of PlackettLuce with slate_size > 1) get a NaN row whose
    ``note`` says why.
    """
    _check_target(log, target)
    model = model if model is not None else LinearRewardModel.fit(log)
    try:
        target.position_marginals(log.observations)
        marginals_unavailable = ""
    except ConfigError as error:
        marginals_unavailable = str(error)
    rows = []
    for name, spec in ESTIMATORS.items():
        if spec.needs_marginals and marginals_unavailable:
            row: dict[str, Any] = {"name": name, "value": math.nan, "ci_low": math.nan, "ci_high": math.nan}
            row |= {"count": log.num_rows, "note": marginals_unavailable}
        else:
            row = dataclasses.asdict(spec(log, target, model)) | {"note": ""}
        if truth is not None:
            row["truth"] = truth.mean
            row["bias"] = row["value"] - truth.mean
            row["truth_in_ci"] = bool(row["ci_low"] <= truth.mean <= row["ci_high"])
        rows.append(row)
    return pd.DataFrame(rows).rename(columns={"name": "estimator", "value": "estimate"})
