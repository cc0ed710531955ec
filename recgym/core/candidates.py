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

    def sample(
        self, keys: torch.Tensor, num_candidates: int, history_items: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Distinct item ids [B, num_candidates] for the users whose keys are ``keys [B]``.

        ``history_items [B, h]`` (item ids, -1 for none) is what the system has seen each user
        click recently; user-dependent samplers retrieve from it, the others ignore it.
        """
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


def rows_with_repeats(rows: torch.Tensor) -> torch.Tensor:
    """Indices of the rows [B, C] that hold some value twice: one sort, cheaper than a full mask."""
    ordered = rows.sort(dim=1).values
    return (ordered[:, 1:] == ordered[:, :-1]).any(dim=1).nonzero().squeeze(1)


class _RedrawSampler:
    """Shared draw-then-redraw-collisions loop; subclasses say how to draw one item."""

    num_items: int

    def _draw(self, keys: torch.Tensor, num_candidates: int, history_items: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _check(self, num_candidates: int) -> None:
        if not 0 < num_candidates <= self.num_items:
            raise ConfigError(f"num_candidates must be in [1, num_items={self.num_items}]; got {num_candidates}.")

    def sample(
        self, keys: torch.Tensor, num_candidates: int, history_items: torch.Tensor | None = None
    ) -> torch.Tensor:
        self._check(num_candidates)
        items = self._draw(keys, num_candidates, history_items)
        rows = rows_with_repeats(items)
        for round_index in range(1, _MAX_REDRAW_ROUNDS + 1):
            if rows.numel() == 0:
                return items
            # Redraw only the colliding positions of the colliding rows; a row's draws depend
            # on its own key alone, so batched and single-user runs agree.
            current = items.index_select(0, rows)
            collided = duplicate_mask(current)
            history_rows = None if history_items is None else history_items.index_select(0, rows)
            redrawn = self._draw(random.fold_in(keys.index_select(0, rows), round_index), num_candidates, history_rows)
            repaired = torch.where(collided, redrawn, current)
            items = items.index_copy(0, rows, repaired)
            rows = rows[duplicate_mask(repaired).any(dim=1)]
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

    def _draw(self, keys: torch.Tensor, num_candidates: int, history_items: torch.Tensor | None) -> torch.Tensor:
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

    def _draw(self, keys: torch.Tensor, num_candidates: int, history_items: torch.Tensor | None) -> torch.Tensor:
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


class TopicAffinityCandidates(_RedrawSampler):
    """Retrieval-like candidates: topics the user clicked recently, with noise and exploration.

    Each candidate slot first draws a topic from softmax(log(1 + clicks on the topic in the
    visible history) / temperature), mixed with a uniform draw over topics with weight
    ``explore``, then an item uniformly within that topic. Only visible history is used,
    as a real retrieval stage would; a user with no clicks gets uniform topics. The cost
    is O(B * (h + T + C)) per step whatever the catalog size, so catalogs of millions of
    items keep a small action space.
    """

    def __init__(self, topic: torch.Tensor, num_topics: int, temperature: float = 0.5, explore: float = 0.2) -> None:
        if topic.dim() != 1 or topic.numel() == 0:
            raise ConfigError(f"topic must be a non-empty vector [N]; got shape {tuple(topic.shape)}.")
        if temperature <= 0:
            raise ConfigError(f"temperature must be positive; got {temperature}.")
        if not 0.0 <= explore <= 1.0:
            raise ConfigError(f"explore is a probability and must lie in [0, 1]; got {explore}.")
        self.num_items = int(topic.numel())
        self.num_topics = num_topics
        self.temperature = temperature
        self.explore = explore
        self._topic = topic
        self._items_by_topic = torch.argsort(topic, stable=True)
        counts = torch.bincount(topic, minlength=num_topics)
        self._topic_start = torch.cumsum(counts, 0) - counts
        self._topic_count = counts
        self._log_has_items = torch.where(counts > 0, 0.0, float("-inf"))

    def topic_probabilities(self, history_items: torch.Tensor | None, num_users: int) -> torch.Tensor:
        """Each user's retrieval distribution over topics, [B, T]."""
        device = self._topic.device
        clicks = torch.zeros(num_users, self.num_topics, device=device)
        if history_items is not None:
            clicked = history_items >= 0
            topics = self._topic.index_select(0, history_items.clamp_min(0).reshape(-1)).view_as(history_items)
            clicks = clicks.scatter_add(1, topics, clicked.to(torch.float32))
        exploit = torch.softmax(torch.log1p(clicks) / self.temperature + self._log_has_items, dim=1)
        uniform = torch.softmax(torch.zeros_like(clicks) + self._log_has_items, dim=1)
        return (1.0 - self.explore) * exploit + self.explore * uniform

    def _draw(self, keys: torch.Tensor, num_candidates: int, history_items: torch.Tensor | None) -> torch.Tensor:
        probabilities = self.topic_probabilities(history_items, keys.shape[0])
        cumulative = torch.cumsum(probabilities, dim=1)
        topic_draw = random.uniform(random.fold_in(keys, 1), (num_candidates,)) * cumulative[:, -1:]
        topics = torch.searchsorted(cumulative, topic_draw, right=True).clamp_max(self.num_topics - 1)
        counts = self._topic_count.index_select(0, topics.reshape(-1)).view_as(topics)
        offsets = (random.uniform(random.fold_in(keys, 2), (num_candidates,)) * counts).to(torch.int64)
        offsets = torch.minimum(offsets, counts - 1)
        positions = self._topic_start.index_select(0, topics.reshape(-1)).view_as(topics) + offsets
        return self._items_by_topic.index_select(0, positions.reshape(-1)).view_as(positions)

    def _weights(self, device: torch.device) -> torch.Tensor:
        return torch.ones(self.num_items, device=device)

    def to(self, device: torch.device | str) -> TopicAffinityCandidates:
        return TopicAffinityCandidates(self._topic.to(device), self.num_topics, self.temperature, self.explore)
