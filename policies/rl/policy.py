"""A trained scorer behind recgym's ``Policy`` protocol, for evaluation and deployment."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from policies.artefacts import SaveablePolicy
from policies.rl.slate_distribution import greedy_slate, sample_slate
from recgym.core.random import DeviceGenerators
from recgym.core.response import Response


class ScoredSlatePolicy(SaveablePolicy):
    """Top-K of a network's candidate logits [B, C] (``explore=False``), or a Plackett-Luce sample of them.

    ``network(observation)`` returns (logits, ...): an actor-critic whose context, if any, it
    computes itself (Sim2Rec's history encoder). The network is read, never trained, here; it
    is saved with the policy (``save``), so the policy needs no trainer to act.
    """

    def __init__(self, network: nn.Module, slate_size: int, seed: int = 0) -> None:
        self.network = network
        self.slate_size = slate_size
        self.seed = seed
        self.generators = DeviceGenerators(seed)

    @torch.no_grad()
    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        logits = self.network(observation)[0]
        if not explore:
            return greedy_slate(logits, self.slate_size)
        return sample_slate(logits, self.slate_size, self.generators.on(logits.device))

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        """Trained offline by its trainer; nothing to learn online."""

    def state_dict(self) -> dict[str, Any]:
        """The sampling generators (the network's weights are saved as its constructor argument)."""
        return {"generators": self.generators.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generators.load_state_dict(state.get("generators", {}))
