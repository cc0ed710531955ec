"""The Policy protocol and the score-then-slate helper that baselines share."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from policies.artefacts import SaveablePolicy
from recgym.core.random import DeviceGenerators
from recgym.core.response import Response
from recgym.core.slate import top_k_slate


@runtime_checkable
class Policy(Protocol):
    """Chooses slates for a batch of users and, if it learns online, learns from responses.

    ``act`` takes the env's observation dict of [B, ...] tensors and returns positions
    [B, K]; ``update`` receives what that slate produced. Stateless policies implement
    ``update`` as a no-op and an empty ``state_dict``.
    """

    slate_size: int

    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor: ...

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def history_profile(observation: dict[str, torch.Tensor]) -> torch.Tensor:
    """The user's taste as revealed so far, [B, F]: watch-time-weighted mean of recently clicked items' features."""
    weights = observation["history_watch_time"] * observation["history_clicked"]
    profile = (observation["history_features"] * weights.unsqueeze(-1)).sum(dim=1)
    return profile / weights.sum(dim=1, keepdim=True).clamp_min(1e-6)


class ScoringPolicy(SaveablePolicy):
    """Base for policies that score every candidate and show the top K, ties broken at random.

    The tie-break noise comes from a seeded generator on the observation's device, so a
    seeded policy is reproducible and, without information, ranks uniformly at random.
    """

    tie_break_scale = 1e-6
    per_user_tie_breaks = True
    """False: one random tie-break row per step shared by all users (a [1, C] draw instead of [B, C]).
    Enough where exact ties are rare and candidate positions are exchangeable, as they are
    for every sampler recgym ships (candidates are drawn independently)."""

    def __init__(self, slate_size: int, seed: int = 0) -> None:
        self.slate_size = slate_size
        self.seed = seed
        self.generators = DeviceGenerators(seed)

    def _noise(self, like: torch.Tensor) -> torch.Tensor:
        return torch.rand(like.shape, generator=self.generators.on(like.device), device=like.device)

    def rng_state(self) -> dict[str, torch.Tensor]:
        """The tie-break generators' states by device, so a restored policy continues identically."""
        return self.generators.state_dict()

    def load_rng_state(self, states: dict[str, torch.Tensor]) -> None:
        self.generators.load_state_dict(states)

    def scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Score of each candidate for each user, [B, C]."""
        raise NotImplementedError

    def slate_from_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """Top-K of ``scores [B, C]`` with seeded random tie-breaks, best first, [B, K]."""
        noise = self._noise(scores if self.per_user_tie_breaks else scores[:1])
        return top_k_slate(scores + self.tie_break_scale * noise, self.slate_size)

    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        return self.slate_from_scores(self.scores(observation))

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        """Stateless by default."""

    def state_dict(self) -> dict[str, Any]:
        """The tie-break generators; a policy that learns adds what it learned."""
        return {"rng": self.rng_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.load_rng_state(state.get("rng", {}))
