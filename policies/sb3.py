"""SB3Policy: a trained Stable-Baselines3 model behind the recgym ``Policy`` protocol."""

from __future__ import annotations

from typing import Any

import torch

from policies.base import Policy
from recgym.core.response import Response
from recgym.core.slate import repair_duplicates
from recgym.wrappers.sb3 import SB3VecEnv


class SB3Policy(Policy):
    """Acts with ``model.predict`` on the observation as the model's ``SB3VecEnv`` presented it."""

    def __init__(self, model: Any, adapter: SB3VecEnv) -> None:
        self.model = model
        self.adapter = adapter
        self.slate_size = int(adapter.action_space.shape[0])

    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        device = observation["candidate_features"].device
        actions, _ = self.model.predict(self.adapter.convert_observation(observation), deterministic=not explore)
        slate = torch.as_tensor(actions, dtype=torch.int64, device=device)
        return repair_duplicates(slate, int(self.adapter.action_space.nvec[0]))

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        """SB3 models learn in ``model.learn``, not online here."""

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.model.policy.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.policy.load_state_dict(state["policy"])
