"""Users whose click probability is linear in item features: the contextual bandit's home ground.

Bandit theory (LinUCB, linear Thompson sampling) assumes E[reward | item x] = theta . x.
This simulator makes that exactly true, so regret curves can be checked against theory and
off-policy estimators against an exact truth. Each item has a unit feature vector x in R^d
(visible); each user a hidden unit vector theta_u = normalize(theta_0 + spread * z_u), where
theta_0 is the population's taste and z_u ~ N(0, I) (spread 0: one shared model). An item at
slate position k is clicked independently with probability

    p_k = examination[k] * (click_base + click_scale * theta_u . x),   examination[k] = position_decay ** k

(a position-based model; ``position_decay = 1`` makes every slot examined). Watch time is one
minute per click, so "clicks" and "watch_time" rewards agree. Users do not change, so the
best slate is fixed given the candidates: the top K by theta_u . x, best first.
"""

from __future__ import annotations

import dataclasses
from typing import Self

import torch

from recgym.core import random
from recgym.core.catalog import Catalog
from recgym.core.response import Response
from recgym.core.simulator import (
    NON_NEGATIVE,
    UNIT_OPEN_LOW,
    FeatureSpec,
    ParamLike,
    SimParams,
    bounded,
    build_params,
    param_max,
    param_min,
    per_user_column,
)
from recgym.core.state import TensorState
from recgym.errors import ConfigError

_TASTE_STREAM, _CLICK_STREAM = 1, 2


@dataclasses.dataclass(frozen=True)
class LinearClickParams(SimParams):
    """User-model parameters; each a float or a per-user tensor [B]."""

    theta_spread: ParamLike = bounded(0.5, NON_NEGATIVE)
    """How far each user's taste strays from the population's (0: every user shares theta_0)."""
    click_base: ParamLike = 0.5
    """Click probability of an item orthogonal to the user's taste."""
    click_scale: ParamLike = bounded(0.4, NON_NEGATIVE)
    """Click probability gained per unit of theta . x (which lies in [-1, 1])."""
    position_decay: ParamLike = bounded(1.0, UNIT_OPEN_LOW)
    """Examination probability ratio between consecutive slate positions."""

    def check_relations(self) -> None:
        """Click probabilities must stay in [0, 1]."""
        if param_min(self.click_base) - param_max(self.click_scale) < 0:
            raise ConfigError(
                "Need click_scale >= 0 and click_base - click_scale >= 0 so click probabilities stay in [0, 1]; "
                f"got click_base={self.click_base}, click_scale={self.click_scale}."
            )
        if param_max(self.click_base) + param_max(self.click_scale) > 1:
            raise ConfigError(
                "Need click_base + click_scale <= 1 so click probabilities stay in [0, 1]; "
                f"got click_base={self.click_base}, click_scale={self.click_scale}."
            )


@dataclasses.dataclass(frozen=True)
class LinearClickState(TensorState):
    """Hidden per-user state: the taste vector, unit norm, [B, d]."""

    theta: torch.Tensor


