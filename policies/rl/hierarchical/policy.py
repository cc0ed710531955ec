"""The deployable hierarchical policy: goal controller plus low-level network, no trainer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from policies.rl.hierarchical.controller import GoalController
from policies.rl.hierarchical.networks import GoalConditionedActorCritic
from policies.rl.slate_distribution import greedy_slate, sample_slate
from recgym.core.random import DeviceGenerators
from recgym.core.response import Response


class HierarchicalPolicy:
    """Keeps each user's goal and re-plans on schedule, then ranks candidates with the low level.

    ``act`` re-plans due users, picks the slate and ages the goals by a step; ``update`` feeds
    the shown items and the response into the topic memory (call it after every step, as
    ``evaluate_policy`` does: without it novelty goals see every topic as new).
    Per-user state is created for the first batch seen and travels in ``state_dict``.
    """

    def __init__(
        self,
        network: GoalConditionedActorCritic,
        make_controller: Callable[[int, torch.device], GoalController],
        slate_size: int,
        seed: int = 0,
    ) -> None:
        self.network = network
        self.make_controller = make_controller
        self.slate_size = slate_size
        self.seed = seed
        self.controller: GoalController | None = None
        self.generators = DeviceGenerators(seed)

    def _controller_for(self, observation: dict[str, torch.Tensor]) -> GoalController:
        ids = observation["candidate_ids"]
        if self.controller is None or self.controller.num_users != ids.shape[0]:
            self.controller = self.make_controller(ids.shape[0], ids.device)
        return self.controller

    @property
    def goal(self) -> torch.Tensor | None:
        """Each user's current goal [B] (None before the first ``act``)."""
        return None if self.controller is None else self.controller.goal

    @torch.no_grad()
    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        controller = self._controller_for(observation)
        generator = self.generators.on(observation["candidate_ids"].device)
        controller.plan(observation, generator, explore)
        logits = self.network(observation, controller.context(observation))[0]
        controller.advance()
        return sample_slate(logits, self.slate_size, generator) if explore else greedy_slate(logits, self.slate_size)

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        """Remember what was shown and clicked (the networks stay as trained)."""
        self._controller_for(observation).record(observation["candidate_ids"].gather(1, slate), response)

    def state_dict(self) -> dict[str, Any]:
        return {
            "controller": None if self.controller is None else self.controller.state_dict(),
            "generators": self.generators.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generators.load_state_dict(state["generators"])
        if state["controller"] is not None:
            goal = state["controller"]["goal"]
            self.controller = self.make_controller(goal.shape[0], goal.device)
            self.controller.load_state_dict(state["controller"])
