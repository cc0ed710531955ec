"""Running per-user episode totals during training, reported as means of finished episodes."""

from __future__ import annotations

from typing import Any

import torch

from recgym.core.response import Response

_MEASURES = ("return", "watch_time", "clicks", "liked", "shared", "followed", "return_visits", "length")


class EpisodeTracker:
    """Accumulates each user's episode as it runs; ``pop_means`` averages those finished since the last call."""

    def __init__(self, num_users: int, device: torch.device) -> None:
        self.running = torch.zeros(len(_MEASURES), num_users, device=device)
        self.finished_sum = torch.zeros(len(_MEASURES), device=device)
        self.finished_count = torch.zeros((), device=device)

    def record(self, reward: torch.Tensor, response: Response, done: torch.Tensor) -> None:
        """Add one step for every user and close the episodes of users where ``done [B]``."""
        step = torch.stack(
            [
                reward,
                response.watch_time.sum(dim=1),
                response.clicked.sum(dim=1),
                response.liked.sum(dim=1),
                response.shared.sum(dim=1),
                response.followed.sum(dim=1),
                response.returned,
                torch.ones_like(reward),
            ]
        ).to(self.running.dtype)
        self.running += step
        done_weights = done.to(self.running.dtype)
        self.finished_sum += self.running @ done_weights
        self.finished_count += done_weights.sum()
        self.running *= 1.0 - done_weights

    def pop_means(self) -> dict[str, float]:
        """Mean per finished episode of each measure since the last call ('episode_*'); empty if none finished."""
        count = float(self.finished_count)
        if count == 0:
            return {}
        means = (self.finished_sum / count).tolist()
        self.finished_sum.zero_()
        self.finished_count.zero_()
        return {"episodes_finished": count} | {
            f"episode_{name}": value for name, value in zip(_MEASURES, means, strict=True)
        }

    def state_dict(self) -> dict[str, Any]:
        return {"running": self.running, "finished_sum": self.finished_sum, "finished_count": self.finished_count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.running.device
        self.running = state["running"].to(device)
        self.finished_sum = state["finished_sum"].to(device)
        self.finished_count = state["finished_count"].to(device)
