"""What every bandit shares: which reward it learns from, which slate positions count as seen, and
the linear-model plumbing (contexts, lazy model, per-item score cache) of the linear bandits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from policies.bandits.contexts import ContextMap, make_context
from policies.bandits.ridge import RidgeRegression
from policies.base import ScoringPolicy
from recgym.core.response import Response
from recgym.errors import ConfigError

REWARD_SIGNALS = ("clicked", "watch_time", "liked", "shared", "followed")
FEEDBACK_MODELS = ("independent", "cascade")


CandidateScorer = Callable[[RidgeRegression, torch.Tensor], torch.Tensor]
"""(model, contexts [..., d]) -> a score per context [...]."""


class BanditPolicy(ScoringPolicy):
    """A scoring policy that learns online from per-position feedback.

    ``reward_signal`` names the ``Response`` field each shown item is rewarded by.
    ``feedback`` says which positions were seen: "independent" (all of them; the user
    examined the whole slate) or "cascade" (positions up to the first click; under the
    cascade model items below a click were never examined, so they are not negatives).
    ``reset_users(mask)`` forgets what per-user state belongs to users that were replaced.
    """

    per_user_tie_breaks = False

    def __init__(
        self, slate_size: int, reward_signal: str = "clicked", feedback: str = "independent", seed: int = 0
    ) -> None:
        if reward_signal not in REWARD_SIGNALS:
            raise ConfigError(f"Unknown reward_signal {reward_signal!r}; use one of {REWARD_SIGNALS}.")
        if feedback not in FEEDBACK_MODELS:
            raise ConfigError(f"Unknown feedback {feedback!r}; use one of {FEEDBACK_MODELS}.")
        if slate_size <= 0:
            raise ConfigError(f"slate_size must be positive; got {slate_size}.")
        super().__init__(slate_size, seed)
        self.reward_signal = reward_signal
        self.feedback = feedback

    def item_rewards(self, response: Response) -> torch.Tensor:
        """Reward of each shown item, float [B, K]."""
        return getattr(response, self.reward_signal).to(torch.float32)

    def observed_positions(self, response: Response) -> torch.Tensor:
        """Which slate positions the user examined, bool [B, K]."""
        slate_size = response.clicked.shape[1]
        if self.feedback == "independent":
            return torch.ones_like(response.clicked, dtype=torch.bool)
        last_seen = torch.where(response.choice >= 0, response.choice, torch.full_like(response.choice, slate_size - 1))
        return torch.arange(slate_size, device=last_seen.device) <= last_seen.unsqueeze(1)

    def reset_users(self, mask: torch.Tensor) -> None:
        """Forget per-user state of the users where ``mask [B]`` is true (a new user took the row)."""

    def learned_state(self) -> dict[str, Any]:
        """What the bandit has learned (its model), for ``state_dict``."""
        return {}

    def load_learned_state(self, state: dict[str, Any]) -> None:
        """Inverse of ``learned_state``."""

    def state_dict(self) -> dict[str, Any]:
        return {"learned": self.learned_state(), "rng": self.rng_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.load_learned_state(state["learned"])
        self.load_rng_state(state["rng"])


class LinearBandit(BanditPolicy):
    """Base of the bandits that regress reward on contexts with ``RidgeRegression``.

    The model is built on the first observation (its context width, batch size and device).
    With a shared model, item-only contexts and the catalog's ``item_features [N, F]``,
    the per-item mean and variance are computed once per update for the whole catalog and
    looked up by candidate id, instead of once per (user, candidate) pair: what a serving
    system does, and several times faster when N is below B x C.
    """

    def __init__(
        self,
        slate_size: int,
        context: str | ContextMap = "candidate",
        per_user: bool = False,
        regularization: float = 1.0,
        diagonal: bool = False,
        fit_intercept: bool = True,
        item_features: torch.Tensor | None = None,
        refresh_every: int = 64,
        reward_signal: str = "clicked",
        feedback: str = "independent",
        seed: int = 0,
    ) -> None:
        super().__init__(slate_size, reward_signal, feedback, seed)
        self.context = make_context(context, fit_intercept)
        self.per_user = per_user
        self.regularization = regularization
        self.diagonal = diagonal
        self.refresh_every = refresh_every
        if item_features is not None and item_features.dim() != 2:
            raise ConfigError(f"item_features must be [num_items, F]; got shape {tuple(item_features.shape)}.")
        self.item_features = item_features
        self.model: RidgeRegression | None = None
        self._item_scores: dict[str, torch.Tensor] = {}

    @property
    def uses_item_cache(self) -> bool:
        return self.item_features is not None and self.context.item_only and not self.per_user

    def _model_for(self, contexts: torch.Tensor) -> RidgeRegression:
        if self.model is None:
            self.model = RidgeRegression(
                num_features=contexts.shape[-1],
                num_models=contexts.shape[0] if self.per_user else 1,
                regularization=self.regularization,
                diagonal=self.diagonal,
                refresh_every=self.refresh_every,
                device=contexts.device,
            )
        elif self.model.device != contexts.device:
            self.model.to(contexts.device)
        return self.model

    def _item_contexts(self, device: torch.device) -> torch.Tensor:
        assert self.item_features is not None
        if self.item_features.device != device:
            self.item_features = self.item_features.to(device)
        return self.context.of_items(self.item_features)

    def score_candidates(
        self, observation: dict[str, torch.Tensor], name: str, scorer: CandidateScorer
    ) -> torch.Tensor:
        """``scorer`` applied to every candidate of every user, [B, C].

        With the item cache the scorer runs once per catalog item per update (memoised under
        ``name``) and candidates are looked up by id.
        """
        if self.uses_item_cache:
            ids = observation["candidate_ids"]
            if name not in self._item_scores:
                item_contexts = self._item_contexts(ids.device)
                self._item_scores[name] = scorer(self._model_for(item_contexts.unsqueeze(0)), item_contexts)
            return self._item_scores[name].index_select(0, ids.reshape(-1)).view(ids.shape)
        contexts = self.context(observation)
        return scorer(self._model_for(contexts), contexts)

    def mean_scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Posterior mean reward of each candidate for each user, [B, C]."""
        return self.score_candidates(observation, "mean", lambda model, contexts: model.mean(contexts))

    def shown_contexts(self, observation: dict[str, torch.Tensor], slate: torch.Tensor) -> torch.Tensor:
        """Contexts of the shown items [B, K, d]."""
        if self.uses_item_cache:
            shown_ids = observation["candidate_ids"].gather(1, slate)
            return (
                self._item_contexts(shown_ids.device).index_select(0, shown_ids.reshape(-1)).view(*shown_ids.shape, -1)
            )
        shown_features = {
            name: value.gather(1, slate.unsqueeze(-1).expand(-1, -1, value.shape[-1]))
            if name == "candidate_features"
            else value
            for name, value in observation.items()
        }
        return self.context(shown_features)

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        contexts = self.shown_contexts(observation, slate)
        self._model_for(contexts).update(contexts, self.item_rewards(response), self.observed_positions(response))
        self._item_scores = {}

    def reset_users(self, mask: torch.Tensor) -> None:
        if self.per_user and self.model is not None:
            self.model.reset_models(mask.nonzero().squeeze(1))

    def learned_state(self) -> dict[str, Any]:
        return {"model": None if self.model is None else self.model.state_dict()}

    def load_learned_state(self, state: dict[str, Any]) -> None:
        saved = state["model"]
        if saved is None:
            self.model = None
            return
        precision = saved["precision"]
        num_models, num_features = precision.shape[0], precision.shape[1]
        self.model = RidgeRegression(
            num_features, num_models, self.regularization, self.diagonal, self.refresh_every, device="cpu"
        )
        self.model.load_state_dict(saved)
        self._item_scores = {}
