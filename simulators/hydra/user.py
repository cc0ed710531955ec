"""The live simulator: ``HydraUser`` draws fresh users from a ``HydraModel`` and has them choose from slates by a
multinomial logit on log popularity and community (``HydraParams``, ``HydraState``), over the
model's items as a ``Catalog`` (``catalog_from_model``); ``make_simulator`` is the factory of the
registered env ``recgym/Hydra-v0``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Self

import numpy as np
import torch

from recgym.core import random
from recgym.core.catalog import Catalog
from recgym.core.choice import MultinomialLogit, sample_choice
from recgym.core.response import Response
from recgym.core.simulator import (
    NON_NEGATIVE,
    POSITIVE,
    UNIT,
    FeatureSpec,
    ParamLike,
    SimParams,
    bounded,
    build_params,
    per_user_column,
)
from recgym.core.state import TensorState
from simulators.hydra.fit import fit
from simulators.hydra.generate import read_log
from simulators.hydra.model import HydraModel


@dataclasses.dataclass(frozen=True)
class HydraParams(SimParams):
    """Choice, watch and leave parameters; each a float or a per-user tensor [B]."""

    popularity_weight: ParamLike = 1.0
    """Weight of log(N x item popularity) in an item's score: how much users follow the crowd."""
    affinity: ParamLike = bounded(2.0, NON_NEGATIVE)
    """Score bonus of items of the user's own community; ``make_simulator`` sets it from the model."""
    no_click_score: ParamLike = 1.5
    """Score of not clicking in the logit choice."""
    temperature: ParamLike = bounded(1.0, POSITIVE)
    """Softmax temperature of the logit choice."""
    watch_base: ParamLike = bounded(0.5, NON_NEGATIVE)
    """Fraction of an item watched when it is outside the user's community."""
    watch_affinity: ParamLike = bounded(0.5, NON_NEGATIVE)
    """Added fraction watched when the item is of the user's community (total capped at 1)."""
    leave_on_no_click: ParamLike = bounded(0.02, UNIT)
    """Probability that a user leaves after a step without a click."""
    clicks_per_activity: ParamLike = bounded(1.0, POSITIVE)
    """A user leaves after ``clicks_per_activity x activity`` clicks: light users leave sooner."""


@dataclasses.dataclass(frozen=True)
class HydraState(TensorState):
    """Hidden per-user state."""

    community: torch.Tensor
    """The user's community, int64 [B]."""
    activity: torch.Tensor
    """Items the user will adopt before leaving, float [B] (>= 1)."""
    clicks: torch.Tensor
    """Clicks so far this episode, float [B]."""
    left: torch.Tensor
    """The user walked away after an unrewarding step, bool [B]."""


# Per-user random streams of the live simulator.
_COMMUNITY_STREAM, _COMPONENT_STREAM, _ACTIVITY_STREAM = 1, 2, 3


def catalog_from_model(model: HydraModel, duration: float = 4.0) -> Catalog:
    """Items of the model as a ``Catalog``: topic = home community, popularity = normalised weight.

    Visible features: one-hot home community and log(N x popularity) / 5 (a catalog's popularity
    is public: real systems show view counts). Quality is the same log popularity (unused in choice).
    """
    topic = torch.from_numpy(model.item_community).to(torch.int64)
    popularity = torch.from_numpy(model.item_weight).to(torch.float32)
    popularity = popularity / popularity.sum()
    log_popularity = torch.log(popularity * model.num_items)
    one_hot = torch.nn.functional.one_hot(topic, model.num_communities).to(torch.float32)
    return Catalog(
        embedding=torch.cat([one_hot, (log_popularity / 5.0).unsqueeze(1)], dim=1),
        topic=topic,
        quality=log_popularity,
        duration=torch.full((model.num_items,), float(duration)),
        popularity=popularity,
        num_topics=model.num_communities,
    )


