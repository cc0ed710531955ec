"""RecSim's long-term satisfaction user ("choc vs kale"), batched on torch, with retention.

Every item has a visible clickbait level c in [0, 1]. Clickbait attracts clicks and, when
consumed, pays more engagement now; but it erodes a hidden net positive exposure (NPE)
and with it satisfaction SAT = sigmoid(eta * NPE), which scales every later engagement.
Satisfaction also drives retention (``simulators.retention``): unhappy users end sessions
sooner and stay away longer, so an episode of ``horizon_days`` holds fewer sessions.

Defaults follow RecSim's ``long_term_satisfaction.py`` except where its defaults make
the long-term effect vanish (docs/simulators.md): ``sensitivity`` (eta) is 0.3, not 0.01,
so that kale beats chocolate at steady state; the user chooses by a logit over clickbait
instead of always clicking position 0; engagement is capped at the item's duration.
"""

from __future__ import annotations

import dataclasses
from typing import Self

import torch

from recgym.core import random
from recgym.core.catalog import Catalog
from recgym.core.choice import MultinomialLogit, sample_choice
from recgym.core.response import Response
from recgym.core.simulator import (
    NON_NEGATIVE,
    POSITIVE,
    UNIT_OPEN_HIGH,
    FeatureSpec,
    ParamLike,
    bounded,
    build_params,
    per_user_column,
)
from recgym.core.state import TensorState
from recgym.errors import ConfigError
from simulators.retention import (
    RetentionParams,
    SessionState,
    SessionUser,
    advance_sessions,
)

_RETENTION_STREAM = 4
# Columns of the one uniform draw per step: choice, engagement noise (2), NPE innovation (2).
_STEP_UNIFORMS = 5


@dataclasses.dataclass(frozen=True)
class LongTermSatisfactionParams(RetentionParams):
    """User-model parameters; each a float or a per-user tensor [B]."""

    memory_discount: ParamLike = bounded(0.7, UNIT_OPEN_HIGH)
    """g: how much of the net positive exposure survives each step (RecSim memory_discount)."""
    sensitivity: ParamLike = bounded(0.3, NON_NEGATIVE)
    """eta in SAT = sigmoid(eta * NPE); RecSim's 0.01 makes satisfaction constant (REFERENCE quirk 8)."""
    innovation_stddev: ParamLike = bounded(0.05, NON_NEGATIVE)
    """Std of the Gaussian noise added to NPE each step."""
    choc_mean: ParamLike = 5.0
    """Log-engagement mean of pure clickbait (c = 1) at full satisfaction."""
    choc_stddev: ParamLike = bounded(1.0, NON_NEGATIVE)
    """Log-engagement std of pure clickbait."""
    kale_mean: ParamLike = 4.0
    """Log-engagement mean of pure kale (c = 0) at full satisfaction."""
    kale_stddev: ParamLike = bounded(1.0, NON_NEGATIVE)
    """Log-engagement std of pure kale."""
    click_clickbait_weight: ParamLike = 2.0
    """Logit added per unit of clickbait: clickbait raises clicks now."""
    click_satisfaction_weight: ParamLike = 2.0
    """Logit added per unit of satisfaction above 0.5: happy users click more."""
    no_click_logit: ParamLike = 1.0
    """Logit of not clicking; an item with c = 0.5 at SAT 0.5 has logit 1."""
    initial_npe_spread: ParamLike = bounded(1.0, NON_NEGATIVE)
    """Initial NPE = spread * (U[0, 1) - 0.5) / (1 - g), as RecSim's LTSStaticUserSampler (spread 1)."""
    horizon_days: ParamLike = bounded(14.0, POSITIVE)


@dataclasses.dataclass(frozen=True)
class LongTermSatisfactionState(TensorState):
    """Hidden per-user state."""

    net_positive_exposure: torch.Tensor
    """NPE, a discounted sum of (0.5 - clickbait) of consumed items, float [B]."""
    session: SessionState
    """Calendar time and session counters (leave-and-return)."""


