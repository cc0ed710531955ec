"""Training data for the learned high level: its rollout and the semi-MDP option returns."""

from __future__ import annotations

import torch

from policies.rl.hierarchical.controller import Decision


class GoalRollout:
    """The high level's view of a rollout, [T, B] (features and goals [T + 1, B]: the last is the next step)."""

    def __init__(self, steps: int, num_users: int, feature_size: int, device: torch.device) -> None:
        self.steps = steps
        self.features = torch.zeros(steps + 1, num_users, feature_size, device=device)
        self.goals = torch.zeros(steps + 1, num_users, dtype=torch.int64, device=device)
        self.decided = torch.zeros(steps + 1, num_users, dtype=torch.bool, device=device)
        self.log_probs = torch.zeros(steps + 1, num_users, device=device)
        self.rewards = torch.zeros(steps, num_users, device=device)
        self.dones = torch.zeros(steps, num_users, dtype=torch.bool, device=device)
        self.position = 0

    def reset(self) -> None:
        self.position = 0

    def add_state(self, decision: Decision, goal: torch.Tensor) -> None:
        """The state at the current position: features, goal in force, whether it was just chosen."""
        step = self.position
        assert decision.features is not None and decision.log_prob is not None
        self.features[step], self.goals[step] = decision.features, goal
        self.decided[step], self.log_probs[step] = decision.due, decision.log_prob

    def add_outcome(self, reward: torch.Tensor, done: torch.Tensor) -> None:
        """What the step at the current position earned, then move on."""
        self.rewards[self.position], self.dones[self.position] = reward, done
        self.position += 1


def option_returns(
    rewards: torch.Tensor,
    dones: torch.Tensor,
    decided: torch.Tensor,
    fresh_values: torch.Tensor,
    held_values: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """Semi-MDP lambda-returns of the option in force at each step, [T, B].

    ``rewards``/``dones`` are [T, B]; ``decided``, ``fresh_values`` (V(s) = sum_g pi(g|s) Q(s, g))
    and ``held_values`` (Q(s, g) of the goal in force) are [T + 1, B]. Inside an option rewards
    add up undiscounted by lambda; where a new option starts, the return mixes lambda of the
    longer return with 1 - lambda of V(s). A rollout ending mid-option bootstraps with Q(s_T, g).
    """
    returns = torch.zeros_like(rewards)
    next_value = torch.where(decided[-1], fresh_values[-1], held_values[-1])
    for step in range(rewards.shape[0] - 1, -1, -1):
        target = rewards[step] + gamma * (~dones[step]).to(rewards.dtype) * next_value
        returns[step] = target
        next_value = torch.where(decided[step], lam * target + (1.0 - lam) * fresh_values[step], target)
    return returns