class HydraUser:
    """Users drawn from a ``HydraModel``, choosing from slates by popularity and community.

    Score of item i for a user of community g: ``popularity_weight * log(N p_i) + affinity * [home_i == g]``;
    one click or none by a multinomial logit with ``no_click_score``. Watch time is a share of
    the item's length, larger inside the user's community. The episode ends once the user has
    clicked ``clicks_per_activity x activity`` items (their adoption count in the model), or when
    they leave after a step without a click.
    """

    def __init__(self, model: HydraModel, params: HydraParams | None = None, catalog: Catalog | None = None) -> None:
        self.model = model
        self.catalog = catalog if catalog is not None else catalog_from_model(model)
        self.params = params or HydraParams(affinity=model.affinity)
        self.params.check()
        device = self.catalog.device
        self._community_cdf = torch.tensor(np.cumsum(model.community_weights), dtype=torch.float32, device=device)
        mixture = model.activity
        self._activity_cdf = torch.tensor(np.cumsum(mixture.weights), dtype=torch.float32, device=device)
        self._activity_means = torch.tensor(mixture.means, dtype=torch.float32, device=device)
        self._activity_stds = torch.tensor(mixture.stds, dtype=torch.float32, device=device)
        self._log_popularity = torch.log(self.catalog.popularity.clamp_min(1e-30) * self.catalog.num_items)

    def to(self, device: torch.device | str) -> Self:
        return type(self)(self.model, self.params.to(device), self.catalog.to(device))

    # -- protocol ----------------------------------------------------------------------------
    def reset(self, keys: torch.Tensor, users: torch.Tensor | None = None) -> HydraState:
        """A fresh user per key: community by the community weights, activity from the mixture."""
        count = keys.shape[0]
        community = _inverse_cdf(self._community_cdf, random.uniform(random.fold_in(keys, _COMMUNITY_STREAM)))
        component = _inverse_cdf(self._activity_cdf, random.uniform(random.fold_in(keys, _COMPONENT_STREAM)))
        log_activity = self._activity_means[component] + self._activity_stds[component] * random.normal(
            random.fold_in(keys, _ACTIVITY_STREAM)
        )
        activity = torch.exp(log_activity).round().clamp(1.0, float(self.catalog.num_items))
        zeros = torch.zeros(count, device=keys.device)
        return HydraState(community=community, activity=activity, clicks=zeros, left=zeros.bool())

    def scores(self, state: HydraState, items: torch.Tensor) -> torch.Tensor:
        """Each user's logit score of items [B, K] -> [B, K]."""
        params = self.params
        same = (self.catalog.lookup("topic", items) == state.community.unsqueeze(1)).to(torch.float32)
        popularity = self._log_popularity.index_select(0, items.reshape(-1)).view(items.shape)
        return per_user_column(params.popularity_weight) * popularity + per_user_column(params.affinity) * same

    def _watch_fraction(self, same: torch.Tensor) -> torch.Tensor:
        params = self.params
        return (per_user_column(params.watch_base) + per_user_column(params.watch_affinity) * same).clamp(0.0, 1.0)

    def step(self, state: HydraState, slate_items: torch.Tensor, keys: torch.Tensor) -> tuple[HydraState, Response]:
        params = self.params
        choice_model = MultinomialLogit(no_click_score=params.no_click_score, temperature=params.temperature)
        probabilities = choice_model.probabilities(self.scores(state, slate_items))
        choice_u, leave_u = random.uniform(keys, (2,)).unbind(1)  # one hash pass for both draws
        choice = sample_choice(probabilities, choice_u)
        clicked_any = choice >= 0
        chosen_item = slate_items.gather(1, choice.clamp_min(0).unsqueeze(1))
        same = (self.catalog.lookup("topic", chosen_item) == state.community.unsqueeze(1)).to(torch.float32)
        watch = (self.catalog.lookup("duration", chosen_item) * self._watch_fraction(same)).squeeze(1)
        watch = torch.where(clicked_any, watch, torch.zeros_like(watch))
        walks_away = leave_u < params.leave_on_no_click
        next_state = HydraState(
            community=state.community,
            activity=state.activity,
            clicks=state.clicks + clicked_any.to(torch.float32),
            left=state.left | (~clicked_any & walks_away),
        )
        response = Response.from_choice(choice, slate_items.shape[1], watch, left=self.terminated(next_state))
        return next_state, response

    def terminated(self, state: HydraState) -> torch.Tensor:
        return state.left | (state.clicks >= self.params.clicks_per_activity * state.activity)

    def observe(self, state: HydraState) -> dict[str, torch.Tensor]:
        return {}

    def observation_spec(self) -> dict[str, FeatureSpec]:
        return {}

    def item_features(self, items: torch.Tensor) -> torch.Tensor:
        return self.catalog.lookup("embedding", items)

    def item_feature_spec(self) -> FeatureSpec:
        embedding = self.catalog.embedding
        return FeatureSpec((self.catalog.feature_dim,), float(embedding.min()), float(embedding.max()))

    def expected_reward(self, state: HydraState, items: torch.Tensor) -> torch.Tensor:
        """Expected watch time of each candidate shown alone: P(click | {i}) * E[watch | click], [B, C]."""
        params = self.params
        margin = (self.scores(state, items) - per_user_column(params.no_click_score)) / per_user_column(
            params.temperature
        )
        same = (self.catalog.lookup("topic", items) == state.community.unsqueeze(1)).to(torch.float32)
        return torch.sigmoid(margin) * self.catalog.lookup("duration", items) * self._watch_fraction(same)


def _inverse_cdf(cdf: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Category index [B] for uniforms [B] under a cumulative distribution [M]."""
    return torch.searchsorted(cdf, uniforms.unsqueeze(1), right=True).squeeze(1).clamp_max(cdf.shape[0] - 1)


_FACTORY_ARGUMENTS = "num_items, num_users_in_model, num_communities, catalog_seed, log_path"


def make_simulator(
    num_items: int | None = None,
    num_users_in_model: int = 10_000,
    num_communities: int = 8,
    catalog_seed: int = 0,
    log_path: str | Path | None = None,
    **params: ParamLike,
) -> HydraUser:
    """The registered factory: a model fitted to ``log_path`` (CSV or Parquet with user,item), else the default.

    ``num_items`` defaults to 1000 for the default model and to the log's item count for a fitted
    one (another value redraws the items from the fitted distributions). Other kwargs are
    ``HydraParams``; ``affinity`` defaults to the model's.
    """
    build_params(HydraParams, params, "recgym/Hydra-v0", _FACTORY_ARGUMENTS)  # fail fast, before fitting
    if log_path is not None:
        model = fit(read_log(log_path), num_communities=num_communities, seed=catalog_seed)
        model = model.resized(num_users=num_users_in_model, num_items=num_items, seed=catalog_seed)
    else:
        model = HydraModel.default(
            num_users_in_model, 1000 if num_items is None else num_items, num_communities, seed=catalog_seed
        )
    params.setdefault("affinity", model.affinity)
    return HydraUser(model, build_params(HydraParams, params, "recgym/Hydra-v0", _FACTORY_ARGUMENTS))
