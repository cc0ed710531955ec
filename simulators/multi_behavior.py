"""Multi-behaviour feedback with leave-and-return retention, KuaiSim-style, batched on torch.

A feed user examines the slate top to bottom (position bias), and each examined item
gets one latent appeal z = scale * <u, v> + quality + mood, where u is the user's hidden
interest vector, v the item's visible content vector and mood a per-step shock shared by
the whole slate. Every behaviour is read off the same z, so they are coherent: click
(else skip), the watched fraction of the item (lower for long items), and, given a click,
like, share and follow with rising thresholds. Watch time is fraction x duration, but
satisfaction follows what the user finished and liked: long items raise minutes now and
cost satisfaction later. What the user got from the slate updates a hidden satisfaction,
which drives the leave model and the gap until the next session (``simulators.retention``);
an episode spans ``horizon_days`` of sessions. Watched items pull the interest vector
towards themselves.

It follows KuaiSim (Zhao et al., 2023): multi-behaviour immediate feedback, a leave
module and a return-time module across sessions; here from a hand-set latent model rather
than one trained on KuaiRand logs, so every quantity has a closed form and an oracle.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self

import numpy as np
import torch

from recgym.core import random
from recgym.core.catalog import Catalog
from recgym.core.response import Response
from recgym.core.simulator import (
    NON_NEGATIVE,
    POSITIVE,
    UNIT,
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

_RETENTION_STREAM = 3
_NUM_BEHAVIOUR_DRAWS = 5  # examine, click, like, share, follow
_HERMITE_NODES, _HERMITE_WEIGHTS = np.polynomial.hermite_e.hermegauss(12)
_MIN_DURATION, _MAX_DURATION = 1.0, 10.0
_MID_DURATION, _HALF_DURATION_RANGE = (_MIN_DURATION + _MAX_DURATION) / 2, (_MAX_DURATION - _MIN_DURATION) / 2


@dataclasses.dataclass(frozen=True)
class MultiBehaviorParams(RetentionParams):
    """User-model parameters; each a float or a per-user tensor [B]."""

    affinity_scale: ParamLike = bounded(3.0, NON_NEGATIVE)
    """Weight of interest-content similarity <u, v> (both unit vectors) in the appeal z."""
    quality_weight: ParamLike = 1.0
    """Weight of the item's hidden quality in z."""
    mood_std: ParamLike = bounded(0.5, NON_NEGATIVE)
    """Std of the per-step mood shared by every item and behaviour: makes behaviours correlated."""
    position_decay: ParamLike = bounded(0.85, UNIT)
    """Probability of examining position k is position_decay**k."""
    click_bias: ParamLike = -0.5
    """P(click | examined) = sigmoid(click_bias + z)."""
    watch_bias: ParamLike = 0.0
    """Watched fraction of a clicked item = sigmoid(watch_bias + watch_scale * z - length_penalty * length)."""
    watch_scale: ParamLike = bounded(1.0, NON_NEGATIVE)
    length_penalty: ParamLike = bounded(2.0, NON_NEGATIVE)
    """Completion drop for long items; ``length`` is the duration rescaled to [-1, 1] over 1-10 minutes.
    Long items pay more minutes but are finished less often, and satisfaction follows completion:
    the watch-time vs satisfaction tension that makes a watch-time-greedy policy lose users."""
    like_bias: ParamLike = -2.0
    """P(like | click) = sigmoid(like_bias + engagement_scale * z); share and follow alike."""
    share_bias: ParamLike = -3.5
    follow_bias: ParamLike = -4.5
    engagement_scale: ParamLike = bounded(1.5, NON_NEGATIVE)
    skip_penalty: ParamLike = bounded(0.5, NON_NEGATIVE)
    """Dissatisfaction from each examined-but-skipped item."""
    satisfaction_memory: ParamLike = bounded(0.8, UNIT)
    """Satisfaction' = memory * satisfaction + (1 - memory) * this step's outcome."""
    satisfaction_gain: ParamLike = 4.0
    """Step outcome = sigmoid(gain * (value - reference)), value per shown item."""
    satisfaction_reference: ParamLike = 0.5
    """Per-item value at which a step leaves satisfaction at 0.5."""
    interest_drift: ParamLike = bounded(0.05, UNIT)
    """How far watched items pull the interest vector towards their content."""
    horizon_days: ParamLike = bounded(14.0, POSITIVE)


