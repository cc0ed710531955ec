"""Users who tire of repeated topics and differ in how much they seek novelty, over many sessions.

Two forces pull a recommender in opposite directions. **Boredom** b [B, T] (SARDINE's
temporary loss of interest, smoothed): every item of a topic shown adds to the user's
boredom with it, a consumed one more, and boredom decays each step and over the days
between sessions; a bored topic's score drops by ``boredom_penalty * b``. **Novelty
seeking** (the static and dynamic novelty-seeking intent of the hierarchical-RL work):
each user has a hidden novelty level n in (0, 1) and, each session, a propensity p drawn
around it; familiarity f [B, T] is an exponential moving average of the topics consumed,
an item's novelty is 1 - f[topic], and it adds ``novelty_weight * (p - novelty_neutral) *
novelty`` to the score. So diverse, unfamiliar slates pay off for novelty seekers and cost
with routine-loving users, and the same topic over and over loses everyone in the end.

Choice is a multinomial logit with a no-click option over score = interest_weight *
u[topic] + quality_weight * quality + novelty bonus - boredom penalty; a click watches
``sigmoid(watch_sharpness * score)`` of the item. Satisfaction (an EMA of the watched
fraction, 0 without a click) drives ``simulators.retention``: unhappy users leave sooner
and come back later. Equations and defaults: docs/fatigue_novelty.md.
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
    UNIT,
    UNIT_OPEN,
    UNIT_OPEN_LOW,
    FeatureSpec,
    ParamLike,
    bounded,
    build_params,
    per_user_column,
)
from recgym.core.state import TensorState
from simulators.retention import (
    RetentionParams,
    SessionState,
    SessionUser,
    advance_sessions,
)

# Random streams, folded into the per-user keys.
_INTEREST_STREAM, _NOVELTY_STREAM, _PROPENSITY_STREAM, _STEP_STREAM = 1, 2, 3, 4


@dataclasses.dataclass(frozen=True)
class FatigueNoveltyParams(RetentionParams):
    """User-model parameters; each a float or a per-user tensor [B]."""

    horizon_days: ParamLike = bounded(60.0, POSITIVE)
    """Episode length in simulated days (a few hundred steps for an average policy)."""
    interest_weight: ParamLike = bounded(2.0, NON_NEGATIVE)
    """Score per unit of topic interest u in [-1, 1]."""
    quality_weight: ParamLike = 0.3
    """Score per unit of item quality."""
    no_click_score: ParamLike = 1.0
    """Score of not clicking, in the multinomial logit."""
    temperature: ParamLike = bounded(1.0, POSITIVE)
    """Softmax temperature of the choice."""
    watch_sharpness: ParamLike = bounded(1.0, POSITIVE)
    """Watched fraction of a clicked item = sigmoid(watch_sharpness * score)."""
    boredom_exposure: ParamLike = bounded(0.1, NON_NEGATIVE)
    """Boredom added to a topic per shown item of it."""
    boredom_consume: ParamLike = bounded(0.4, NON_NEGATIVE)
    """Boredom added on top of ``boredom_exposure`` when the item is consumed (clicked)."""
    boredom_decay: ParamLike = bounded(0.85, UNIT_OPEN_LOW)
    """Share of boredom kept from one step to the next, in (0, 1]."""
    boredom_daily_decay: ParamLike = bounded(0.3, UNIT_OPEN_LOW)
    """Share of boredom kept per day away between sessions, in (0, 1]: b *= decay ** gap_days."""
    boredom_penalty: ParamLike = bounded(1.5, NON_NEGATIVE)
    """Score lost per unit of boredom with the item's topic."""
    familiarity_rate: ParamLike = bounded(0.1, UNIT_OPEN_LOW)
    """Step of the familiarity EMA towards the consumed topic's one-hot, in (0, 1]."""
    initial_familiarity: ParamLike = bounded(0.5, UNIT)
    """Starting familiarity = initial_familiarity * (u + 1) / 2: users know what they like, in [0, 1]."""
    novelty_level_median: ParamLike = bounded(0.5, UNIT_OPEN)
    """Median of the static novelty level n ~ sigmoid(logit(median) + spread * N(0, 1)), in (0, 1)."""
    novelty_level_spread: ParamLike = bounded(1.5, NON_NEGATIVE)
    """Standard deviation of the static novelty level in logit space; 0 gives every user the median."""
    propensity_noise: ParamLike = bounded(0.5, NON_NEGATIVE)
    """Session propensity p = sigmoid(logit(n) + propensity_noise * Logistic(0, 1)), redrawn each session."""
    novelty_weight: ParamLike = bounded(4.0, NON_NEGATIVE)
    """Score per unit of (p - novelty_neutral) * novelty."""
    novelty_neutral: ParamLike = bounded(0.5, UNIT)
    """Propensity at which novelty neither helps nor hurts, in [0, 1]."""
    satisfaction_rate: ParamLike = bounded(0.2, UNIT_OPEN_LOW)
    """Step of the satisfaction EMA towards this step's watched fraction (0 without a click), in (0, 1]."""
    initial_satisfaction: ParamLike = bounded(0.5, UNIT)
    """Satisfaction of a fresh user, in [0, 1]."""


