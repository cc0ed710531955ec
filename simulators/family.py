"""Simulator families (Sim2Rec): any simulator with parameters drawn per user, hidden from the policy.

``FamilyUser`` wraps a simulator and a ``ParamDistribution``. When a user's episode starts
it draws that user's parameters from the user's own key and keeps them in the hidden
state, so every episode meets a different behaviour pattern and the batched env still
equals single-user runs. The wrapped simulator sees ordinary per-user parameter tensors.

Named families ship for the long-term simulators: ``train`` covers one region of
parameter space and ``heldout`` a disjoint one, so a policy trained on ``train`` can be
scored on users it has never met (Sim2Rec, Chen et al. 2023). Each named family mixes two
kinds of user that want opposite slates, so one behaviour for everyone must compromise and
knowing the user is worth something; a family whose users all want the same thing cannot
show that conditioning helps.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
from collections.abc import Mapping
from typing import Any, Self

import torch

from recgym.core import random
from recgym.core.catalog import Catalog
from recgym.core.param_distribution import ParamDistribution, as_param_distribution
from recgym.core.response import Response
from recgym.core.simulator import FeatureSpec, SimParams, UserSimulator
from recgym.core.state import TensorState
from recgym.errors import ConfigError

_FAMILY_KEY_STREAM = 77


@dataclasses.dataclass(frozen=True)
class FamilyState(TensorState):
    """The wrapped simulator's state plus each user's drawn parameters."""

    user: TensorState
    params: torch.Tensor
    """Drawn parameter values, float [B, P], columns in the distribution's ``names`` order."""


class FamilyUser:
    """``simulator`` whose parameters named in ``distribution`` differ per user and per episode."""

    def __init__(self, simulator: UserSimulator, distribution: ParamDistribution | Mapping[str, Any]) -> None:
        self.base = simulator
        self.distribution = as_param_distribution(distribution)
        self.distribution.check_against(simulator.params)
        self.catalog: Catalog = simulator.catalog
        self.params: SimParams = simulator.params

    def to(self, device: torch.device | str) -> Self:
        return type(self)(self.base.to(device), self.distribution)

    def _with_params(self, params: SimParams) -> UserSimulator:
        """A shallow copy of the wrapped simulator that reads ``params`` (simulators keep no other param copy)."""
        view = copy.copy(self.base)
        view.params = params
        return view

    def _for_state(self, state: FamilyState) -> UserSimulator:
        return self._with_params(self.distribution.apply(self.base.params, state.params))

    # -- protocol ----------------------------------------------------------------------------
    def reset(self, keys: torch.Tensor, users: torch.Tensor | None = None) -> FamilyState:
        drawn = self.distribution.sample(random.fold_in(keys, _FAMILY_KEY_STREAM))
        view = self._with_params(self.distribution.apply(self.base.params.take(users), drawn))
        return FamilyState(user=view.reset(keys, None), params=drawn)

    def step(self, state: FamilyState, slate_items: torch.Tensor, keys: torch.Tensor) -> tuple[FamilyState, Response]:
        user, response = self._for_state(state).step(state.user, slate_items, keys)
        return FamilyState(user=user, params=state.params), response

    def terminated(self, state: FamilyState) -> torch.Tensor:
        return self._for_state(state).terminated(state.user)

    def observe(self, state: FamilyState) -> dict[str, torch.Tensor]:
        """Only what the wrapped simulator shows: the drawn parameters stay hidden."""
        return self._for_state(state).observe(state.user)

    def observation_spec(self) -> dict[str, FeatureSpec]:
        return self.base.observation_spec()

    def item_features(self, items: torch.Tensor) -> torch.Tensor:
        return self.base.item_features(items)

    def item_feature_spec(self) -> FeatureSpec:
        return self.base.item_feature_spec()

    def expected_reward(self, state: FamilyState, items: torch.Tensor) -> torch.Tensor:
        return self._for_state(state).expected_reward(state.user, items)

    def drawn_params(self, state: FamilyState) -> dict[str, torch.Tensor]:
        """Each user's hidden parameters by name, [B] each: for analysis and Sim2Rec's encoder targets."""
        return {name: state.params[:, index] for index, name in enumerate(self.distribution.names)}


