"""The user-simulator protocol and its parameter container.

Simulators are functional, like gymnax: all per-user state lives in a ``TensorState``
that ``reset`` creates and ``step`` returns anew, randomness comes from per-user keys
handed in, and population-level parameters live apart in ``SimParams``. The env owns
the loop, the candidates, the history and autoreset; a simulator only says how users
behave.

Contract that lets ``simulators.family.FamilyUser`` vary any simulator per user: read
parameters from ``self.params`` at call time (never copy them out in ``__init__``), and
make ``params.check()`` accept per-user tensors.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, Self, TypeVar

import torch

from recgym.core.catalog import Catalog
from recgym.core.response import Response
from recgym.core.state import TensorState
from recgym.errors import ConfigError

ParamsT = TypeVar("ParamsT", bound="SimParams")
ParamLike = float | torch.Tensor
"""A simulator parameter: one float for everyone, or a per-user tensor [B]."""


def param_min(value: ParamLike) -> float:
    """Smallest value of a parameter, for range checks that accept floats and per-user tensors."""
    return float(value.min()) if isinstance(value, torch.Tensor) else float(value)


def param_max(value: ParamLike) -> float:
    """Largest value of a parameter."""
    return float(value.max()) if isinstance(value, torch.Tensor) else float(value)


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The valid range of a parameter, declared beside its field (``bounded``) and checked by ``SimParams.check``."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: ParamLike) -> bool:
        """Whether every value (a float, or each user's in a per-user tensor) lies in the range."""
        smallest, largest = param_min(value), param_max(value)
        if self.low is not None and (smallest <= self.low if self.low_open else smallest < self.low):
            return False
        return not (self.high is not None and (largest >= self.high if self.high_open else largest > self.high))

    def __str__(self) -> str:
        """What a value must do, as the error message says it: 'be positive', 'lie in (0, 1]', ..."""
        if self.high is None:
            if self.low == 0 and self.low_open:
                return "be positive"
            return f"be {'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"be {'<' if self.high_open else '<='} {self.high:g}"
        return f"lie in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


POSITIVE = Bounds(0.0, low_open=True)
NON_NEGATIVE = Bounds(0.0)
UNIT = Bounds(0.0, 1.0)
"""[0, 1]: probabilities and shares."""
UNIT_OPEN_LOW = Bounds(0.0, 1.0, low_open=True)
"""(0, 1]: rates and decays that must move."""
UNIT_OPEN_HIGH = Bounds(0.0, 1.0, high_open=True)
"""[0, 1): discounts that must forget."""
UNIT_OPEN = Bounds(0.0, 1.0, low_open=True, high_open=True)


def bounded(default: float, bounds: Bounds) -> Any:
    """A parameter field whose valid range is declared beside it: ``rate: ParamLike = bounded(0.2, UNIT_OPEN_LOW)``."""
    return dataclasses.field(default=default, metadata={"bounds": bounds})


def per_user_column(value: ParamLike) -> ParamLike:
    """A per-user [B] parameter as [B, 1], to broadcast over slate positions or topics; floats pass through."""
    return value.unsqueeze(1) if isinstance(value, torch.Tensor) else value


def build_params(params_type: type[ParamsT], given: dict[str, Any], env_id: str, simulator_arguments: str) -> ParamsT:
    """``params_type(**given)``, or a ConfigError naming the unknown keys and everything the env accepts.

    ``simulator_arguments`` lists the factory's own (non-parameter) arguments, for the message.
    """
    known = {field.name for field in dataclasses.fields(params_type)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigError(
            f"Unknown argument(s) {unknown} for {env_id}. Simulator arguments: {simulator_arguments}; "
            f"parameters: {sorted(known)}. Env arguments (slate_size, num_candidates, ...) go to gym.make / "
            "gym.make_vec, which lists them all."
        )
    return params_type(**given)


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """Shape and bounds of one user-visible observation entry, per user."""

    shape: tuple[int, ...]
    low: float = float("-inf")
    high: float = float("inf")


@dataclasses.dataclass(frozen=True)
class SimParams:
    """Base for simulator parameters: each field a float, or a per-user tensor [B].

    Per-user tensors let one batch hold a mixed population; ``take`` selects the rows of
    the users being reset, so autoreset of a sub-batch sees the right parameters.
    """

    def take(self, users: torch.Tensor | None) -> Self:
        """The parameters of ``users`` (row indices), or all of them when None."""
        if users is None:
            return self
        changes = {
            field.name: getattr(self, field.name).index_select(0, users)
            for field in dataclasses.fields(self)
            if isinstance(getattr(self, field.name), torch.Tensor)
        }
        return dataclasses.replace(self, **changes)

    def to(self, device: torch.device | str) -> Self:
        """The same parameters with per-user tensors on ``device`` as float32."""
        changes = {
            field.name: value.to(device=device, dtype=torch.float32)
            for field in dataclasses.fields(self)
            if isinstance(value := getattr(self, field.name), torch.Tensor)
        }
        return dataclasses.replace(self, **changes)

    def check(self) -> None:
        """ConfigError naming the first field outside its declared ``Bounds``; then ``check_relations``."""
        for field in dataclasses.fields(self):
            bounds = field.metadata.get("bounds")
            value = getattr(self, field.name)
            if bounds is not None and not bounds.holds(value):
                raise ConfigError(f"{type(self).__name__}.{field.name} must {bounds}; got {value}.")
        self.check_relations()

    def check_relations(self) -> None:
        """Constraints that tie fields together (override; call ``super().check_relations()``)."""

    def check_num_users(self, num_users: int) -> None:
        """Raise ConfigError unless every per-user tensor has exactly ``num_users`` rows."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, torch.Tensor) and tuple(value.shape) != (num_users,):
                raise ConfigError(
                    f"{type(self).__name__}.{field.name} is a tensor of shape {tuple(value.shape)}; "
                    f"per-user parameters must have shape ({num_users},), one value per user."
                )

    def to_dict(self) -> dict[str, Any]:
        """Parameters as plain values (per-user tensors as lists), for logs and reports."""
        return {
            field.name: (value.tolist() if isinstance(value := getattr(self, field.name), torch.Tensor) else value)
            for field in dataclasses.fields(self)
        }


StateT = TypeVar("StateT", bound=TensorState)


class UserSimulator(Protocol[StateT]):
    """How a population of users reacts to slates. All tensors are [B, ...] on one device."""

    catalog: Catalog
    params: SimParams

    def reset(self, keys: torch.Tensor, users: torch.Tensor | None = None) -> StateT:
        """Fresh users, one per key [n]; ``users`` are their rows in the batch (for per-user params)."""
        ...

    def step(self, state: StateT, slate_items: torch.Tensor, keys: torch.Tensor) -> tuple[StateT, Response]:
        """Show each user the items ``slate_items [B, K]``; return their new state and response."""
        ...

    def terminated(self, state: StateT) -> torch.Tensor:
        """Which users' episodes have ended, bool [B]."""
        ...

    def observe(self, state: StateT) -> dict[str, torch.Tensor]:
        """User features a recommender may see, each [B, ...]; hidden state stays out."""
        ...

    def observation_spec(self) -> dict[str, FeatureSpec]:
        """Per-user shape and bounds of each entry ``observe`` returns."""
        ...

    def item_features(self, items: torch.Tensor) -> torch.Tensor:
        """Visible features [..., F] of item ids [...]."""
        ...

    def item_feature_spec(self) -> FeatureSpec:
        """Shape (F,) and bounds of one item's visible features."""
        ...

    def expected_reward(self, state: StateT, items: torch.Tensor) -> torch.Tensor:
        """Oracle: each candidate's true expected reward when shown alone, [B, C]."""
        ...

    def to(self, device: torch.device | str) -> Self:
        """The same simulator with its catalog and parameters on ``device``."""
        ...