@dataclasses.dataclass(frozen=True)
class FatigueNoveltyState(TensorState):
    """Hidden per-user state; only ``session`` is ever observed."""

    interests: torch.Tensor
    """Static topic interests u in [-1, 1], float [B, T]."""
    boredom: torch.Tensor
    """Boredom with each topic, >= 0, float [B, T]."""
    familiarity: torch.Tensor
    """EMA of consumed topics, in [0, 1], float [B, T]."""
    novelty_level: torch.Tensor
    """Static novelty-seeking level n in (0, 1), float [B]."""
    propensity: torch.Tensor
    """This session's novelty-seeking propensity p in (0, 1), float [B]."""
    satisfaction: torch.Tensor
    """EMA of watched fractions, in [0, 1], float [B]."""
    session: SessionState
    """Simulated clock and session counters."""


class FatigueNoveltyUser(SessionUser):
    """The batched fatigue-and-novelty user over a ``Catalog``; see the module docstring."""

    def __init__(self, catalog: Catalog, params: FatigueNoveltyParams | None = None) -> None:
        self.catalog = catalog
        self.params = params or FatigueNoveltyParams()
        self.params.check()

    def to(self, device: torch.device | str) -> Self:
        return type(self)(self.catalog.to(device), self.params.to(device))

    # -- model pieces -----------------------------------------------------------------------
    def _scores(self, state: FatigueNoveltyState, topics: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        """Attractiveness of items with ``topics``/``quality`` [B, K] for each user, [B, K]."""
        params = self.params
        novelty = 1.0 - state.familiarity.gather(1, topics)
        novelty_gain = per_user_column(params.novelty_weight * (state.propensity - params.novelty_neutral))
        return (
            per_user_column(params.interest_weight) * state.interests.gather(1, topics)
            + per_user_column(params.quality_weight) * quality
            + novelty_gain * novelty
            - per_user_column(params.boredom_penalty) * state.boredom.gather(1, topics)
        )

    @staticmethod
    def _propensity(novelty_level: torch.Tensor, noise: ParamLike, uniforms: torch.Tensor) -> torch.Tensor:
        """A session's propensity from uniforms [B]: the static level jittered in logit space, [B].

        Logistic noise (logit of a uniform) costs one uniform where a normal costs two.
        """
        return torch.sigmoid(torch.logit(novelty_level) + noise * torch.logit(uniforms, eps=1e-6))

    # -- protocol ----------------------------------------------------------------------------
    def reset(self, keys: torch.Tensor, users: torch.Tensor | None = None) -> FatigueNoveltyState:
        """Uniform interests, no boredom, familiarity with liked topics, a logit-normal novelty level."""
        params = self.params.take(users)
        num_users, device = keys.shape[0], keys.device
        interests = 2.0 * random.uniform(random.fold_in(keys, _INTEREST_STREAM), (self.catalog.num_topics,)) - 1.0
        median = torch.zeros(num_users, device=device) + params.novelty_level_median
        novelty_level = torch.sigmoid(
            torch.logit(median) + params.novelty_level_spread * random.normal(random.fold_in(keys, _NOVELTY_STREAM))
        ).clamp(1e-4, 1.0 - 1e-4)  # float32 sigmoid saturates; logit must stay finite
        return FatigueNoveltyState(
            interests=interests,
            boredom=torch.zeros_like(interests),
            familiarity=per_user_column(params.initial_familiarity) * 0.5 * (interests + 1.0),
            novelty_level=novelty_level,
            propensity=self._propensity(
                novelty_level, params.propensity_noise, random.uniform(random.fold_in(keys, _PROPENSITY_STREAM))
            ),
            satisfaction=torch.zeros(num_users, device=device) + params.initial_satisfaction,
            session=SessionState.start(num_users, device),
        )

    def step(
        self, state: FatigueNoveltyState, slate_items: torch.Tensor, keys: torch.Tensor
    ) -> tuple[FatigueNoveltyState, Response]:
        params = self.params
        topics = self.catalog.lookup("topic", slate_items)
        scores = self._scores(state, topics, self.catalog.lookup("quality", slate_items))
        probabilities = MultinomialLogit(params.no_click_score, params.temperature).probabilities(scores)
        # One stream, two uniforms per user: the choice, and the propensity of a session that may start next.
        uniforms = random.uniform(random.fold_in(keys, _STEP_STREAM), (2,))
        choice = sample_choice(probabilities, uniforms[:, 0])
        clicked_any = choice >= 0
        position = choice.clamp_min(0).unsqueeze(1)
        chosen_item = slate_items.gather(1, position).squeeze(1)
        fraction = torch.sigmoid(params.watch_sharpness * scores.gather(1, position).squeeze(1)) * clicked_any
        watch = self.catalog.lookup("duration", chosen_item) * fraction

        satisfaction = state.satisfaction + params.satisfaction_rate * (fraction - state.satisfaction)
        session, events = advance_sessions(state.session, satisfaction, params, keys)

        # Boredom: decay, exposure (+ consumption), then the days away (the gap is 0 unless the session ended).
        away = torch.pow(params.boredom_daily_decay, events.return_gap).unsqueeze(1)
        clicked_positions = torch.arange(slate_items.shape[1], device=choice.device) == choice.unsqueeze(1)
        added = per_user_column(params.boredom_exposure) + per_user_column(params.boredom_consume) * clicked_positions
        boredom = (state.boredom * (per_user_column(params.boredom_decay) * away)).scatter_add_(1, topics, added * away)

        rate = (params.familiarity_rate * clicked_any).unsqueeze(1)
        familiarity = (state.familiarity * (1.0 - rate)).scatter_add_(1, topics.gather(1, position), rate)

        fresh_propensity = self._propensity(state.novelty_level, params.propensity_noise, uniforms[:, 1])
        next_state = FatigueNoveltyState(
            interests=state.interests,
            boredom=boredom,
            familiarity=familiarity,
            novelty_level=state.novelty_level,
            propensity=torch.where(events.left, fresh_propensity, state.propensity),
            satisfaction=satisfaction,
            session=session,
        )
        response = Response.from_choice(
            choice,
            slate_items.shape[1],
            watch,
            left=events.left,
            return_gap=events.return_gap,
            returned=events.returned,
        )
        return next_state, response

    def item_features(self, items: torch.Tensor) -> torch.Tensor:
        return self.catalog.lookup("embedding", items)

    def item_feature_spec(self) -> FeatureSpec:
        embedding = self.catalog.embedding
        return FeatureSpec((self.catalog.feature_dim,), float(embedding.min()), float(embedding.max()))

    def expected_reward(self, state: FatigueNoveltyState, items: torch.Tensor) -> torch.Tensor:
        """Expected watch time of each candidate shown alone, [B, C]: sigmoid((s - s0) / t) * duration * sigmoid(w s).

        With one item the logit choice is a sigmoid of the score against the no-click score.
        """
        params = self.params
        scores = self._scores(state, self.catalog.lookup("topic", items), self.catalog.lookup("quality", items))
        click = torch.sigmoid((scores - per_user_column(params.no_click_score)) / per_user_column(params.temperature))
        fraction = torch.sigmoid(per_user_column(params.watch_sharpness) * scores)
        return click * fraction * self.catalog.lookup("duration", items)


def make_simulator(
    num_items: int = 10_000, num_topics: int = 20, catalog_seed: int = 0, **params: ParamLike
) -> FatigueNoveltyUser:
    """The registered factory: a generated catalog and a user model; other kwargs are params."""
    user_params = build_params(
        FatigueNoveltyParams, params, "recgym/FatigueNovelty-v0", "num_items, num_topics, catalog_seed"
    )
    catalog = Catalog.generate(num_items=num_items, num_topics=num_topics, seed=catalog_seed)
    return FatigueNoveltyUser(catalog, user_params)
