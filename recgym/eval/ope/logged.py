"""The log an off-policy evaluator reads (contexts, slates, exact propensities, rewards), checked on entry."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch

from recgym.errors import LoggedDataError

if TYPE_CHECKING:
    pass


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
