"""A saved policy file as a sweep policy: ``--policies saved --grid saved.path=run/policy-1024-steps.pt``.

What ``recgym train`` or ``policy.save`` wrote is loaded on the run's device and acts (and,
for a bandit, keeps learning) as it did when saved; a file trained on an env of other
observation or slate shapes is refused with the difference named.
"""

from __future__ import annotations

from typing import Any

import torch

from policies.artefacts import interface_differences, read_policy_file
from recgym.core.registry import register_policy
from recgym.core.response import Response
from recgym.errors import ConfigError


@register_policy(
    "saved",
    kind="static",
    description="a policy file written by recgym train or policy.save (path=FILE)",
    provides=("env",),
)
class SavedPolicyFile:
    """The policy saved at ``path``, checked against the env it is about to act in."""

    def __init__(self, env: Any, path: str = "") -> None:
        if not path:
            raise ConfigError("Policy 'saved' needs the file to load: --grid saved.path=RUN/policy-<steps>-steps.pt.")
        saved = read_policy_file(path, env.device)
        if saved.trained_on is not None:
            differences = interface_differences(saved.trained_on, env, "this scenario's env")
            if differences:
                raise ConfigError(
                    f"The policy in {path} was trained on {saved.trained_on.get('env_id', 'another env')}, and this "
                    f"scenario's env shows it different inputs: {'; '.join(differences)}. Run it on scenarios "
                    "with the same observation and slate shapes."
                )
        self.policy = saved.policy
        self.slate_size = self.policy.slate_size

    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        return self.policy.act(observation, explore)

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        self.policy.update(observation, slate, response)

    def state_dict(self) -> dict[str, Any]:
        return self.policy.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state)