class LongTermSatisfactionUser(SessionUser):
    """The batched choc-vs-kale user over a catalog whose items carry a clickbait level.

    Args:
        catalog: items; their one-hot topic is visible.
        clickbait: clickbait level of every item, float [N] in [0, 1]; visible as the last feature.
        params: ``LongTermSatisfactionParams``.
    """

    def __init__(
        self, catalog: Catalog, clickbait: torch.Tensor, params: LongTermSatisfactionParams | None = None
    ) -> None:
        if tuple(clickbait.shape) != (catalog.num_items,):
            raise ConfigError(
                f"clickbait must have one value per item, shape ({catalog.num_items},); got {tuple(clickbait.shape)}."
            )
        if bool((clickbait < 0).any()) or bool((clickbait > 1).any()):
            raise ConfigError("clickbait levels must lie in [0, 1].")
        self.catalog = catalog
        self.clickbait = clickbait.to(catalog.embedding.device, torch.float32)
        self.params = params or LongTermSatisfactionParams()
        self.params.check()
        self._features = torch.cat([catalog.embedding, self.clickbait.unsqueeze(1)], dim=1)

    def to(self, device: torch.device | str) -> Self:
        return type(self)(self.catalog.to(device), self.clickbait.to(device), self.params.to(device))

    # -- model pieces --------------------------------------------------------------------------
    def satisfaction(self, state: LongTermSatisfactionState) -> torch.Tensor:
        """SAT = sigmoid(eta * NPE) in (0, 1), float [B]."""
        return torch.sigmoid(self.params.sensitivity * state.net_positive_exposure)

    def _click_logits(self, clickbait: torch.Tensor, satisfaction: torch.Tensor) -> torch.Tensor:
        params = self.params
        return per_user_column(params.click_clickbait_weight) * clickbait + per_user_column(
            params.click_satisfaction_weight
        ) * (satisfaction.unsqueeze(1) - 0.5)

    def _log_engagement_moments(
        self, clickbait: torch.Tensor, satisfaction: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std of log engagement for clickbait [B, ...] at satisfaction [B] (RecSim's mix)."""
        params = self.params
        extra = (1,) * (clickbait.dim() - 1)
        sat = satisfaction.view(-1, *extra)

        def user(value: ParamLike) -> ParamLike:
            return value.view(-1, *extra) if isinstance(value, torch.Tensor) else value

        mean = (user(params.choc_mean) * clickbait + user(params.kale_mean) * (1.0 - clickbait)) * sat
        std = user(params.choc_stddev) * clickbait + user(params.kale_stddev) * (1.0 - clickbait)
        return mean, std

    # -- protocol ----------------------------------------------------------------------------
    def reset(self, keys: torch.Tensor, users: torch.Tensor | None = None) -> LongTermSatisfactionState:
        params = self.params.take(users)
        spread = params.initial_npe_spread
        npe = spread * (random.uniform(keys) - 0.5) / (1.0 - params.memory_discount)
        return LongTermSatisfactionState(npe, SessionState.start(keys.shape[0], keys.device))

    def step(
        self, state: LongTermSatisfactionState, slate_items: torch.Tensor, keys: torch.Tensor
    ) -> tuple[LongTermSatisfactionState, Response]:
        params = self.params
        satisfaction = self.satisfaction(state)
        clickbait = self.clickbait.index_select(0, slate_items.reshape(-1)).view_as(slate_items).to(torch.float32)
        choice_model = MultinomialLogit(no_click_score=params.no_click_logit)
        probabilities = choice_model.probabilities(self._click_logits(clickbait, satisfaction))
        uniforms = random.uniform(keys, (_STEP_UNIFORMS,))
        choice = sample_choice(probabilities, uniforms[:, 0])
        clicked_any = choice >= 0
        position = choice.clamp_min(0).unsqueeze(1)
        chosen_clickbait = clickbait.gather(1, position).squeeze(1)
        chosen_item = slate_items.gather(1, position).squeeze(1)

        # Engagement uses the satisfaction before this step's update, as RecSim does.
        mean, std = self._log_engagement_moments(chosen_clickbait, satisfaction)
        log_engagement = mean + std * random.normal_from_uniforms(uniforms[:, 1], uniforms[:, 2])
        duration = self.catalog.duration.index_select(0, chosen_item)
        engagement = torch.where(clicked_any, torch.minimum(torch.exp(log_engagement), duration), 0.0)

        innovation = params.innovation_stddev * random.normal_from_uniforms(uniforms[:, 3], uniforms[:, 4])
        exposure = torch.where(clicked_any, -2.0 * (chosen_clickbait - 0.5), 0.0)
        npe = params.memory_discount * state.net_positive_exposure + exposure + innovation
        new_satisfaction = torch.sigmoid(params.sensitivity * npe)
        session, events = advance_sessions(
            state.session, new_satisfaction, params, random.fold_in(keys, _RETENTION_STREAM)
        )
        next_state = LongTermSatisfactionState(npe, session)
        response = Response.from_choice(
            choice, slate_items.shape[1], engagement, events.left, events.return_gap, events.returned
        )
        return next_state, response

    def item_features(self, items: torch.Tensor) -> torch.Tensor:
        """One-hot topic followed by the clickbait level, [..., T + 1]."""
        return self._features.index_select(0, items.reshape(-1)).view(*items.shape, self._features.shape[1])

    def item_feature_spec(self) -> FeatureSpec:
        return FeatureSpec((self._features.shape[1],), 0.0, 1.0)

    def expected_reward(self, state: LongTermSatisfactionState, items: torch.Tensor) -> torch.Tensor:
        """Expected engagement of each candidate shown alone: P(click | {i}) * E[min(e, duration)].

        E[min(e, d)] for log-normal e is exact in closed form:
        exp(mu + s^2/2) Phi((ln d - mu - s^2) / s) + d (1 - Phi((ln d - mu) / s)).
        """
        satisfaction = self.satisfaction(state)
        clickbait = self.clickbait.index_select(0, items.reshape(-1)).view_as(items)
        click_logit = self._click_logits(clickbait, satisfaction)
        click_probability = torch.sigmoid(click_logit - per_user_column(self.params.no_click_logit))
        mean, std = self._log_engagement_moments(clickbait, satisfaction)
        log_duration = torch.log(self.catalog.duration.index_select(0, items.reshape(-1)).view_as(items))
        std = std.clamp_min(1e-6)
        normal = torch.distributions.Normal(0.0, 1.0)
        below = torch.exp(mean + std**2 / 2) * normal.cdf((log_duration - mean - std**2) / std)
        capped = torch.exp(log_duration) * (1.0 - normal.cdf((log_duration - mean) / std))
        return click_probability * (below + capped)


def generate_clickbait(num_items: int, seed: int) -> torch.Tensor:
    """Clickbait levels ~ U[0, 1) per item, as RecSim's LTSDocumentSampler, from their own seed."""
    generator = torch.Generator().manual_seed(seed + 7919)
    return torch.rand(num_items, generator=generator)


def make_simulator(
    num_items: int = 10_000,
    num_topics: int = 10,
    catalog_seed: int = 0,
    duration: float = 100.0,
    **params: ParamLike,
) -> LongTermSatisfactionUser:
    """The registered factory: a generated catalog with clickbait levels; other kwargs are params.

    ``duration`` (minutes) caps each engagement, as RecSim clips its response to [0, 100].
    """
    user_params = build_params(
        LongTermSatisfactionParams,
        params,
        "recgym/LongTermSatisfaction-v0",
        "num_items, num_topics, catalog_seed, duration",
    )
    catalog = Catalog.generate(num_items=num_items, num_topics=num_topics, seed=catalog_seed, duration=duration)
    clickbait = generate_clickbait(num_items, catalog_seed)
    return LongTermSatisfactionUser(catalog, clickbait, user_params)
