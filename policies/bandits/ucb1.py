"""UCB1 (Auer et al. 2002) over catalog items: non-contextual, for when features say nothing.

Each item's score is its mean observed reward plus sqrt(2 ln t / n); never-seen items come
first. One table serves all users (population-level popularity learning) or, with
``per_user=True``, each user has their own.
"""

from __future__ import annotations

from typing import Any

import torch

from policies.bandits.base import BanditPolicy
from policies.bandits.item_statistics import ItemStatistics
from recgym.core.registry import register_policy
from recgym.core.response import Response
from recgym.errors import ConfigError

_UNSEEN_SCORE = 1e6
"""Score of a never-observed item: above any UCB of a seen one, finite so random tie-breaks still apply."""


@register_policy("ucb1", kind="online", description="UCB1 over item ids", provides=("num_items", "slate_size", "seed"))
class UCB1(BanditPolicy):
    """Mean reward plus ``exploration * sqrt(ln t / n)`` per catalog item (exploration = sqrt(2) is UCB1)."""

    def __init__(
        self, num_items: int, slate_size: int, exploration: float = 2.0**0.5, per_user: bool = False, **kwargs: Any
    ) -> None:
        if num_items <= 0:
            raise ConfigError(f"num_items must be positive; got {num_items}.")
        if exploration < 0:
            raise ConfigError(f"exploration must be >= 0; got {exploration}.")
        super().__init__(slate_size, **kwargs)
        self.num_items = num_items
        self.exploration = exploration
        self.per_user = per_user
        self.statistics: ItemStatistics | None = None

    def _statistics_for(self, item_ids: torch.Tensor) -> ItemStatistics:
        if self.statistics is None:
            num_models = item_ids.shape[0] if self.per_user else 1
            self.statistics = ItemStatistics(self.num_items, num_models, item_ids.device)
        elif self.statistics.counts.device != item_ids.device:  # loaded on the CPU, used elsewhere
            self.statistics.to(item_ids.device)
        return self.statistics

    def _scores(self, observation: dict[str, torch.Tensor], explore: bool) -> torch.Tensor:
        ids = observation["candidate_ids"]
        statistics = self._statistics_for(ids)
        counts, sums = statistics.lookup(ids)
        mean = sums / counts.clamp_min(1.0)
        if not explore:
            return mean
        log_pulls = torch.log(statistics.pulls().clamp_min(1.0)).to(torch.float32).unsqueeze(1)
        bonus = self.exploration * torch.sqrt(log_pulls / counts.clamp_min(1.0))
        return torch.where(counts > 0, mean + bonus, torch.full_like(mean, _UNSEEN_SCORE))

    def scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        return self._scores(observation, explore=True)

    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        return self.slate_from_scores(self._scores(observation, explore))

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        shown_ids = observation["candidate_ids"].gather(1, slate)
        self._statistics_for(shown_ids).update(
            shown_ids, self.item_rewards(response), self.observed_positions(response)
        )

    def reset_users(self, mask: torch.Tensor) -> None:
        if self.per_user and self.statistics is not None:
            self.statistics.reset_models(mask.nonzero().squeeze(1))

    def learned_state(self) -> dict[str, Any]:
        return {"statistics": None if self.statistics is None else self.statistics.state_dict()}

    def load_learned_state(self, state: dict[str, Any]) -> None:
        saved = state["statistics"]
        if saved is None:
            self.statistics = None
            return
        self.statistics = ItemStatistics(self.num_items, saved["counts"].shape[0])
        self.statistics.load_state_dict(saved)
