"""Distributions over simulator parameters: one env becomes a population of behaviour patterns.

A ``ParamDistribution`` names some fields of a simulator's ``SimParams`` and a distribution
for each. Every user draws its own values from its own random key when its episode
starts (Sim2Rec's "family of simulators"), so a policy trained on the family meets many
behaviours, and a held-out family with other ranges tests transfer. Draws never enter the
observation; see ``simulators.family.FamilyUser``.

Specs are plain data so scenario files can carry them::

    {"sensitivity": {"uniform": [0.1, 0.5]},
     "return_gap_days": {"normal": [1.0, 0.3], "clip": [0.2, 3.0]},
     "choc_mean": {"choice": [4.5, 5.0, 6.0]},
     "innovation_stddev": 0.05}
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import torch

from recgym.core import random
from recgym.core.simulator import SimParams
from recgym.errors import ConfigError

_FAMILY_STREAM = 4242


class Distribution(Protocol):
    """A distribution of one scalar parameter, drawn per user."""

    def sample(self, keys: torch.Tensor) -> torch.Tensor:
        """One float32 draw per key, [B]."""
        ...

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take (may be infinite)."""
        ...


@dataclasses.dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ConfigError(f"uniform needs low <= high; got [{self.low}, {self.high}].")

    def sample(self, keys: torch.Tensor) -> torch.Tensor:
        return self.low + (self.high - self.low) * random.uniform(keys)

    def bounds(self) -> tuple[float, float]:
        return self.low, self.high


