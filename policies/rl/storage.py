"""Rollout storage and advantage estimation shared by the on-policy trainers.

A rollout is ``T`` steps of the whole population: every field is ``[T, B, ...]`` on the
env's device, filled in place (no Python lists of tensors), then flattened to ``[T * B]``
samples for minibatch updates.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


class RolloutBuffer:
    """Observations, slates, log-probabilities, values, rewards [T, B, R] and done flags [T, B]."""

    def __init__(self, steps: int, num_users: int, num_rewards: int, device: torch.device) -> None:
        self.steps, self.num_users, self.num_rewards, self.device = steps, num_users, num_rewards, device
        self.observations: dict[str, torch.Tensor] = {}
        self.slates = torch.empty(0)
        self.contexts: torch.Tensor | None = None
        self.privileged: dict[str, torch.Tensor] = {}
        """Training-only truths about each step's users (e.g. Sim2Rec's hidden parameters), never an input."""
        self.log_probs = torch.zeros(steps, num_users, device=device)
        self.values = torch.zeros(steps, num_users, num_rewards, device=device)
        self.rewards = torch.zeros(steps, num_users, num_rewards, device=device)
        self.dones = torch.zeros(steps, num_users, dtype=torch.bool, device=device)
        self.position = 0

    def _allocate_like(self, observation: dict[str, torch.Tensor], slate: torch.Tensor) -> None:
        self.observations = {
            key: torch.empty((self.steps, *value.shape), dtype=value.dtype, device=self.device)
            for key, value in observation.items()
        }
        self.slates = torch.empty((self.steps, *slate.shape), dtype=slate.dtype, device=self.device)

    def add(
        self,
        observation: dict[str, torch.Tensor],
        slate: torch.Tensor,
        log_prob: torch.Tensor,
        value: torch.Tensor,
        reward: torch.Tensor,
        done: torch.Tensor,
        context: torch.Tensor | None = None,
        privileged: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Store one step; ``reward`` and ``value`` are [B, R], ``context`` optional [B, D].

        ``privileged`` holds what only the simulator knows about these users; it is kept apart
        from the observation so no network input and no deployed policy ever receives it.
        """
        if not self.observations:
            self._allocate_like(observation, slate)
        step = self.position
        for key, value_tensor in observation.items():
            self.observations[key][step] = value_tensor
        self.slates[step] = slate
        if context is not None:
            if self.contexts is None:
                self.contexts = torch.empty((self.steps, *context.shape), dtype=context.dtype, device=self.device)
            self.contexts[step] = context
        for key, truth in (privileged or {}).items():
            if key not in self.privileged:
                self.privileged[key] = torch.empty((self.steps, *truth.shape), dtype=truth.dtype, device=self.device)
            self.privileged[key][step] = truth
        self.log_probs[step] = log_prob
        self.values[step] = value
        self.rewards[step] = reward
        self.dones[step] = done
        self.position += 1

    def reset(self) -> None:
        self.position = 0

    def flat(self, advantages: torch.Tensor, returns: torch.Tensor) -> dict[str, torch.Tensor | dict]:
        """Every sample as [T * B, ...], with the given advantages and returns [T, B, R]."""
        samples: dict[str, torch.Tensor | dict] = {
            "observation": {key: value.flatten(0, 1) for key, value in self.observations.items()},
            "slate": self.slates.flatten(0, 1),
            "log_prob": self.log_probs.flatten(0, 1),
            "value": self.values.flatten(0, 1),
            "advantage": advantages.flatten(0, 1),
            "return": returns.flatten(0, 1),
        }
        if self.contexts is not None:
            samples["context"] = self.contexts.flatten(0, 1)
        if self.privileged:
            samples["privileged"] = {key: value.flatten(0, 1) for key, value in self.privileged.items()}
        return samples


def generalized_advantages(
    rewards: torch.Tensor,
    values: torch.Tensor,
    last_value: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(gamma, lambda) advantages and value targets, [T, B, R] each.

    ``dones [T, B]`` marks steps after which the user's episode ended; the next value is
    then not bootstrapped (a truncated episode's bootstrap is already in its reward, see
    ``Trainer.env_step``). The loop runs over time only; users and channels are batched.
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)
    next_value = last_value
    for step in range(rewards.shape[0] - 1, -1, -1):
        not_done = (~dones[step]).unsqueeze(-1).to(rewards.dtype)
        delta = rewards[step] + gamma * next_value * not_done - values[step]
        running = delta + gamma * lam * not_done * running
        advantages[step] = running
        next_value = values[step]
    return advantages, advantages + values


def minibatches(
    num_samples: int, num_minibatches: int, generator: torch.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """A seeded random partition of ``range(num_samples)`` into index tensors."""
    order = torch.randperm(num_samples, generator=generator, device=device)
    size = -(-num_samples // num_minibatches)
    for start in range(0, num_samples, size):
        yield order[start : start + size]


def select(samples: dict[str, torch.Tensor | dict], rows: torch.Tensor) -> dict[str, torch.Tensor | dict]:
    """The samples at ``rows``, recursing into the observation dict."""
    return {
        key: select(value, rows) if isinstance(value, dict) else value.index_select(0, rows)
        for key, value in samples.items()
    }
