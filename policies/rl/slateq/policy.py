"""The deployable SlateQ policy: the network and a slate rule, saveable on its own."""

from __future__ import annotations

from typing import Any

import torch

from policies.artefacts import SaveablePolicy
from policies.rl.slateq.config import SLATE_RULES
from policies.rl.slateq.network import SlateQNetwork
from policies.rl.slateq.slates import epsilon_greedy
from recgym.core.random import DeviceGenerators
from recgym.core.response import Response
from recgym.errors import ConfigError


class SlateQPolicy(SaveablePolicy):
    """A trained SlateQ agent: the configured slate rule over Qbar and the choice model.

    ``act(explore=False)`` is the rule's slate; ``explore=True`` replaces each user's slate
    by a random one with probability ``epsilon``, drawn from the policy's own seeded generator.
    """

    def __init__(
        self,
        network: SlateQNetwork,
        slate_size: int,
        slate_rule: str = "exact",
        learn_null_value: bool = True,
        epsilon: float = 0.0,
        seed: int = 0,
    ) -> None:
        if slate_rule not in SLATE_RULES:
            raise ConfigError(f"Unknown slate_rule {slate_rule!r}; choose one of {SLATE_RULES}.")
        self.network, self.slate_size, self.slate_rule = network, slate_size, slate_rule
        self.learn_null_value, self.epsilon, self.seed = learn_null_value, epsilon, seed
        self.generators = DeviceGenerators(seed)

    @torch.no_grad()
    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        problem = self.network(observation).problem(self.learn_null_value)
        slate = problem.solve(self.slate_rule, self.slate_size)
        if not explore or self.epsilon == 0.0:
            return slate
        return epsilon_greedy(slate, problem.item_value.shape[1], self.epsilon, self.generators.on(slate.device))

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        """Trained by its trainer; nothing to learn online."""

    def state_dict(self) -> dict[str, Any]:
        """The exploration generators' states (the network is saved with its trainer's checkpoint)."""
        return {"generators": self.generators.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generators.load_state_dict(state.get("generators", {}))