@dataclasses.dataclass(frozen=True)
class MultiBehaviorState(TensorState):
    """Hidden per-user state."""

    interest: torch.Tensor
    """Unit interest vector in the item content space, float [B, D]."""
    satisfaction: torch.Tensor
    """In [0, 1]; drives leaving and returning, float [B]."""
    session: SessionState


class MultiBehaviorUser(SessionUser):
    """The batched multi-behaviour feed user over a catalog whose embeddings are unit content vectors.

    Args:
        catalog: items; ``embedding`` rows are unit vectors (visible), ``quality`` is hidden.
        topic_centroids: [T, D] unit vectors; new users' interests are drawn around one of them.
        params: ``MultiBehaviorParams``.
        interest_noise: spread of a new user's interest around its topic centroid.
    """

    def __init__(
        self,
        catalog: Catalog,
        topic_centroids: torch.Tensor,
        params: MultiBehaviorParams | None = None,
        interest_noise: float = 0.6,
    ) -> None:
        if topic_centroids.shape != (catalog.num_topics, catalog.feature_dim):
            raise ConfigError(
                f"topic_centroids must have shape ({catalog.num_topics}, {catalog.feature_dim}), one unit vector "
                f"per topic in the item embedding space; got {tuple(topic_centroids.shape)}."
            )
        if interest_noise < 0:
            raise ConfigError(f"interest_noise must be >= 0; got {interest_noise}.")
        self.catalog = catalog
        self.topic_centroids = topic_centroids
        self.params = params or MultiBehaviorParams()
        self.params.check()
        self.interest_noise = interest_noise
        length = (catalog.duration - _MID_DURATION) / _HALF_DURATION_RANGE
        self._features = torch.cat([catalog.embedding, length.unsqueeze(1)], dim=1)

    def to(self, device: torch.device | str) -> Self:
        return type(self)(
            self.catalog.to(device), self.topic_centroids.to(device), self.params.to(device), self.interest_noise
        )

    # -- model pieces --------------------------------------------------------------------------
    def _appeal(self, interest: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Appeal without mood: scale * <u, v> + quality_weight * quality, [B, n]."""
        content = self.catalog.lookup("embedding", items)
        similarity = torch.bmm(content, interest.unsqueeze(2)).squeeze(2)
        quality = self.catalog.lookup("quality", items)
        return (
            per_user_column(self.params.affinity_scale) * similarity
            + per_user_column(self.params.quality_weight) * quality
        )

    def _watched_fraction(self, appeal: torch.Tensor, duration: torch.Tensor, user: Any) -> torch.Tensor:
        """sigmoid(watch_bias + watch_scale * z - length_penalty * length); ``user`` shapes per-user params."""
        params = self.params
        length = (duration - _MID_DURATION) / _HALF_DURATION_RANGE
        return torch.sigmoid(
            user(params.watch_bias) + user(params.watch_scale) * appeal - user(params.length_penalty) * length
        )

    def _examine_probability(self, slate_size: int, device: torch.device) -> torch.Tensor:
        exponents = torch.arange(slate_size, dtype=torch.float32, device=device)
        decay = self.params.position_decay
        if isinstance(decay, torch.Tensor):
            return decay.unsqueeze(1) ** exponents
        return (decay**exponents).unsqueeze(0)

    # -- protocol ----------------------------------------------------------------------------
    def reset(self, keys: torch.Tensor, users: torch.Tensor | None = None) -> MultiBehaviorState:
        """Interest: a random topic's centroid plus Gaussian noise, normalised; satisfaction 0.5."""
        num_users = keys.shape[0]
        topic = random.randint(random.fold_in(keys, 1), self.catalog.num_topics, (1,)).squeeze(1)
        noise = random.normal(random.fold_in(keys, 2), (self.catalog.feature_dim,))
        interest = self.topic_centroids.index_select(0, topic) + self.interest_noise * noise
        interest = interest / interest.norm(dim=1, keepdim=True).clamp_min(1e-6)
        satisfaction = torch.full((num_users,), 0.5, device=keys.device)
        return MultiBehaviorState(interest, satisfaction, SessionState.start(num_users, keys.device))

    def step(
        self, state: MultiBehaviorState, slate_items: torch.Tensor, keys: torch.Tensor
    ) -> tuple[MultiBehaviorState, Response]:
        params = self.params
        slate_size = slate_items.shape[1]
        # One hash pass for every draw of the step: five behaviours per position, then two for the mood.
        draws = random.uniform(keys, (_NUM_BEHAVIOUR_DRAWS * slate_size + 2,))
        behaviour_draws = draws[:, :-2].view(-1, _NUM_BEHAVIOUR_DRAWS, slate_size)
        examine_u, click_u, like_u, share_u, follow_u = behaviour_draws.unbind(1)
        mood = per_user_column(params.mood_std) * random.normal_from_uniforms(draws[:, -2], draws[:, -1]).unsqueeze(1)
        appeal = self._appeal(state.interest, slate_items) + mood

        examined = examine_u < self._examine_probability(slate_size, slate_items.device)
        clicked = examined & (click_u < torch.sigmoid(per_user_column(params.click_bias) + appeal))
        skipped = examined & ~clicked
        engagement = per_user_column(params.engagement_scale) * appeal
        liked = clicked & (like_u < torch.sigmoid(per_user_column(params.like_bias) + engagement))
        shared = clicked & (share_u < torch.sigmoid(per_user_column(params.share_bias) + engagement))
        followed = clicked & (follow_u < torch.sigmoid(per_user_column(params.follow_bias) + engagement))
        duration = self.catalog.lookup("duration", slate_items)
        fraction = self._watched_fraction(appeal, duration, per_user_column)
        watched = clicked * fraction
        watch_time = watched * duration

        value = watched + 0.5 * liked + shared + followed - per_user_column(params.skip_penalty) * skipped
        outcome = torch.sigmoid(params.satisfaction_gain * (value.mean(dim=1) - params.satisfaction_reference))
        satisfaction = params.satisfaction_memory * state.satisfaction + (1 - params.satisfaction_memory) * outcome

        pull = torch.bmm(watched.unsqueeze(1), self.catalog.lookup("embedding", slate_items)).squeeze(1)
        interest = state.interest + per_user_column(params.interest_drift) * pull
        interest = interest / interest.norm(dim=1, keepdim=True).clamp_min(1e-6)

        session, events = advance_sessions(state.session, satisfaction, params, random.fold_in(keys, _RETENTION_STREAM))
        any_click = clicked.any(dim=1)
        choice = torch.where(any_click, clicked.to(torch.int8).argmax(dim=1), -1)
        response = Response(
            clicked=clicked,
            watch_time=watch_time,
            liked=liked,
            shared=shared,
            followed=followed,
            skipped=skipped,
            left=events.left,
            return_gap=events.return_gap,
            choice=choice,
            returned=events.returned,
        )
        return MultiBehaviorState(interest, satisfaction, session), response

    def item_features(self, items: torch.Tensor) -> torch.Tensor:
        """Content vector followed by the item's length rescaled to [-1, 1], [..., D + 1]."""
        return self._features.index_select(0, items.reshape(-1)).view(*items.shape, self._features.shape[1])

    def item_feature_spec(self) -> FeatureSpec:
        return FeatureSpec((self._features.shape[1],), -1.0, 1.0)

    def expected_reward(self, state: MultiBehaviorState, items: torch.Tensor) -> torch.Tensor:
        """Expected watch time of each candidate shown alone (first position, always examined).

        E over the Gaussian mood of sigmoid(click) * sigmoid(watch) * duration, by 12-point
        Gauss-Hermite quadrature (error far below sampling noise).
        """
        params = self.params
        appeal = self._appeal(state.interest, items).unsqueeze(-1)
        nodes = torch.as_tensor(_HERMITE_NODES, dtype=torch.float32, device=items.device)
        weights = torch.as_tensor(_HERMITE_WEIGHTS / _HERMITE_WEIGHTS.sum(), dtype=torch.float32, device=items.device)
        mood_std = params.mood_std.view(-1, 1, 1) if isinstance(params.mood_std, torch.Tensor) else params.mood_std

        def user(value: ParamLike) -> ParamLike:
            return value.view(-1, 1, 1) if isinstance(value, torch.Tensor) else value

        duration = self.catalog.lookup("duration", items)
        z = appeal + mood_std * nodes
        joint = torch.sigmoid(user(params.click_bias) + z) * self._watched_fraction(z, duration.unsqueeze(-1), user)
        return (joint * weights).sum(dim=-1) * duration


def generate_catalog(
    num_items: int, num_topics: int, embedding_dim: int, seed: int, topic_spread: float = 0.5
) -> tuple[Catalog, torch.Tensor]:
    """Items whose unit content vectors cluster around random topic centroids; durations 1-10 min."""
    base = Catalog.generate(num_items=num_items, num_topics=num_topics, seed=seed)
    generator = torch.Generator().manual_seed(seed + 104729)
    centroids = torch.randn(num_topics, embedding_dim, generator=generator)
    centroids = centroids / centroids.norm(dim=1, keepdim=True)
    vectors = centroids[base.topic] + topic_spread * torch.randn(num_items, embedding_dim, generator=generator)
    vectors = vectors / vectors.norm(dim=1, keepdim=True)
    duration = _MIN_DURATION + (_MAX_DURATION - _MIN_DURATION) * torch.rand(num_items, generator=generator)
    quality = torch.randn(num_items, generator=generator) * 0.5
    return dataclasses.replace(base, embedding=vectors, duration=duration, quality=quality), centroids


WATCH_LIKE_CONFLICT: dict[str, float] = {
    "horizon_days": 1.0,
    "leave_base": 0.05,
    "leave_dissatisfaction": 0.0,
    "return_gap_sensitivity": 0.0,
    "length_penalty": 0.0,
    "quality_weight": 0.0,
    "engagement_scale": 4.0,
    "like_bias": -3.0,
}
"""Users whose watch time pays for long items while likes follow appeal alone, and retention ignores both:
a watch-time policy can trade likes, shares and follows away at no long-term cost (the hard case for the
two-stage constrained policy)."""


def make_simulator(
    num_items: int = 10_000,
    num_topics: int = 20,
    embedding_dim: int = 16,
    catalog_seed: int = 0,
    interest_noise: float = 0.6,
    **params: ParamLike,
) -> MultiBehaviorUser:
    """The registered factory: a generated content-vector catalog; other kwargs are params."""
    user_params = build_params(
        MultiBehaviorParams,
        params,
        "recgym/MultiBehaviorRetention-v0",
        "num_items, num_topics, embedding_dim, catalog_seed, interest_noise",
    )
    if embedding_dim <= 0:
        raise ConfigError(f"embedding_dim must be positive; got {embedding_dim}.")
    catalog, centroids = generate_catalog(num_items, num_topics, embedding_dim, catalog_seed)
    return MultiBehaviorUser(catalog, centroids, user_params, interest_noise)
