"""Baselines every learned policy must beat: random, most popular, myopic greedy."""

from __future__ import annotations

from typing import Any

import torch

from policies.base import ScoringPolicy, history_profile
from recgym.core.registry import register_policy
from recgym.core.response import Response
from recgym.errors import ConfigError


@register_policy("random", kind="static", description="uniformly random slates")
class RandomPolicy(ScoringPolicy):
    """K distinct candidates uniformly at random."""

    tie_break_scale = 1.0

    def scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.zeros_like(observation["candidate_features"][..., 0])


@register_policy(
    "most_popular",
    kind="online",
    description="ranks by clicks counted online",
    provides=("num_items", "slate_size", "seed"),
)
class MostPopularPolicy(ScoringPolicy):
    """Candidates ranked by how often the whole population has clicked them so far.

    Popularity is learned online from responses (``update``), as a production
    most-popular ranker counts interactions; it starts knowing nothing.
    """

    def __init__(self, num_items: int, slate_size: int, seed: int = 0) -> None:
        if num_items <= 0:
            raise ConfigError(f"num_items must be positive; got {num_items}.")
        super().__init__(slate_size, seed)
        self.num_items = num_items
        self.click_counts = torch.zeros(num_items)

    def _counts_on(self, device: torch.device) -> torch.Tensor:
        if self.click_counts.device != device:
            self.click_counts = self.click_counts.to(device)
        return self.click_counts

    def scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        candidate_ids = observation["candidate_ids"]
        return self._counts_on(candidate_ids.device)[candidate_ids]

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        shown = observation["candidate_ids"].gather(1, slate)
        counts = self._counts_on(shown.device)
        counts.index_add_(0, shown.reshape(-1), response.clicked.reshape(-1).to(counts.dtype))

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"click_counts": self.click_counts.cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.click_counts = state["click_counts"].clone()


@register_policy(
    "myopic_greedy", kind="static", description="ranks candidates by the watch-weighted profile of the history"
)
class MyopicGreedyPolicy(ScoringPolicy):
    """Candidates ranked by similarity to what the user watched recently.

    The user profile is the watch-time-weighted mean of the features of recently clicked
    items in the visible history; each candidate scores its dot product with it. Myopic by
    design: it exploits revealed taste and never plans for the session's future.
    """

    def scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.einsum("bcf,bf->bc", observation["candidate_features"], history_profile(observation))


class FixedLinearPolicy(ScoringPolicy):
    """Candidates ranked by a fixed weight vector over their features ``weights [F]``.

    A stand-in for a deployed production ranker: its slate depends on the candidates alone,
    which makes it a clean logging or target policy for off-policy evaluation.
    """

    def __init__(self, weights: torch.Tensor, slate_size: int, seed: int = 0) -> None:
        if weights.dim() != 1:
            raise ConfigError(f"weights must be a vector [F]; got shape {tuple(weights.shape)}.")
        super().__init__(slate_size, seed)
        self.weights = weights

    def scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        features = observation["candidate_features"]
        return features @ self.weights.to(features.device)


@register_policy(
    "oracle_greedy",
    kind="static",
    description="top-K by the simulator's true expected reward (reads hidden state)",
    provides=("env", "seed"),
    reads_hidden_state=True,
)
class OracleGreedyPolicy(ScoringPolicy):
    """Top K by the simulator's true expected reward: the myopic ceiling, zero one-step regret by construction.

    Reads ``env.expected_reward()`` (the oracle), so it is a yardstick for regret and for
    long-term policies, never a deployable recommender.
    """

    def __init__(self, env: Any, seed: int = 0) -> None:
        super().__init__(env.slate_size, seed)
        self.env = env

    def scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.env.expected_reward()
