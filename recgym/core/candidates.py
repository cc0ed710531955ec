"""Candidate generation: which items each user may be shown this step.

Sampling draws ``num_candidates`` distinct items per user from per-user random streams,
with replacement first and then redrawing only the collided positions. That costs
O(B * C log N) instead of the O(B * N) of a full shuffle, so catalogs can grow to
millions of items while the action space stays [C].
"""

from __future__ import annotations

from typing import Protocol

import torch

from recgym.core import random
from recgym.errors import ConfigError

_MAX_REDRAW_ROUNDS = 64


class CandidateSampler(Protocol):
    """Draws the candidate items shown to each user at each step."""

    num_items: int

    def sample(self, keys: torch.Tensor, num_candidates: int) -> torch.Tensor:
        """Distinct item ids [B, num_candidates] for the users whose keys are ``keys [B]``."""
        ...


_SHIFT_COMPARE_LIMIT = 32


def duplicate_mask(rows: torch.Tensor) -> torch.Tensor:
    """True at every position [B, C] whose value already occurs earlier in its row."""
    width = rows.shape[-1]
    if width <= _SHIFT_COMPARE_LIMIT:
        # Compare each position with the one `shift` places before it: C^2/2 compares in
        # C - 1 small ops, cheaper than a sort or a [B, C, C] cube for short rows.
        repeated = torch.zeros_like(rows, dtype=torch.bool)
        for shift in range(1, width):
            repeated[:, shift:] |= rows[:, shift:] == rows[:, :-shift]
        return repeated
    sorted_values, order = torch.sort(rows, dim=-1, stable=True)
    repeats = sorted_values[:, 1:] == sorted_values[:, :-1]
    mask = torch.zeros_like(rows, dtype=torch.bool)
    mask.scatter_(1, order[:, 1:], repeats)
    return mask


class _RedrawSampler:
    """Shared draw-then-redraw-collisions loop; subclasses say how to draw one item."""

    num_items: int

    def _draw(self, keys: torch.Tensor, num_candidates: int) -> torch.Tensor:
        raise NotImplementedError

    def _check(self, num_candidates: int) -> None:
        if not 0 < num_candidates <= self.num_items:
            raise ConfigError(f"num_candidates must be in [1, num_items={self.num_items}]; got {num_candidates}.")

    def sample(self, keys: torch.Tensor, num_candidates: int) -> torch.Tensor:
        self._check(num_candidates)
        items = self._draw(keys, num_candidates)
        for round_index in range(1, _MAX_REDRAW_ROUNDS + 1):
            collided = duplicate_mask(items)
            rows = collided.any(dim=1).nonzero().squeeze(1)
            if rows.numel() == 0:
                return items
            # Redraw only the colliding rows; each row's draw depends on its own key alone.
            redrawn = self._draw(random.fold_in(keys.index_select(0, rows), round_index), num_candidates)
            repaired = torch.where(collided.index_select(0, rows), redrawn, items.index_select(0, rows))
            items = items.index_copy(0, rows, repaired)
        return self._fallback(keys, num_candidates, items)

    def _fallback(self, keys: torch.Tensor, num_candidates: int, items: torch.Tensor) -> torch.Tensor:
        """Rows still colliding after many rounds (tiny catalogs): an exact weighted shuffle."""
        stuck = duplicate_mask(items).any(dim=1).nonzero().squeeze(1)
        scores = torch.log(random.uniform(random.fold_in(keys[stuck], 999), (self.num_items,)) + 1e-12)
        scores = scores / self._weights(keys.device).clamp_min(1e-12)
        items = items.clone()
        items[stuck] = scores.topk(num_candidates, dim=1).indices
        return items

    def _weights(self, device: torch.device) -> torch.Tensor:
        raise NotImplementedError


class UniformCandidates(_RedrawSampler):
    """Every item equally likely; RecSim's fresh-documents-each-step behaviour."""

    def __init__(self, num_items: int) -> None:
        if num_items <= 0:
            raise ConfigError(f"num_items must be positive; got {num_items}.")
        self.num_items = num_items

    def _draw(self, keys: torch.Tensor, num_candidates: int) -> torch.Tensor:
        return random.randint(keys, self.num_items, (num_candidates,))

    def _weights(self, device: torch.device) -> torch.Tensor:
        return torch.ones(self.num_items, device=device)


class PopularityCandidates(_RedrawSampler):
    """Items drawn in proportion to ``popularity [N]`` (e.g. ``Catalog.popularity``).

    Without replacement, approximately proportional: collisions are redrawn from the same
    distribution, which matches sequential sampling closely when C is much smaller than N.
    """

    def __init__(self, popularity: torch.Tensor) -> None:
        if popularity.dim() != 1 or popularity.numel() == 0:
            raise ConfigError(f"popularity must be a non-empty vector [N]; got shape {tuple(popularity.shape)}.")
        if bool((popularity < 0).any()) or float(popularity.sum()) <= 0:
            raise ConfigError("popularity must be non-negative with a positive sum.")
        self.num_items = int(popularity.numel())
        self._probabilities = popularity / popularity.sum()
        self._cumulative = torch.cumsum(self._probabilities.to(torch.float64), 0).to(torch.float32)
        self._num_reachable = int((self._probabilities > 0).sum())

    def _draw(self, keys: torch.Tensor, num_candidates: int) -> torch.Tensor:
        draws = random.uniform(keys, (num_candidates,)) * self._cumulative[-1]
        return torch.searchsorted(self._cumulative, draws, right=True).clamp_max(self.num_items - 1)

    def _weights(self, device: torch.device) -> torch.Tensor:
        return self._probabilities.to(device)

    def _check(self, num_candidates: int) -> None:
        super()._check(num_candidates)
        if num_candidates > self._num_reachable:
            raise ConfigError(
                f"num_candidates={num_candidates} exceeds the {self._num_reachable} items with positive popularity."
            )
