"""RecSim's interest-evolution user, batched on torch.

Each user has latent interests u in [-1, 1]^T over T topics and a time budget. Shown a
slate, the user picks one item or none by a conditional-logit choice on u[topic];
watching spends budget, and good items give some back; consuming a topic drifts the
interest in it (towards +1 or -1, more likely the way it already leans). The session
ends when the budget runs out. Defaults reproduce RecSim's
``recsim/environments/interest_evolution.py``; the differences are listed in
docs/simulators.md and in ``InterestEvolutionParams``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Self

import torch

from recgym.core import random
from recgym.core.catalog import Catalog
from recgym.core.choice import ChoiceModel, MultinomialLogit, MultinomialProportional, sample_choice
from recgym.core.response import Response
from recgym.core.simulator import (
    NON_NEGATIVE,
    POSITIVE,
    FeatureSpec,
    ParamLike,
    SimParams,
    bounded,
    build_params,
    param_min,
    per_user_column,
)
from recgym.core.state import TensorState
from recgym.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class InterestEvolutionParams(SimParams):
    """User-model parameters; each a float or a per-user tensor [B]. Defaults are RecSim's."""

    initial_budget: ParamLike = bounded(200.0, POSITIVE)
    """Minutes each session starts with (RecSim time_budget)."""
    no_click_penalty: ParamLike = bounded(0.5, NON_NEGATIVE)
    """Budget lost on a step without a click (RecSim step_penalty)."""
    no_click_mass: ParamLike = 1.0
    """No-click score: for the proportional choice, v_0 = no_click_mass - min_normalizer."""
    min_normalizer: ParamLike = -1.0
    """Offset that makes proportional attractiveness u[topic] - min_normalizer non-negative."""
    logit_temperature: ParamLike = bounded(1.0, POSITIVE)
    """Softmax temperature when the choice model is 'logit'."""
    budget_bonus: ParamLike = bounded(0.9 / 3.4, NON_NEGATIVE)
    """Share of watch time given back per unit of received utility (RecSim user_update_alpha)."""
    user_quality_factor: ParamLike = 0.0
    """Weight of the user's interest in received utility."""
    document_quality_factor: ParamLike = 1.0
    """Weight of item quality in received utility."""
    drift_x0: ParamLike = bounded(1.0, POSITIVE)
    """Interest at which the drift step reaches zero."""
    drift_y0: ParamLike = bounded(0.3, NON_NEGATIVE)
    """Largest drift step, at interest 0."""
    watch_base: ParamLike = 1.0
    """Fraction of an item watched before interest and quality effects; 1.0 is RecSim (whole item)."""
    watch_interest_weight: ParamLike = 0.0
    """Added watched fraction per unit of interest (0 in RecSim)."""
    watch_quality_weight: ParamLike = 0.0
    """Added watched fraction per unit of quality (0 in RecSim)."""

    def check_relations(self) -> None:
        if param_min(self.no_click_mass - self.min_normalizer) <= 0:
            raise ConfigError(
                "InterestEvolutionParams.no_click_mass must exceed min_normalizer so that not clicking "
                f"is possible; got no_click_mass={self.no_click_mass}, min_normalizer={self.min_normalizer}."
            )


@dataclasses.dataclass(frozen=True)
class InterestEvolutionState(TensorState):
    """Hidden per-user state."""

    interests: torch.Tensor
    """Latent topic interests in [-1, 1], float [B, T]."""
    budget: torch.Tensor
    """Minutes left in the session, float [B]."""


