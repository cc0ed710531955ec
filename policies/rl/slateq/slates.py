"""Slate optimisation as pure functions of Qbar and the choice model: top-k, greedy and exact (Dinkelbach)."""

from __future__ import annotations

import dataclasses

import torch

from policies.rl.slateq.config import SLATE_RULES
from recgym.errors import ConfigError

_DINKELBACH_MAX_ITERATIONS = 64
_DINKELBACH_TOLERANCE = 1e-6
"""Dinkelbach's method stops after this many rounds, or when a round gains less than this (relative)."""


@dataclasses.dataclass(frozen=True)
class SlateProblem:
    """What choosing a slate needs for every user: choice weights and item values of all candidates.

    The value of slate A is ``(v0 * q0 + sum_{i in A} v_i q_i) / (v0 + sum_{i in A} v_i)``.
    Weights may be rescaled per user without changing any slate's value.
    """

    attractiveness: torch.Tensor
    """Choice weight v_i >= 0 of each candidate, [B, C]."""
    item_value: torch.Tensor
    """Qbar(s, i) of each candidate, [B, C]."""
    null_attractiveness: torch.Tensor
    """Choice weight v_0 > 0 of not clicking, [B]."""
    null_value: torch.Tensor
    """Qbar(s, null), [B]."""

    @classmethod
    def from_logits(
        cls, item_logits: torch.Tensor, null_logit: torch.Tensor, item_value: torch.Tensor, null_value: torch.Tensor
    ) -> SlateProblem:
        """Weights exp(logit) shifted by each user's largest logit, so none overflows."""
        shift = torch.maximum(item_logits.amax(dim=1), null_logit).unsqueeze(1)
        return cls((item_logits - shift).exp(), item_value, (null_logit - shift.squeeze(1)).exp(), null_value)

    def value(self, slate: torch.Tensor) -> torch.Tensor:
        """Expected Qbar of each user's slate [B, K] under the choice model, [B]."""
        weights = self.attractiveness.gather(1, slate)
        numerator = self.null_attractiveness * self.null_value + (weights * self.item_value.gather(1, slate)).sum(1)
        return numerator / (self.null_attractiveness + weights.sum(dim=1)).clamp_min(1e-30)

    def top_k(self, slate_size: int) -> torch.Tensor:
        """The K largest v_i (q_i - q0): RecSim's top-K rule, made invariant to a shift of all values."""
        gain = self.attractiveness * (self.item_value - self.null_value.unsqueeze(1))
        return torch.topk(gain, slate_size, dim=1).indices

    def greedy(self, slate_size: int) -> torch.Tensor:
        """RecSim's greedy rule: K rounds, each adding the item that maximises the slate's value so far."""
        numerator = self.null_attractiveness * self.null_value
        denominator = self.null_attractiveness
        placed = torch.zeros_like(self.item_value, dtype=torch.bool)
        picks = []
        for _ in range(slate_size):
            ratio = (numerator.unsqueeze(1) + self.attractiveness * self.item_value) / (
                denominator.unsqueeze(1) + self.attractiveness
            ).clamp_min(1e-30)
            pick = ratio.masked_fill(placed, float("-inf")).argmax(dim=1, keepdim=True)
            numerator = numerator + (self.attractiveness * self.item_value).gather(1, pick).squeeze(1)
            denominator = denominator + self.attractiveness.gather(1, pick).squeeze(1)
            placed = placed.scatter(1, pick, True)
            picks.append(pick)
        return torch.cat(picks, dim=1)

    def exact(self, slate_size: int) -> torch.Tensor:
        """The best K-subset, by Dinkelbach's method on the fractional program.

        A slate beats value ``lam`` exactly when ``sum_A v_i (q_i - lam) + v0 (q0 - lam) > 0``,
        and the K-set maximising that sum is the top K of ``v_i (q_i - lam)``. So starting
        from the top-K slate, each round's set has a strictly higher value than the last
        until none beats it, and that value is the optimum. This is the program the paper
        solves as an LP (Charnes-Cooper), except that the slate holds exactly K items, as
        the env requires, where the LP allows fewer. A few rounds suffice in practice.
        """
        slate = self.top_k(slate_size)
        value = self.value(slate)
        for _ in range(_DINKELBACH_MAX_ITERATIONS):
            gain = self.attractiveness * (self.item_value - value.unsqueeze(1))
            candidate = torch.topk(gain, slate_size, dim=1).indices
            candidate_value = self.value(candidate)
            improved = candidate_value > value + _DINKELBACH_TOLERANCE * (1.0 + value.abs())
            if not bool(improved.any()):
                break
            slate = torch.where(improved.unsqueeze(1), candidate, slate)
            value = torch.where(improved, candidate_value, value)
        return slate

    def solve(self, rule: str, slate_size: int) -> torch.Tensor:
        """The slate [B, K] that ``rule`` ('exact', 'greedy' or 'top_k') picks for every user."""
        if rule not in SLATE_RULES:
            raise ConfigError(f"Unknown slate rule {rule!r}; choose one of {SLATE_RULES}.")
        return getattr(self, rule)(slate_size)


def random_slate(
    num_users: int, num_candidates: int, slate_size: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """K distinct candidates per user, uniformly at random, [B, K]."""
    noise = torch.rand(num_users, num_candidates, generator=generator, device=device)
    return torch.topk(noise, slate_size, dim=1).indices


def epsilon_greedy(
    greedy: torch.Tensor, num_candidates: int, epsilon: float, generator: torch.Generator
) -> torch.Tensor:
    """``greedy [B, K]`` with each user's slate replaced by a random one with probability ``epsilon``."""
    num_users, slate_size = greedy.shape
    explore = torch.rand(num_users, generator=generator, device=greedy.device) < epsilon
    random = random_slate(num_users, num_candidates, slate_size, generator, greedy.device)
    return torch.where(explore.unsqueeze(1), random, greedy)
