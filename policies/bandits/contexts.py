"""Context maps: the feature vector a linear bandit regresses reward on, per user and candidate.

A context map turns the env's observation into x [B, C, d]. ``item_only`` says whether x
depends on the candidate alone (not the user): then a model shared by all users gives each
item one score, so a policy can score the catalog once per update and look scores up by id.
"""

from __future__ import annotations

from typing import Protocol

import torch

from policies.base import history_profile
from recgym.errors import ConfigError


class ContextMap(Protocol):
    """Observation dict of [B, ...] tensors -> contexts [B, C, d]."""

    item_only: bool

    def __call__(self, observation: dict[str, torch.Tensor]) -> torch.Tensor: ...

    def of_items(self, item_features: torch.Tensor) -> torch.Tensor:
        """Contexts [N, d] of items with features [N, F] (item-only maps)."""
        ...


def _with_intercept(features: torch.Tensor, fit_intercept: bool) -> torch.Tensor:
    if not fit_intercept:
        return features
    return torch.cat([features, torch.ones_like(features[..., :1])], dim=-1)


class CandidateContext:
    """The candidate's visible features (plus a constant 1 for an intercept): one model for every user."""

    item_only = True

    def __init__(self, fit_intercept: bool = True) -> None:
        self.fit_intercept = fit_intercept

    def __call__(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        return _with_intercept(observation["candidate_features"], self.fit_intercept)

    def of_items(self, item_features: torch.Tensor) -> torch.Tensor:
        return _with_intercept(item_features, self.fit_intercept)


class ProfileInteractionContext:
    """[x, x * profile, 1]: candidate features and their match with the user's watched-item profile.

    Lets one shared linear model personalise: the weight on ``x * profile`` learns how much
    users like items resembling what they watched (the myopic-greedy signal), the weight on
    ``x`` which items everyone likes.
    """

    item_only = False

    def __init__(self, fit_intercept: bool = True) -> None:
        self.fit_intercept = fit_intercept

    def __call__(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        candidates = observation["candidate_features"]
        interaction = candidates * history_profile(observation).unsqueeze(1)
        return _with_intercept(torch.cat([candidates, interaction], dim=-1), self.fit_intercept)

    def of_items(self, item_features: torch.Tensor) -> torch.Tensor:
        raise TypeError("ProfileInteractionContext depends on the user; it has no per-item contexts.")


def make_context(context: str | ContextMap, fit_intercept: bool = True) -> ContextMap:
    """A context map from its name ('candidate', 'profile_interaction') or an instance."""
    if not isinstance(context, str):
        return context
    if context == "candidate":
        return CandidateContext(fit_intercept)
    if context == "profile_interaction":
        return ProfileInteractionContext(fit_intercept)
    raise ConfigError(f"Unknown context {context!r}; use 'candidate', 'profile_interaction' or a ContextMap instance.")