class InterestEvolutionUser:
    """The batched interest-evolution user model over a ``Catalog``.

    Args:
        catalog: items; their topic drives choice and drift, their one-hot feature is visible.
        params: ``InterestEvolutionParams``.
        choice_model: 'proportional' (RecSim's MultinomialProportionalChoiceModel) or
            'logit' (softmax of interests with a no-click logit).
        observe_interests: expose the true interests to the policy, as RecSim does
            (off by default: a recommender cannot read minds).
    """

    def __init__(
        self,
        catalog: Catalog,
        params: InterestEvolutionParams | None = None,
        choice_model: Literal["proportional", "logit"] = "proportional",
        observe_interests: bool = False,
    ) -> None:
        if choice_model not in ("proportional", "logit"):
            raise ConfigError(f"choice_model must be 'proportional' or 'logit'; got {choice_model!r}.")
        self.catalog = catalog
        self.params = params or InterestEvolutionParams()
        self.params.check()
        self.choice_model_name = choice_model
        self.observe_interests = observe_interests

    # -- construction helpers -------------------------------------------------------------
    def to(self, device: torch.device | str) -> Self:
        return type(self)(
            self.catalog.to(device), self.params.to(device), self.choice_model_name, self.observe_interests
        )

    def _choice_model(self, params: InterestEvolutionParams) -> ChoiceModel:
        if self.choice_model_name == "logit":
            return MultinomialLogit(no_click_score=params.no_click_mass, temperature=params.logit_temperature)
        return MultinomialProportional(no_click_mass=params.no_click_mass, min_normalizer=params.min_normalizer)

    # -- protocol ----------------------------------------------------------------------------
    def reset(self, keys: torch.Tensor, users: torch.Tensor | None = None) -> InterestEvolutionState:
        """Interests ~ Uniform(-1, 1)^T and a full budget, as RecSim's UtilityModelUserSampler."""
        params = self.params.take(users)
        interests = 2.0 * random.uniform(keys, (self.catalog.num_topics,)) - 1.0
        budget = torch.zeros(keys.shape[0], device=keys.device) + params.initial_budget
        return InterestEvolutionState(interests=interests, budget=budget)

    def step(
        self, state: InterestEvolutionState, slate_items: torch.Tensor, keys: torch.Tensor
    ) -> tuple[InterestEvolutionState, Response]:
        params = self.params
        topics = self.catalog.lookup("topic", slate_items)
        affinity = state.interests.gather(1, topics)
        probabilities = self._choice_model(params).probabilities(affinity)
        choice_u, drift_u = random.uniform(keys, (2,)).unbind(1)
        choice = sample_choice(probabilities, choice_u)
        clicked_any = choice >= 0
        position = choice.clamp_min(0).unsqueeze(1)
        chosen_item = slate_items.gather(1, position).squeeze(1)
        chosen_topic = topics.gather(1, position)
        chosen_interest = affinity.gather(1, position).squeeze(1)
        quality = self.catalog.lookup("quality", chosen_item)

        watched_fraction = (
            params.watch_base + params.watch_interest_weight * chosen_interest + params.watch_quality_weight * quality
        ).clamp(0.0, 1.0)
        watch = torch.minimum(
            state.budget.clamp_min(0.0), self.catalog.lookup("duration", chosen_item) * watched_fraction
        )
        watch = torch.where(clicked_any, watch, torch.zeros_like(watch))

        utility = params.user_quality_factor * chosen_interest + params.document_quality_factor * quality
        budget_after_click = state.budget - watch + params.budget_bonus * watch * utility
        budget = torch.where(clicked_any, budget_after_click, state.budget - params.no_click_penalty)

        interests = self._drift(state.interests, chosen_topic, chosen_interest, clicked_any, drift_u)
        next_state = InterestEvolutionState(interests=interests, budget=budget)
        response = Response.from_choice(choice, slate_items.shape[1], watch, left=self.terminated(next_state))
        return next_state, response

    def _drift(
        self,
        interests: torch.Tensor,
        chosen_topic: torch.Tensor,
        chosen_interest: torch.Tensor,
        clicked_any: torch.Tensor,
        uniforms: torch.Tensor,
    ) -> torch.Tensor:
        """RecSim's update: step alpha * (1 - u_c), up with probability (u_c + 1) / 2, else down."""
        params = self.params
        alpha = params.drift_y0 - (params.drift_y0 / params.drift_x0) * chosen_interest.abs()
        step_size = alpha * (1.0 - chosen_interest)
        goes_up = uniforms < (chosen_interest + 1.0) / 2.0
        updated = torch.where(goes_up, chosen_interest + step_size, chosen_interest - step_size).clamp(-1.0, 1.0)
        updated = torch.where(clicked_any, updated, chosen_interest)
        return interests.scatter(1, chosen_topic, updated.unsqueeze(1))

    def terminated(self, state: InterestEvolutionState) -> torch.Tensor:
        return state.budget <= 0.0

    def observe(self, state: InterestEvolutionState) -> dict[str, torch.Tensor]:
        return {"user_interests": state.interests} if self.observe_interests else {}

    def observation_spec(self) -> dict[str, FeatureSpec]:
        if not self.observe_interests:
            return {}
        return {"user_interests": FeatureSpec((self.catalog.num_topics,), -1.0, 1.0)}

    def item_features(self, items: torch.Tensor) -> torch.Tensor:
        return self.catalog.lookup("embedding", items)

    def item_feature_spec(self) -> FeatureSpec:
        embedding = self.catalog.embedding
        return FeatureSpec((self.catalog.feature_dim,), float(embedding.min()), float(embedding.max()))

    def _expected_watch(
        self, state: InterestEvolutionState, items: torch.Tensor, affinity: torch.Tensor
    ) -> torch.Tensor:
        """Minutes watched of each item [B, C] if clicked, given its topic affinity [B, C]."""
        params = self.params
        fraction = (
            per_user_column(params.watch_base)
            + per_user_column(params.watch_interest_weight) * affinity
            + per_user_column(params.watch_quality_weight) * self.catalog.lookup("quality", items)
        ).clamp(0.0, 1.0)
        return torch.minimum(
            state.budget.clamp_min(0.0).unsqueeze(1), self.catalog.lookup("duration", items) * fraction
        )

    def expected_reward(self, state: InterestEvolutionState, items: torch.Tensor) -> torch.Tensor:
        """Expected watch time of each candidate shown alone: P(click | {i}) * E[watch | click]."""
        affinity = state.interests.gather(1, self.catalog.lookup("topic", items))
        num_users, num_candidates = items.shape
        single_scores = affinity.reshape(num_users * num_candidates, 1)
        expanded = self._choice_model(self._broadcast_params(num_candidates)).probabilities(single_scores)
        click_probability = expanded[:, 0].view(num_users, num_candidates)
        return click_probability * self._expected_watch(state, items, affinity)

    def expected_slate_reward(self, state: InterestEvolutionState, slate_items: torch.Tensor) -> torch.Tensor:
        """Exact expected watch time of whole slates [B, K], [B]: the items compete for one click."""
        affinity = state.interests.gather(1, self.catalog.lookup("topic", slate_items))
        choice_probability = self._choice_model(self.params).probabilities(affinity)[:, :-1]
        return (choice_probability * self._expected_watch(state, slate_items, affinity)).sum(dim=1)

    def _broadcast_params(self, repeats: int) -> InterestEvolutionParams:
        """Per-user parameters repeated for each of ``repeats`` candidates (row-major)."""
        changes = {
            field.name: value.repeat_interleave(repeats)
            for field in dataclasses.fields(self.params)
            if isinstance(value := getattr(self.params, field.name), torch.Tensor)
        }
        return dataclasses.replace(self.params, **changes)


def make_simulator(
    num_items: int = 10_000,
    num_topics: int = 20,
    catalog_seed: int = 0,
    choice_model: Literal["proportional", "logit"] = "proportional",
    observe_interests: bool = False,
    **params: ParamLike,
) -> InterestEvolutionUser:
    """The registered factory: a generated catalog and a user model; other kwargs are params."""
    user_params = build_params(
        InterestEvolutionParams,
        params,
        "recgym/InterestEvolution-v0",
        "num_items, num_topics, catalog_seed, choice_model, observe_interests",
    )
    catalog = Catalog.generate(num_items=num_items, num_topics=num_topics, seed=catalog_seed)
    return InterestEvolutionUser(catalog, user_params, choice_model, observe_interests)
