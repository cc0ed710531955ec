"""The two levels' networks: a goal-conditioned slate actor-critic and the goal policy with its option critic."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from policies.rl.networks import SlateActorCritic, mlp
from policies.rl.normalization import RunningNorm
from policies.rl.slate_distribution import sample_slate


class GoalConditionedActorCritic(nn.Module):
    """``SlateActorCritic`` conditioned on a goal; the goal's candidate match boosts logits.

    The context is [goal one-hot (G), candidate match (C)]: the one-hot joins the user input,
    and each candidate's logit gains (``goal_boost`` + a learned per-goal gain) x match.
    """

    def __init__(
        self,
        observation_space: Any,
        hidden_size: int,
        num_values: int,
        num_goals: int,
        goal_boost: float,
        history_summary: bool = True,
    ) -> None:
        super().__init__()
        self.num_goals = num_goals
        self.goal_boost = goal_boost
        self.base = SlateActorCritic(
            observation_space, hidden_size, num_values, context_size=num_goals, history_summary=history_summary
        )
        self.goal_gain = nn.Parameter(torch.zeros(num_goals))

    @property
    def encoder(self) -> nn.Module:
        """The base network's observation encoder (the trainer updates its input statistics)."""
        return self.base.encoder

    def forward(
        self, observation: dict[str, torch.Tensor], context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if context is None:
            raise ValueError("GoalConditionedActorCritic needs a context [B, num_goals + num_candidates].")
        one_hot, match = context[:, : self.num_goals], context[:, self.num_goals :]
        logits, values = self.base(observation, one_hot)
        gain = self.goal_boost + one_hot @ self.goal_gain
        return logits + gain.unsqueeze(1) * match, values


class GoalPolicyNetwork(nn.Module):
    """The learned high level: goal logits [B, G] and option values Q(s, g) [B, G] from features [B, D]."""

    def __init__(self, feature_size: int, hidden_size: int, num_goals: int) -> None:
        super().__init__()
        self.norm = RunningNorm(feature_size)
        self.actor = mlp(feature_size, hidden_size, num_goals)
        self.critic = mlp(feature_size, hidden_size, num_goals)
        with torch.no_grad():  # start close to uniform over goals, as cleanrl's small actor head does
            self.actor[-1].weight.mul_(0.01)
            self.actor[-1].bias.zero_()

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        normalised = self.norm(features)
        return self.actor(normalised), self.critic(normalised)

    @torch.no_grad()
    def decide(
        self, features: torch.Tensor, generator: torch.Generator, explore: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A goal per user (sampled, or the most likely) and its log-probability, [B] each."""
        logits = self(features)[0]
        goal = sample_slate(logits, 1, generator)[:, 0] if explore else logits.argmax(dim=1)
        return goal, torch.log_softmax(logits, dim=1).gather(1, goal.unsqueeze(1)).squeeze(1)
