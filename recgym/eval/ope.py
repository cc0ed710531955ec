"""Off-policy evaluation: log a behaviour's slates, estimate another policy's value from the log, check against truth.

A simulator knows what a real log never does: the value the target would actually have
earned. ``collect_log`` rolls a behaviour ``SlateDistribution`` out and records what an
offline evaluator gets (contexts, slates, exact propensities, rewards); ``on_policy_value``
runs the target itself on the same users and contexts and averages the oracle's expected
reward, so every estimator's bias can be measured, not guessed.

Estimators (each returns an ``OffPolicyEstimate`` with a normal 95% CI, over users where known):

- ``ips``: full-slate inverse propensity scoring, mean of w r with w = pi_e(slate) / pi_b(slate).
  Unbiased whenever pi_b > 0 wherever pi_e > 0; variance grows with the number of slates.
- ``snips``: self-normalised IPS, sum(w r) / sum(w). Slightly biased (O(1/N)), far less variance.
- ``direct_method``: plug a reward model q into the target's position marginals. Low variance;
  biased exactly as much as q is wrong. q is position-free, so the DM value is exact only
  when a slate's value is the sum of its items' values (slate_size 1 or no position effect).
- ``doubly_robust``: DM plus IPS of the model's residual. Unbiased if the propensities are
  exact (whatever q), and lower variance than IPS when q is good.
- ``independent_ips``: Li et al. (2018) item-position IPS, sum over positions of
  pi_e(item at k) / pi_b(item at k) * r_k. Unbiased when each position's reward depends only on
  the item at that position (position-based click models such as LinearClick), with a variance
  that grows with K instead of with the number of slates.

Rows of one user are correlated (the same hidden user, a history that carries over), so
a log may say who each row belongs to (``groups``; ``collect_log`` records the user): the
intervals then treat users, not rows, as independent (a cluster-robust variance), which
widens them on logs with many steps per user. Without ``groups`` rows are independent.

Example::

    behaviour = EpsilonMixture(RandomPolicy(1), epsilon=1.0)
    log = collect_log(env, behaviour, num_steps=20, seed=0)
    truth = on_policy_value(env, target, num_steps=20, seed=0)
    evaluate_off_policy(log, target, truth=truth)   # DataFrame: estimate, CI, truth, bias
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
import torch

from recgym.errors import ConfigError, LoggedDataError
from recgym.eval.rollout import _NORMAL_95, MetricSummary

if TYPE_CHECKING:
    from policies.stochastic import SlateDistribution

POSITION_REWARDS = ("clicked", "watch_time")
_PROPENSITY_TOLERANCE = 1e-9
"""Slack above 1 for propensities that are products of float64 probabilities."""


@dataclasses.dataclass(frozen=True)
class LoggedBandit:
    """A behaviour policy's log: one row per (step, user), concatenated step-major.

    Float fields are stored as float64 so sums over long logs keep their precision.
    Construction validates everything an estimator relies on and raises LoggedDataError.
    """

    observations: dict[str, torch.Tensor]
    """What the behaviour saw, each [N, ...]; must include ``candidate_features`` [N, C, F]."""
    slates: torch.Tensor
    """Logged slates, positions into each row's candidates, int64 [N, K]."""
    propensities: torch.Tensor
    """The behaviour's probability of the whole ordered slate, float64 [N], in (0, 1]."""
    position_propensities: torch.Tensor
    """The behaviour's marginal probability of the logged item at each position, float64 [N, K], in (0, 1]."""
    position_rewards: torch.Tensor
    """Reward earned at each position, float64 [N, K]."""
    rewards: torch.Tensor
    """The slate's reward, float64 [N]: the env's reward, which sums ``position_rewards`` for click rewards."""
    oracle_rewards: torch.Tensor | None = None
    """Simulator-only: true expected reward of every candidate shown alone, float64 [N, C]; None for real logs."""
    groups: torch.Tensor | None = None
    """Who each row belongs to (a user id), int64 [N]: rows of one group count as one independent unit in the
    confidence intervals. None: every row independent (logs without user ids)."""

    def __post_init__(self) -> None:
        for name in ("propensities", "position_propensities", "position_rewards", "rewards", "oracle_rewards"):
            value = getattr(self, name)
            if isinstance(value, torch.Tensor) and value.dtype != torch.float64:
                object.__setattr__(self, name, value.to(torch.float64))
        for name in ("slates", "groups"):
            value = getattr(self, name)
            if isinstance(value, torch.Tensor) and value.dtype != torch.int64:
                object.__setattr__(self, name, value.to(torch.int64))
        self.validate()

    @property
    def num_rows(self) -> int:
        return int(self.slates.shape[0])

    @property
    def slate_size(self) -> int:
        return int(self.slates.shape[1])

    @property
    def num_candidates(self) -> int:
        return int(self.observations["candidate_features"].shape[1])

    def validate(self) -> None:
        """Raise LoggedDataError unless shapes agree, propensities are probabilities and rewards are finite."""
        self._validate_shapes()
        self._validate_propensities()
        self._validate_rewards()

    def _validate_shapes(self) -> None:
        if not isinstance(self.slates, torch.Tensor) or self.slates.dim() != 2:
            shape = tuple(self.slates.shape) if isinstance(self.slates, torch.Tensor) else type(self.slates).__name__
            raise LoggedDataError(f"slates must be an int64 tensor [N, K]; got {shape}.")
        if "candidate_features" not in self.observations:
            raise LoggedDataError(
                "observations must include 'candidate_features' [N, C, F]: reward models and targets score them; "
                f"got keys {sorted(self.observations)}."
            )
        fields: dict[str, torch.Tensor] = {
            "slates": self.slates,
            "propensities": self.propensities,
            "position_propensities": self.position_propensities,
            "position_rewards": self.position_rewards,
            "rewards": self.rewards,
        }
        fields.update({f"observations[{name!r}]": value for name, value in self.observations.items()})
        if self.oracle_rewards is not None:
            fields["oracle_rewards"] = self.oracle_rewards
        if self.groups is not None:
            fields["groups"] = self.groups
        num_rows = self.num_rows
        mismatched = {name: int(value.shape[0]) for name, value in fields.items() if value.shape[0] != num_rows}
        if mismatched:
            listed = ", ".join(f"{name} has {length}" for name, length in mismatched.items())
            raise LoggedDataError(
                f"Every field needs one row per logged slate, but slates has {num_rows} rows while {listed}."
            )
        if num_rows == 0:
            raise LoggedDataError("The log is empty: no slates to evaluate from.")
        expected = {
            "propensities": (num_rows,),
            "position_propensities": tuple(self.slates.shape),
            "position_rewards": tuple(self.slates.shape),
            "rewards": (num_rows,),
        }
        if self.oracle_rewards is not None:
            expected["oracle_rewards"] = (num_rows, self.num_candidates)
        if self.groups is not None:
            expected["groups"] = (num_rows,)
        for name, shape in expected.items():
            if tuple(getattr(self, name).shape) != shape:
                raise LoggedDataError(f"{name} must have shape {shape}; got {tuple(getattr(self, name).shape)}.")
        out_of_range = ((self.slates < 0) | (self.slates >= self.num_candidates)).any(dim=1)
        if bool(out_of_range.any()):
            raise LoggedDataError(
                f"{int(out_of_range.sum())} slates hold positions outside [0, {self.num_candidates}), "
                "the candidates logged in observations['candidate_features']."
            )

    def _validate_propensities(self) -> None:
        for name in ("propensities", "position_propensities"):
            values = getattr(self, name)
            not_a_number = int(values.isnan().sum())
            if not_a_number:
                raise LoggedDataError(f"{not_a_number} entries of {name} are NaN; log the behaviour's probabilities.")
            zero = int((values <= 0).sum())
            if zero:
                raise LoggedDataError(
                    f"{zero} entries of {name} are 0 (or negative): the behaviour never takes those logged actions, "
                    "so IPS cannot use them (their weight pi_e / pi_b is undefined). Log the exact probability the "
                    "behaviour gave the shown slate, e.g. through EpsilonMixture so every slate has some probability."
                )
            too_large = values > 1.0 + _PROPENSITY_TOLERANCE
            if bool(too_large.any()):
                raise LoggedDataError(
                    f"{int(too_large.sum())} entries of {name} exceed 1 (largest {float(values.max()):.6g}), so they "
                    "are not probabilities. Log probabilities, not scores or inverse propensities."
                )

    def _validate_rewards(self) -> None:
        bad_rows = ~torch.isfinite(self.rewards) | ~torch.isfinite(self.position_rewards).all(dim=1)
        if bool(bad_rows.any()):
            raise LoggedDataError(
                f"{int(bad_rows.sum())} of {self.num_rows} rows have NaN or infinite rewards; drop or repair them."
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


# -- reward models ----------------------------------------------------------------------------------


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


# -- estimators --------------------------------------------------------------------------------------


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


def _slate_drawer(target: Any) -> Any:
    """How to draw ``target``'s slates: ``sample`` for a distribution, greedy ``act`` for a plain policy."""
    if callable(getattr(target, "sample", None)):
        return target.sample
    if callable(getattr(target, "act", None)):
        return lambda observation: target.act(observation, explore=False)
    raise ConfigError(
        f"{type(target).__name__} is not a policy (it has neither sample() nor act()); pass a recgym policy."
    )


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


# -- accuracy over seeds -------------------------------------------------------------------------------

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
