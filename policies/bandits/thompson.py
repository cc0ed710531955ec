"""Linear Thompson sampling (Agrawal & Goyal 2013), per user and per slate position.

Each user draws a plausible taste theta~ ~ N(theta_hat, v^2 A^-1) from the ridge posterior
and is shown the top K under it: exploration in proportion to what the model does not know.
``InSlateThompson`` draws one theta~ per slate position and fills positions one after the
other, so a single slate mixes confident picks with exploratory ones (in-slate exploration);
``exploit_positions`` keeps the first positions on the posterior mean.
"""

from __future__ import annotations

from typing import Any

import torch

from policies.bandits.base import LinearBandit
from recgym.core.registry import register_policy
from recgym.errors import ConfigError


@register_policy("thompson", kind="online", description="linear Thompson sampling")
class LinearThompson(LinearBandit):
    """Top K under one posterior draw per user; ``explore=False`` ranks by the posterior mean."""

    def __init__(self, slate_size: int, posterior_scale: float = 0.5, **kwargs: Any) -> None:
        if posterior_scale < 0:
            raise ConfigError(f"posterior_scale (v, the posterior's spread) must be >= 0; got {posterior_scale}.")
        super().__init__(slate_size, **kwargs)
        self.posterior_scale = posterior_scale

    def _normals(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        return torch.randn(shape, generator=self.generators.on(device), device=device)

    def sampled_scores(self, observation: dict[str, torch.Tensor], draws: int) -> torch.Tensor:
        """Scores under ``draws`` independent posterior draws per user, [B, draws, C]."""
        contexts = self.context(observation)
        model = self._model_for(contexts)
        num_users = contexts.shape[0]
        normals = self._normals((num_users, draws, contexts.shape[-1]), contexts.device)
        if model.num_models == 1:
            thetas = model.sample_theta(normals.reshape(1, num_users * draws, -1), self.posterior_scale)
            thetas = thetas.view(num_users, draws, -1)
        else:
            thetas = model.sample_theta(normals, self.posterior_scale)
        return torch.einsum("bcd,bsd->bsc", contexts, thetas)

    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        if not explore:
            return self.slate_from_scores(self.mean_scores(observation))
        return self.slate_from_scores(self.sampled_scores(observation, 1).squeeze(1))


class InSlateThompson(LinearThompson):
    """One posterior draw per slate position; position k shows the best remaining candidate under draw k."""

    def __init__(self, slate_size: int, posterior_scale: float = 0.5, exploit_positions: int = 0, **kwargs: Any):
        if not 0 <= exploit_positions <= slate_size:
            raise ConfigError(f"exploit_positions must lie in [0, slate_size={slate_size}]; got {exploit_positions}.")
        super().__init__(slate_size, posterior_scale=posterior_scale, **kwargs)
        self.exploit_positions = exploit_positions

    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        if not explore:
            return super().act(observation, explore=False)
        sampled = self.sampled_scores(observation, self.slate_size)
        if self.exploit_positions:
            mean = self.mean_scores(observation).unsqueeze(1)
            sampled[:, : self.exploit_positions] = mean
        sampled = sampled + self.tie_break_scale * self._noise(sampled)
        num_users = sampled.shape[0]
        rows = torch.arange(num_users, device=sampled.device)
        taken = torch.zeros(num_users, sampled.shape[2], dtype=torch.bool, device=sampled.device)
        positions = []
        for position in range(self.slate_size):  # K is a handful; users and candidates stay batched
            choice = sampled[:, position].masked_fill(taken, float("-inf")).argmax(dim=1)
            taken[rows, choice] = True
            positions.append(choice)
        return torch.stack(positions, dim=1)
