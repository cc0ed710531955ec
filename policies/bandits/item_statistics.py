"""Per-item reward counts and sums, for the non-contextual bandits (UCB1): one table for all users or one per user."""

from __future__ import annotations

from typing import Any

import torch

from recgym.errors import ConfigError


class ItemStatistics:
    """How often each catalog item was observed and the reward it earned, [M, N] (M = 1 or one row per user)."""

    def __init__(self, num_items: int, num_models: int = 1, device: torch.device | str = "cpu") -> None:
        if num_items <= 0 or num_models <= 0:
            raise ConfigError(f"num_items and num_models must be positive; got {num_items}, {num_models}.")
        self.num_items = num_items
        self.num_models = num_models
        self.counts = torch.zeros(num_models, num_items, dtype=torch.float64, device=device)
        self.reward_sums = torch.zeros(num_models, num_items, dtype=torch.float64, device=device)

    def _flat_index(self, item_ids: torch.Tensor) -> torch.Tensor:
        if self.num_models == 1:
            return item_ids
        rows = torch.arange(item_ids.shape[0], device=item_ids.device).unsqueeze(1)
        return rows * self.num_items + item_ids

    def lookup(self, item_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Counts and reward sums of item ids [B, C], as float32 ([B, C], [B, C])."""
        flat = self._flat_index(item_ids).reshape(-1)
        counts = self.counts.view(-1).index_select(0, flat).view(item_ids.shape)
        sums = self.reward_sums.view(-1).index_select(0, flat).view(item_ids.shape)
        return counts.to(torch.float32), sums.to(torch.float32)

    def pulls(self) -> torch.Tensor:
        """Total observations per model, float64 [M]."""
        return self.counts.sum(dim=1)

    def update(self, item_ids: torch.Tensor, rewards: torch.Tensor, observed: torch.Tensor) -> None:
        """Add rewards [B, K] of shown item ids [B, K] where ``observed`` [B, K]."""
        flat = self._flat_index(item_ids).reshape(-1)
        weights = observed.reshape(-1).to(torch.float64)
        self.counts.view(-1).index_add_(0, flat, weights)
        self.reward_sums.view(-1).index_add_(0, flat, rewards.reshape(-1).to(torch.float64) * weights)

    def to(self, device: torch.device | str) -> ItemStatistics:
        """Move the tables to ``device`` in place (statistics loaded on the CPU, then used on a GPU)."""
        self.counts = self.counts.to(device)
        self.reward_sums = self.reward_sums.to(device)
        return self

    def reset_models(self, rows: torch.Tensor) -> None:
        self.counts[rows] = 0.0
        self.reward_sums[rows] = 0.0

    def state_dict(self) -> dict[str, Any]:
        return {"counts": self.counts.cpu().clone(), "reward_sums": self.reward_sums.cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if tuple(state["counts"].shape) != tuple(self.counts.shape):
            raise ConfigError(
                f"Saved item statistics have shape {tuple(state['counts'].shape)}; expected {tuple(self.counts.shape)}."
            )
        self.counts = state["counts"].to(self.counts.device).clone()
        self.reward_sums = state["reward_sums"].to(self.counts.device).clone()
