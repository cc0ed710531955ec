"""A trained scorer behind recgym's ``Policy`` protocol, for evaluation and deployment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from policies.rl.slate_distribution import greedy_slate, sample_slate
from recgym.core.response import Response

ScoreFunction = Callable[[dict[str, torch.Tensor]], torch.Tensor]


class ScoredSlatePolicy:
    """Top-K of a learned score [B, C] (``explore=False``), or a Plackett-Luce sample of it.

    ``score`` is any function of the observation: an actor's logits, SlateQ's choice-weighted
    Q-values. The networks behind it are read, never trained, here.
    """

    def __init__(self, score: ScoreFunction, slate_size: int, seed: int = 0) -> None:
        self.score = score
        self.slate_size = slate_size
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    @torch.no_grad()
    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        logits = self.score(observation)
        if not explore:
            return greedy_slate(logits, self.slate_size)
        if logits.device not in self._generators:
            self._generators[logits.device] = torch.Generator(device=logits.device).manual_seed(self.seed)
        return sample_slate(logits, self.slate_size, self._generators[logits.device])

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        """Trained offline by its trainer; nothing to learn online."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The networks are restored through the trainer's checkpoint."""