@dataclasses.dataclass(frozen=True)
class LogUniform:
    """Uniform in log space: for rates and scales that span orders of magnitude."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high:
            raise ConfigError(f"log_uniform needs 0 < low <= high; got [{self.low}, {self.high}].")

    def sample(self, keys: torch.Tensor) -> torch.Tensor:
        log_low, log_high = math.log(self.low), math.log(self.high)
        return torch.exp(log_low + (log_high - log_low) * random.uniform(keys))

    def bounds(self) -> tuple[float, float]:
        return self.low, self.high


@dataclasses.dataclass(frozen=True)
class Normal:
    """Gaussian, clipped to [low, high] (clip it whenever the parameter has a valid range)."""

    mean: float
    std: float
    low: float = -math.inf
    high: float = math.inf

    def __post_init__(self) -> None:
        if self.std < 0 or not self.low <= self.high:
            raise ConfigError(
                f"normal needs std >= 0 and clip low <= high; got std={self.std}, clip=[{self.low}, {self.high}]."
            )

    def sample(self, keys: torch.Tensor) -> torch.Tensor:
        return (self.mean + self.std * random.normal(keys)).clamp(self.low, self.high)

    def bounds(self) -> tuple[float, float]:
        if self.std == 0:
            return self.mean, self.mean
        return self.low, self.high


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of a few values, equally likely."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ConfigError("choice needs at least one value.")

    def sample(self, keys: torch.Tensor) -> torch.Tensor:
        table = torch.tensor(self.values, dtype=torch.float32, device=keys.device)
        return table.index_select(0, random.randint(keys, len(self.values), (1,)).squeeze(1))

    def bounds(self) -> tuple[float, float]:
        return min(self.values), max(self.values)


@dataclasses.dataclass(frozen=True)
class Fixed:
    """The same value for everyone (handy when a family pins one field)."""

    value: float

    def sample(self, keys: torch.Tensor) -> torch.Tensor:
        return torch.full(keys.shape, float(self.value), device=keys.device)

    def bounds(self) -> tuple[float, float]:
        return self.value, self.value


def parse_distribution(name: str, spec: Any) -> Distribution:
    """A distribution from its spec: a number, or {"uniform" | "log_uniform" | "normal" | "choice": [...]}."""
    if isinstance(spec, Uniform | LogUniform | Normal | Choice | Fixed):
        return spec
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return Fixed(float(spec))
    hint = (
        "Write it as a number or one of {'uniform': [low, high]}, {'log_uniform': [low, high]}, "
        "{'normal': [mean, std], 'clip': [low, high]}, {'choice': [v1, v2, ...]}."
    )
    if not isinstance(spec, Mapping):
        raise ConfigError(f"Parameter {name!r}: cannot read distribution {spec!r}. {hint}")
    kinds = sorted(set(spec) - {"clip"})
    if len(kinds) != 1 or ("clip" in spec and kinds != ["normal"]):
        raise ConfigError(
            f"Parameter {name!r}: expected exactly one distribution kind, got keys {sorted(spec)}. {hint}"
        )
    kind, arguments = kinds[0], spec[kinds[0]]
    try:
        values = [float(value) for value in arguments]
        if kind == "uniform" and len(values) == 2:
            return Uniform(*values)
        if kind == "log_uniform" and len(values) == 2:
            return LogUniform(*values)
        if kind == "normal" and len(values) == 2:
            clip = [float(value) for value in spec.get("clip", (-math.inf, math.inf))]
            return Normal(values[0], values[1], *clip)
        if kind == "choice":
            return Choice(tuple(values))
    except ConfigError as error:
        raise ConfigError(f"Parameter {name!r}: {error}") from error
    except (TypeError, ValueError) as error:
        raise ConfigError(f"Parameter {name!r}: distribution {spec!r} has non-numeric arguments. {hint}") from error
    raise ConfigError(f"Parameter {name!r}: unknown or malformed distribution {spec!r}. {hint}")


class ParamDistribution:
    """Per-user distributions for named parameter fields; unnamed fields keep their value."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        if not spec:
            raise ConfigError("ParamDistribution needs at least one parameter to vary.")
        self.names: tuple[str, ...] = tuple(sorted(spec))
        self.distributions = {name: parse_distribution(name, spec[name]) for name in self.names}
        # A stream per field derived from its name, so adding a field does not reshuffle the others.
        self._streams = {name: _FAMILY_STREAM + (zlib.crc32(name.encode()) & 0xFFFF) for name in self.names}

    def check_against(self, params: SimParams) -> None:
        """Raise ConfigError unless every field exists and both ends of its range are valid."""
        fields = {field.name for field in dataclasses.fields(params)}
        unknown = sorted(set(self.names) - fields)
        if unknown:
            raise ConfigError(
                f"ParamDistribution names {unknown}, which {type(params).__name__} does not have; "
                f"its fields are {sorted(fields)}."
            )
        extremes = {
            name: torch.tensor(distribution.bounds(), dtype=torch.float32)
            for name, distribution in self.distributions.items()
        }
        try:
            dataclasses.replace(params, **extremes).check()  # type: ignore[attr-defined]
        except ConfigError as error:
            raise ConfigError(
                f"ParamDistribution can draw invalid parameters ({error}) Narrow the range, or clip a normal."
            ) from error

    def sample(self, keys: torch.Tensor) -> torch.Tensor:
        """Every user's draws, float32 [B, P] with columns in ``names`` order."""
        columns = [self.distributions[name].sample(random.fold_in(keys, self._streams[name])) for name in self.names]
        return torch.stack(columns, dim=1).to(torch.float32)

    def apply(self, params: SimParams, values: torch.Tensor) -> SimParams:
        """``params`` with the family's fields replaced by the columns of ``values [B, P]``."""
        return dataclasses.replace(params, **{name: values[:, index] for index, name in enumerate(self.names)})

    def to_spec(self) -> dict[str, Any]:
        """The distributions as plain data, for logs and reports."""
        return {name: dataclasses.asdict(distribution) for name, distribution in self.distributions.items()}

    def __repr__(self) -> str:
        return f"ParamDistribution({self.distributions})"


def as_param_distribution(spec: ParamDistribution | Mapping[str, Any] | Sequence[Any]) -> ParamDistribution:
    """Accept a ParamDistribution or its plain-data spec."""
    if isinstance(spec, ParamDistribution):
        return spec
    if isinstance(spec, Mapping):
        return ParamDistribution(spec)
    raise ConfigError(f"param_distribution must be a mapping of field -> distribution; got {type(spec).__name__}.")
