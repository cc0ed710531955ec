"""Running statistics that keep network inputs and rewards on a unit scale.

Watch times run to hundreds of minutes and returns to thousands; without rescaling the
value loss swamps the policy loss. Both statistics are buffers, so they travel with
``state_dict`` into checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn


class RunningNorm(nn.Module):
    """Normalises the last dimension by a running mean and variance (parallel Welford update)."""

    def __init__(self, size: int, clip: float = 10.0) -> None:
        super().__init__()
        self.clip = clip
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("var", torch.ones(size))
        self.register_buffer("count", torch.tensor(1e-4))

    @torch.no_grad()
    def update(self, values: torch.Tensor) -> None:
        """Fold a batch ``[..., size]`` into the statistics."""
        flat = values.reshape(-1, values.shape[-1]).to(self.mean.dtype)
        batch_count = flat.shape[0]
        batch_mean = flat.mean(dim=0)
        batch_var = flat.var(dim=0, unbiased=False)
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean += delta * batch_count / total
        self.var.copy_(
            (self.var * self.count + batch_var * batch_count + delta.square() * self.count * batch_count / total)
            / total
        )
        self.count.copy_(total)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return ((values - self.mean) / (self.var + 1e-8).sqrt()).clamp(-self.clip, self.clip)


class ReturnScaler(nn.Module):
    """Divides rewards by the running std of each user's discounted return, per reward channel.

    As SB3's VecNormalize does for rewards: the scale follows the returns the critic must
    predict, while the reward's sign and zero stay where they were.
    """

    def __init__(self, num_users: int, num_channels: int, gamma: float) -> None:
        super().__init__()
        self.gamma = gamma
        self.stats = RunningNorm(num_channels)
        self.register_buffer("discounted", torch.zeros(num_users, num_channels))

    @torch.no_grad()
    def __call__(self, rewards: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        """Scaled ``rewards [B, R]``; ``done [B]`` restarts a user's running return."""
        self.discounted.mul_(self.gamma).add_(rewards)
        self.stats.update(self.discounted)
        self.discounted.mul_((~done).unsqueeze(1).to(self.discounted.dtype))
        return rewards / (self.stats.var + 1e-8).sqrt()