class LinearClickUser:
    """The batched linear-click user over a catalog of unit feature vectors; see the module docstring."""

    def __init__(self, catalog: Catalog, population_theta: torch.Tensor, params: LinearClickParams | None = None):
        if tuple(population_theta.shape) != (catalog.feature_dim,):
            raise ConfigError(
                f"population_theta must have shape ({catalog.feature_dim},); got {tuple(population_theta.shape)}."
            )
        self.catalog = catalog
        self.population_theta = population_theta
        self.params = params or LinearClickParams()
        self.params.check()

    def to(self, device: torch.device | str) -> Self:
        return type(self)(self.catalog.to(device), self.population_theta.to(device), self.params.to(device))

    def _affinity(self, state: LinearClickState, items: torch.Tensor) -> torch.Tensor:
        """theta_u . x of each item [B, C] for its user, [B, C]."""
        return torch.einsum("bcd,bd->bc", self.catalog.lookup("embedding", items), state.theta)

    def _examination(self, slate_size: int, like: torch.Tensor) -> torch.Tensor:
        """Probability each position is looked at, [B, K] (or [1, K] for a shared decay)."""
        positions = torch.arange(slate_size, device=like.device, dtype=torch.float32)
        return torch.pow(per_user_column(self.params.position_decay), positions)

    def attraction(self, state: LinearClickState, items: torch.Tensor) -> torch.Tensor:
        """Click probability of each item [B, C] if examined, [B, C]."""
        params = self.params
        return per_user_column(params.click_base) + per_user_column(params.click_scale) * self._affinity(state, items)

    def reset(self, keys: torch.Tensor, users: torch.Tensor | None = None) -> LinearClickState:
        params = self.params.take(users)
        deviation = random.normal(random.fold_in(keys, _TASTE_STREAM), (self.catalog.feature_dim,))
        theta = self.population_theta + per_user_column(params.theta_spread) * deviation
        return LinearClickState(theta=torch.nn.functional.normalize(theta, dim=1))

    def step(
        self, state: LinearClickState, slate_items: torch.Tensor, keys: torch.Tensor
    ) -> tuple[LinearClickState, Response]:
        slate_size = slate_items.shape[1]
        probability = self._examination(slate_size, slate_items) * self.attraction(state, slate_items)
        clicked = random.uniform(random.fold_in(keys, _CLICK_STREAM), (slate_size,)) < probability
        any_click = clicked.any(dim=1)
        choice = torch.where(
            any_click, clicked.to(torch.int8).argmax(dim=1), torch.full_like(any_click, -1, dtype=torch.int64)
        )
        no_behaviour = torch.zeros_like(clicked)
        response = Response(
            clicked=clicked,
            watch_time=clicked * self.catalog.lookup("duration", slate_items),
            liked=no_behaviour,
            shared=no_behaviour,
            followed=no_behaviour,
            skipped=no_behaviour,
            left=torch.zeros_like(any_click),
            return_gap=torch.zeros(slate_items.shape[0], device=slate_items.device),
            choice=choice,
            returned=torch.zeros_like(any_click),
        )
        return state, response

    def terminated(self, state: LinearClickState) -> torch.Tensor:
        return torch.zeros(state.theta.shape[0], dtype=torch.bool, device=state.theta.device)

    def observe(self, state: LinearClickState) -> dict[str, torch.Tensor]:
        return {}

    def observation_spec(self) -> dict[str, FeatureSpec]:
        return {}

    def item_features(self, items: torch.Tensor) -> torch.Tensor:
        return self.catalog.lookup("embedding", items)

    def item_feature_spec(self) -> FeatureSpec:
        return FeatureSpec((self.catalog.feature_dim,), -1.0, 1.0)

    def expected_reward(self, state: LinearClickState, items: torch.Tensor) -> torch.Tensor:
        """Expected clicks (= minutes) of each candidate shown alone, in the first position, [B, C]."""
        return self.attraction(state, items) * self.catalog.lookup("duration", items)

    def expected_slate_reward(self, state: LinearClickState, slate_items: torch.Tensor) -> torch.Tensor:
        """Exact expected clicks of each whole slate [B, K], [B]: examination-weighted attraction summed."""
        examination = self._examination(slate_items.shape[1], slate_items)
        return (examination * self.expected_reward(state, slate_items)).sum(dim=1)


def unit_feature_catalog(num_items: int, num_features: int, seed: int) -> tuple[Catalog, torch.Tensor]:
    """Items with unit feature vectors (topic = strongest axis) and a unit population taste, both from ``seed``."""
    if num_features <= 0:
        raise ConfigError(f"num_features must be positive; got {num_features}.")
    if num_items <= 0:
        raise ConfigError(f"num_items must be positive; got {num_items}.")
    generator = torch.Generator().manual_seed(seed)
    embedding = torch.nn.functional.normalize(torch.randn(num_items, num_features, generator=generator), dim=1)
    population_theta = torch.nn.functional.normalize(torch.randn(num_features, generator=generator), dim=0)
    catalog = Catalog(
        embedding=embedding,
        topic=embedding.abs().argmax(dim=1),
        quality=torch.zeros(num_items),
        duration=torch.ones(num_items),
        popularity=torch.full((num_items,), 1.0 / num_items),
        num_topics=num_features,
    )
    return catalog, population_theta


def make_simulator(
    num_items: int = 1_000, num_features: int = 8, catalog_seed: int = 0, **params: ParamLike
) -> LinearClickUser:
    """The registered factory: a generated unit-feature catalog and a user model; other kwargs are params."""
    user_params = build_params(
        LinearClickParams, params, "recgym/LinearClick-v0", "num_items, num_features, catalog_seed"
    )
    catalog, population_theta = unit_feature_catalog(num_items, num_features, catalog_seed)
    return LinearClickUser(catalog, population_theta, user_params)
