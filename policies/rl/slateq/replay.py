"""The replay buffer: each user's steps in order, so an n-step return is read off when a sample is drawn."""

from __future__ import annotations

from typing import Any

import torch


class ReplayBuffer:
    """The last ``num_steps`` steps of every user, [S, B, ...], oldest overwritten first.

    Steps stay in time order per user (not loose transitions), so a sample can look ahead
    along its user's trajectory and read off an n-step return when it is drawn.
    """

    def __init__(self, num_steps: int, num_users: int, device: torch.device) -> None:
        self.num_steps, self.num_users, self.device = num_steps, num_users, device
        self.tensors: dict[str, torch.Tensor] = {}
        self.position = 0
        self.size = 0

    def __len__(self) -> int:
        """Transitions stored (steps x users)."""
        return self.size * self.num_users

    def add(self, **step: torch.Tensor | dict[str, torch.Tensor]) -> None:
        """Store one step of every user; each value is a tensor [B, ...] or a dict of them (an observation)."""
        flat: dict[str, torch.Tensor] = {}
        for name, value in step.items():
            if isinstance(value, dict):
                flat.update({f"{name}/{key}": tensor for key, tensor in value.items()})
            else:
                flat[name] = value
        if not self.tensors:
            self.tensors = {
                name: torch.empty((self.num_steps, *value.shape), dtype=value.dtype, device=self.device)
                for name, value in flat.items()
            }
        for name, value in flat.items():
            self.tensors[name][self.position] = value
        self.position = (self.position + 1) % self.num_steps
        self.size = min(self.size + 1, self.num_steps)

    def _observation(self, prefix: str, slots: torch.Tensor, users: torch.Tensor) -> dict[str, torch.Tensor]:
        start = len(prefix) + 1
        return {
            name[start:]: tensor[slots, users] for name, tensor in self.tensors.items() if name.startswith(prefix + "/")
        }

    def sample(self, batch_size: int, n_steps: int, gamma: float, generator: torch.Generator) -> dict[str, Any]:
        """``batch_size`` (step, user) pairs drawn uniformly, with their n-step returns.

        The return sums up to ``n_steps`` discounted rewards, stopping after the step that
        ended the user's episode or at the newest stored step; ``discount`` is gamma to the
        number of steps summed, 0 after a termination, and multiplies the value of
        ``next_observation``, the state reached after the last summed step.
        """
        offset = torch.randint(self.size, (batch_size,), generator=generator, device=self.device)
        users = torch.randint(self.num_users, (batch_size,), generator=generator, device=self.device)
        ahead = offset.unsqueeze(1) + torch.arange(n_steps, device=self.device)
        oldest = self.position - self.size
        slots = (oldest + ahead.clamp_max(self.size - 1)) % self.num_steps
        window_users = users.unsqueeze(1).expand_as(slots)
        done = self.tensors["done"][slots, window_users].to(torch.int64)
        ended_before = (done.cumsum(dim=1) - done) > 0
        counted = (ahead < self.size) & ~ended_before
        rewards = self.tensors["reward"][slots, window_users]
        powers = gamma ** torch.arange(n_steps, device=self.device, dtype=rewards.dtype)
        summed = counted.sum(dim=1)
        last = slots.gather(1, (summed - 1).unsqueeze(1)).squeeze(1)
        not_terminated = (~self.tensors["terminated"][last, users]).to(rewards.dtype)
        first = slots[:, 0]
        return {
            "observation": self._observation("observation", first, users),
            "slate": self.tensors["slate"][first, users],
            "choice": self.tensors["choice"][first, users],
            "return": (rewards * powers * counted).sum(dim=1),
            "discount": gamma ** summed.to(rewards.dtype) * not_terminated,
            "next_observation": self._observation("next_observation", last, users),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"tensors": self.tensors, "position": self.position, "size": self.size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tensors = {name: tensor.to(self.device) for name, tensor in state["tensors"].items()}
        self.position, self.size = int(state["position"]), int(state["size"])