# Named families: ``train`` and a disjoint ``heldout`` region per simulator.
FAMILIES: dict[str, dict[str, dict[str, Any]]] = {
    "long_term_satisfaction": {
        # Two kinds of user in each family, told apart only by how long they watch: clickbait
        # watchers (kale_mean low), for whom clickbait pays several times what kale does, and kale
        # watchers (kale_mean high), who watch kale for long. Everyone clicks clickbait more, so
        # what a user clicks does not say which kind they are; how long they stay after a click
        # does. Satisfaction still moves with the diet (sensitivity > 0), so clickbait keeps its
        # long-term cost. Three clickbait watchers come for each kale watcher, whose long views
        # would otherwise outweigh them in the total. Held-out: more extreme kinds, more sensitive
        # and faster-forgetting users, a stronger clickbait pull and a weaker return-gap response;
        # every range disjoint from train. ``FAMILY_USERS`` fixes clickbait's appeal and the noise.
        "train": {
            "kale_mean": {"choice": [2.0, 2.0, 2.0, 9.0]},
            "sensitivity": {"uniform": [0.1, 0.2]},
            "memory_discount": {"uniform": [0.5, 0.65]},
            "click_clickbait_weight": {"uniform": [1.0, 2.5]},
            "return_gap_sensitivity": {"uniform": [1.5, 3.0]},
        },
        "heldout": {
            "kale_mean": {"choice": [1.5, 1.5, 1.5, 9.5]},
            "sensitivity": {"uniform": [0.2, 0.3]},
            "memory_discount": {"uniform": [0.35, 0.5]},
            "click_clickbait_weight": {"uniform": [2.5, 3.5]},
            "return_gap_sensitivity": {"uniform": [0.5, 1.5]},
        },
    },
    "fatigue_novelty": {
        # Two kinds of user in each family: novelty seekers, who gain from unfamiliar topics,
        # and routine-lovers, who lose from them. Meant for few topics, no topic interest and
        # mild boredom (``benchmarks/rl_long_term.py`` NOVELTY_USERS, with
        # ``novelty_level_spread=0`` so each user's level is the drawn median): the kind then
        # shows in every click, familiar or not, and the two want opposite slates. Held-out:
        # more extreme kinds, a stronger novelty pull, less boredom, steadier sessions.
        "train": {
            "novelty_level_median": {"choice": [0.1, 0.7]},
            "novelty_weight": {"uniform": [5.0, 7.0]},
            "boredom_penalty": {"uniform": [0.05, 0.2]},
            "propensity_noise": {"uniform": [0.3, 0.6]},
        },
        "heldout": {
            "novelty_level_median": {"choice": [0.05, 0.8]},
            "novelty_weight": {"uniform": [7.0, 8.5]},
            "boredom_penalty": {"uniform": [0.0, 0.05]},
            "propensity_noise": {"uniform": [0.1, 0.3]},
        },
    },
    "multi_behavior": {
        "train": {
            "click_bias": {"uniform": [-1.0, 0.0]},
            "satisfaction_gain": {"uniform": [2.0, 4.0]},
            "leave_dissatisfaction": {"uniform": [0.05, 0.12]},
            "return_gap_sensitivity": {"uniform": [1.5, 3.0]},
        },
        "heldout": {
            "click_bias": {"uniform": [0.0, 1.0]},
            "satisfaction_gain": {"uniform": [4.0, 6.0]},
            "leave_dissatisfaction": {"uniform": [0.12, 0.18]},
            "return_gap_sensitivity": {"uniform": [3.0, 4.5]},
        },
    },
}


KALE_WATCHER_THRESHOLD = 5.0
"""kale_mean above which a long-term-satisfaction family user is a kale watcher (kinds 2 / 9; held out 1.5 / 9.5)."""


FAMILY_USERS: dict[str, dict[str, Any]] = {
    "long_term_satisfaction": {"choc_mean": 6.0, "choc_stddev": 0.5, "kale_stddev": 0.5},
    "fatigue_novelty": {
        "num_topics": 4,
        "novelty_level_spread": 0.0,
        "initial_familiarity": 0.0,
        "interest_weight": 0.0,
        "familiarity_rate": 0.6,
        "no_click_score": -1.0,
        "leave_dissatisfaction": 0.0,
        "return_gap_sensitivity": 0.0,
    },
}
"""Fixed settings a base's named families are designed around, applied as (overridable) defaults. For
long_term_satisfaction: one clickbait appeal for everyone (log-engagement mean 6 at full satisfaction,
between the two kinds' kale means) and log-engagement noise of 0.5 rather than 1, so watch time tells the
kinds apart within a few clicks. For fatigue_novelty: four topics, no topic interest, familiarity built from
clicks alone and each user's novelty level equal to the drawn median, so familiar vs unfamiliar is the whole
choice and novelty seekers and routine lovers want opposite slates (the kind shows in every click)."""


def make_family_simulator(
    base: str = "long_term_satisfaction",
    family: str | Mapping[str, Any] = "train",
    **kwargs: Any,
) -> FamilyUser:
    """The registered factory of ``recgym/Sim2RecFamily-v0``.

    Args:
        base: a module in ``simulators`` with a ``make_simulator`` factory.
        family: a named family of ``base`` (see ``FAMILIES``; its ``FAMILY_USERS`` settings become defaults),
            or a ``ParamDistribution`` spec.
        kwargs: passed to the base factory (catalog size, fixed parameters, ...).
    """
    try:
        factory = importlib.import_module(f"simulators.{base}").make_simulator
    except (ImportError, AttributeError) as error:
        raise ConfigError(
            f"Unknown base simulator {base!r}: expected a module simulators.{base} with make_simulator."
        ) from error
    if isinstance(family, str):
        named = FAMILIES.get(base, {})
        if family not in named:
            raise ConfigError(
                f"Unknown family {family!r} for base {base!r}; named families: {sorted(named) or 'none'}. "
                "Pass a ParamDistribution spec (a mapping of field -> distribution) instead."
            )
        family = named[family]
        kwargs = FAMILY_USERS.get(base, {}) | kwargs
    return FamilyUser(factory(**kwargs), family)
