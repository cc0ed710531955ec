"""The high level at run time: per-user goals, their age and the topic memory, planned on schedule."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from policies.rl.hierarchical.goals import GoalSchedule, GoalSpace, TopicMemory
from policies.rl.hierarchical.llm_planner import LLMGoalPlanner
from policies.rl.hierarchical.networks import GoalPolicyNetwork
from recgym.core.response import Response


@dataclasses.dataclass(frozen=True)
class Decision:
    """One planning call: who re-planned, and for a learned planner its inputs and log-probabilities."""

    due: torch.Tensor
    """Users whose goal was (re)chosen, bool [B]."""
    features: torch.Tensor | None
    """The high level's input for every user, [B, D] (None for the LLM planner)."""
    log_prob: torch.Tensor | None
    """Log-probability of each user's goal under the planner, [B] (meaningful where ``due``)."""


class GoalController:
    """Each user's goal, its age and the topic memory; plans, builds the low level's context, records steps."""

    def __init__(
        self,
        goals: GoalSpace,
        schedule: GoalSchedule,
        item_topics: torch.Tensor,
        user_inputs: Callable[[dict[str, torch.Tensor]], torch.Tensor],
        planner: GoalPolicyNetwork | LLMGoalPlanner,
        memory: TopicMemory,
    ) -> None:
        self.goals, self.schedule, self.item_topics = goals, schedule, item_topics
        self.user_inputs, self.planner, self.memory = user_inputs, planner, memory
        num_users, device = memory.clicks.shape[0], memory.clicks.device
        self.goal = torch.zeros(num_users, dtype=torch.int64, device=device)
        """Each user's current goal, int64 [B]."""
        self.age = torch.full((num_users,), -1, dtype=torch.int64, device=device)
        """Steps taken with the current goal, int64 [B]; -1 before the first plan."""

    @property
    def num_users(self) -> int:
        return int(self.goal.shape[0])

    @staticmethod
    def feature_size(user_input_size: int, num_topics: int) -> int:
        """D of ``features``: the history summary, clicks and shown [T] each, 4 responses, 2 click rates, age."""
        return user_input_size + 2 * num_topics + 4 + 2 + 1

    def features(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """The high level's input [B, D]: history summary, topic memory, novelty responses, goal age."""
        memory = self.memory
        age = self.age.clamp_min(0).to(torch.float32).unsqueeze(1) / self.schedule.age_scale
        columns = [self.user_inputs(observation), memory.clicks, memory.shown, memory.responses, memory.click_rates()]
        return torch.cat([*columns, age], dim=1)

    def plan(self, observation: dict[str, torch.Tensor], generator: torch.Generator, explore: bool) -> Decision:
        """Re-plan the users that are due for ``observation`` (call once per step, before acting)."""
        self.memory.reset(self.schedule.new_episode(observation))
        due = self.schedule.due(self.age, observation)
        self.age = torch.where(due, torch.zeros_like(self.age), self.age)
        if isinstance(self.planner, LLMGoalPlanner):
            rows = due.nonzero().squeeze(1)
            if rows.numel() > 0:
                watch = observation["history_watch_time"].index_select(0, rows).mean(dim=1)
                chosen = self.planner.plan(self.memory.describe(rows, watch)).to(self.goal.device)
                self.goal = self.goal.index_copy(0, rows, chosen)
            return Decision(due, None, None)
        features = self.features(observation)
        goal, log_prob = self.planner.decide(features, generator, explore)
        self.goal = torch.where(due, goal, self.goal)
        return Decision(due, features, log_prob)

    def candidate_match(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each candidate's match with its user's goal, [B, C]."""
        return self.goals.match(self.goal, self.item_topics[observation["candidate_ids"]], self.memory)

    def context(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """The low level's context [B, G + C]: the goal one-hot, then each candidate's match."""
        one_hot = nn.functional.one_hot(self.goal, self.goals.num_goals).to(torch.float32)
        return torch.cat([one_hot, self.candidate_match(observation)], dim=1)

    def advance(self) -> None:
        """Age every goal by one step (call once per slate shown)."""
        self.age = self.age + 1

    def record(self, shown_items: torch.Tensor, response: Response) -> None:
        """Fold a step's shown items [B, K] and the response into the topic memory."""
        self.memory.record(self.item_topics[shown_items], response.clicked.to(torch.float32))

    def state_dict(self) -> dict[str, Any]:
        return {"goal": self.goal, "age": self.age, "memory": self.memory.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.goal.device
        self.goal, self.age = state["goal"].to(device), state["age"].to(device)
        self.memory.load_state_dict(state["memory"])
