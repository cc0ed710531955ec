"""Choice models: from each user's scores of the K slate items to what they click.

Every model returns choice probabilities [B, K + 1] whose last column is "no click", and
one sampler turns any of them into a choice from per-user uniforms. Parameters may be
floats or per-user tensors [B], so one batch can mix behaviours.
"""

from __future__ import annotations

from typing import Protocol

import torch

from recgym.core.simulator import ParamLike
from recgym.errors import ConfigError


def _per_user(value: ParamLike) -> torch.Tensor | float:
    """A [B] parameter shaped to broadcast against [B, K] scores; floats pass through."""
    return value.unsqueeze(-1) if isinstance(value, torch.Tensor) else value


class ChoiceModel(Protocol):
    """Maps slate scores [B, K] to choice probabilities [B, K + 1] (last column: no click)."""

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor: ...


class MultinomialLogit:
    """P(i) = exp(s_i / t) / (exp(s_0 / t) + sum_j exp(s_j / t)), with s_0 the no-click score."""

    def __init__(self, no_click_score: ParamLike = 0.0, temperature: ParamLike = 1.0) -> None:
        if not isinstance(temperature, torch.Tensor) and temperature <= 0:
            raise ConfigError(f"temperature must be positive; got {temperature}.")
        self.no_click_score = no_click_score
        self.temperature = temperature

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        no_click = torch.zeros_like(scores[:, :1]) + _per_user(self.no_click_score)
        logits = torch.cat([scores, no_click], dim=1) / _per_user(self.temperature)
        # exp / sum rather than torch.softmax: same result, about 1.5x faster for K + 1 ~ 3-11 on CPU.
        weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))
        return weights / weights.sum(dim=1, keepdim=True)


class MultinomialProportional:
    """RecSim's conditional-logit form: P(i) = v_i / (v_0 + sum_j v_j) with linear attractiveness.

    v_i = s_i - min_normalizer and v_0 = no_click_mass - min_normalizer; scores below
    ``min_normalizer`` are treated as zero attractiveness.
    """

    def __init__(self, no_click_mass: ParamLike = 1.0, min_normalizer: ParamLike = -1.0) -> None:
        self.no_click_mass = no_click_mass
        self.min_normalizer = min_normalizer

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        offset = _per_user(self.min_normalizer)
        attractiveness = (scores - offset).clamp_min(0.0)
        no_click = (torch.zeros_like(scores[:, :1]) + _per_user(self.no_click_mass) - offset).clamp_min(0.0)
        weights = torch.cat([attractiveness, no_click], dim=1)
        return weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-12)


class Cascade:
    """The cascade model: the user scans top to bottom and clicks the first attractive item.

    Attraction a_i = sigmoid(s_i / temperature); P(click at i) = a_i * prod_{j < i} (1 - a_j)
    and P(no click) = prod_j (1 - a_j), so position matters.
    """

    def __init__(self, temperature: ParamLike = 1.0) -> None:
        if not isinstance(temperature, torch.Tensor) and temperature <= 0:
            raise ConfigError(f"temperature must be positive; got {temperature}.")
        self.temperature = temperature

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        attraction = torch.sigmoid(scores / _per_user(self.temperature))
        survive = torch.cumprod(1.0 - attraction, dim=1)
        reached = torch.cat([torch.ones_like(survive[:, :1]), survive[:, :-1]], dim=1)
        return torch.cat([attraction * reached, survive[:, -1:]], dim=1)


def sample_choice(probabilities: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Clicked position [B] (-1 for no click) by inverse CDF of [B, K + 1] with ``uniforms [B]``."""
    slate_size = probabilities.shape[1] - 1
    cumulative = torch.cumsum(probabilities, dim=1)
    index = (uniforms.unsqueeze(1) >= cumulative).sum(dim=1).clamp_max(slate_size)
    return torch.where(index == slate_size, torch.full_like(index, -1), index)
