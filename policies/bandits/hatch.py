"""HATCH (Yang et al., WWW 2020): a fixed exploration budget, spent where user contexts make it pay.

Exploring costs something real (a worse slate now), so it gets a budget: at most ``budget``
user-steps may be served the exploratory (LinUCB) slate; everyone else gets the greedy slate
on the same ridge model, at no cost. Two levels, as in the paper:

- **Resource allocation.** Users fall into ``num_classes`` classes by their context (the
  profile of what they watched), kept by online k-means. Each class j has a frequency phi_j
  and a value v_j: the expected gain of exploring for it, measured as the optimism gap
  (sum of the UCB slate's upper bounds minus the greedy slate's means), an exponential
  moving average. Each step solves the linear program max sum_j phi_j p_j v_j subject to
  sum_j phi_j p_j <= rho, 0 <= p_j <= 1, where rho = remaining budget / (remaining steps x
  users) paces the spending over ``horizon`` steps; the solution fills classes in order of
  value. A user of class j explores with probability p_j.
- **Personal recommendation.** LinUCB for the explored, the ridge mean for the rest.

The budget is hard: if the coins ask for more explorations than remain, only the users
with the largest gaps explore, so ``spent`` never exceeds ``budget``. Departure from the
paper: there, an unallocated user gets no recommendation; here the resource is exploration
itself, as recgym's issue asks, so unallocated users still get the greedy slate.
"""

from __future__ import annotations

from typing import Any

import torch

from policies.bandits.linucb import LinUCB
from policies.base import history_profile
from recgym.core.registry import PolicyContext, register_policy
from recgym.errors import ConfigError


def allocate_exploration(value: torch.Tensor, frequency: torch.Tensor, spend_rate: float) -> torch.Tensor:
    """Solve max sum_j f_j p_j v_j s.t. sum_j f_j p_j <= spend_rate, 0 <= p_j <= 1; return p [J].

    A fractional knapsack: classes are filled in order of value until the rate is used up,
    so at most one class gets a fractional probability.
    """
    order = torch.argsort(value, descending=True)
    sorted_frequency = frequency[order]
    filled_before = torch.cumsum(sorted_frequency, dim=0) - sorted_frequency
    probability = ((spend_rate - filled_before) / sorted_frequency.clamp_min(1e-12)).clamp(0.0, 1.0)
    return torch.empty_like(probability).scatter_(0, order, probability)


def _budget_for_the_online_phase(context: PolicyContext) -> dict[str, Any]:
    """Unless a grid says otherwise: a budget of 20% of the online phase's user-steps, spread over that phase."""
    horizon = max(context.online_steps, 1)
    return {"budget": int(0.2 * horizon * context.env.num_envs), "horizon": horizon}


@register_policy(
    "hatch", kind="online", description="budget-constrained LinUCB (HATCH)", defaults=_budget_for_the_online_phase
)
class HATCH(LinUCB):
    """LinUCB whose exploration is rationed by a budget of user-steps; see the module docstring."""

    def __init__(
        self,
        slate_size: int,
        budget: int,
        horizon: int,
        num_classes: int = 8,
        alpha: float = 1.0,
        class_learning_rate: float = 0.05,
        **kwargs: Any,
    ) -> None:
        if budget < 0:
            raise ConfigError(f"budget (exploratory user-steps) must be >= 0; got {budget}.")
        if horizon <= 0:
            raise ConfigError(f"horizon (steps to spread the budget over) must be positive; got {horizon}.")
        if num_classes <= 0:
            raise ConfigError(f"num_classes must be positive; got {num_classes}.")
        if not 0 < class_learning_rate <= 1:
            raise ConfigError(f"class_learning_rate must lie in (0, 1]; got {class_learning_rate}.")
        super().__init__(slate_size, alpha=alpha, **kwargs)
        self.budget = budget
        self.horizon = horizon
        self.num_classes = num_classes
        self.class_learning_rate = class_learning_rate
        self.spent = 0
        self.steps = 0
        self.centers: torch.Tensor | None = None
        self.class_frequency: torch.Tensor | None = None
        self.class_value: torch.Tensor | None = None
        self.last_explored: torch.Tensor | None = None
        """Which users were served the exploratory slate at the last ``act``, bool [B]."""

    # -- resource allocation ------------------------------------------------------------------
    def _assign_classes(self, contexts: torch.Tensor) -> torch.Tensor:
        """Nearest center of each user context [B, F], after one online k-means step; int64 [B]."""
        if self.centers is None:
            picks = torch.linspace(0, contexts.shape[0] - 1, self.num_classes, device=contexts.device).long()
            self.centers = contexts[picks].clone() + 1e-3 * self._noise(contexts[picks])
            self.class_frequency = torch.full((self.num_classes,), 1.0 / self.num_classes, device=contexts.device)
            self.class_value = torch.zeros(self.num_classes, device=contexts.device)
        if self.centers.device != contexts.device:  # loaded on the CPU, used elsewhere
            self.centers = self.centers.to(contexts.device)
            self.class_frequency = self.class_frequency.to(contexts.device)
            self.class_value = self.class_value.to(contexts.device)
        classes = torch.cdist(contexts, self.centers).argmin(dim=1)
        members = torch.zeros(self.num_classes, device=contexts.device).index_add_(
            0, classes, torch.ones_like(classes, dtype=torch.float32)
        )
        sums = torch.zeros_like(self.centers).index_add_(0, classes, contexts)
        seen = members > 0
        means = sums / members.clamp_min(1.0).unsqueeze(1)
        self.centers = torch.where(
            seen.unsqueeze(1), self.centers + self.class_learning_rate * (means - self.centers), self.centers
        )
        return classes

    def _allocation(self, classes: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        """Exploration probability of each class from the budget LP, [J]."""
        assert self.class_frequency is not None and self.class_value is not None
        num_users = classes.shape[0]
        rate = self.class_learning_rate
        counts = torch.zeros(self.num_classes, device=gaps.device).index_add_(0, classes, torch.ones_like(gaps))
        gap_sums = torch.zeros(self.num_classes, device=gaps.device).index_add_(0, classes, gaps)
        self.class_frequency = (1 - rate) * self.class_frequency + rate * counts / num_users
        seen = counts > 0
        self.class_value = torch.where(
            seen, (1 - rate) * self.class_value + rate * gap_sums / counts.clamp_min(1.0), self.class_value
        )
        remaining_steps = max(1, self.horizon - self.steps)
        spend_rate = (self.budget - self.spent) / (remaining_steps * num_users)
        return allocate_exploration(self.class_value, self.class_frequency, spend_rate)

    # -- acting -----------------------------------------------------------------------------------
    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        mean = self.mean_scores(observation)
        greedy = self.slate_from_scores(mean)
        if not explore:
            return greedy
        upper = self.upper_scores(observation)
        optimistic = self.slate_from_scores(upper)
        gaps = (upper.gather(1, optimistic).sum(dim=1) - mean.gather(1, greedy).sum(dim=1)).clamp_min(0.0)
        classes = self._assign_classes(history_profile(observation))
        probability = self._allocation(classes, gaps)
        wants = self._noise(gaps.unsqueeze(1)).squeeze(1) < probability[classes]
        remaining = self.budget - self.spent
        if int(wants.sum()) > remaining:
            priority = torch.where(wants, gaps, torch.full_like(gaps, -1.0))
            chosen = torch.topk(priority, remaining).indices
            wants = torch.zeros_like(wants).index_fill_(0, chosen, True)
        self.spent += int(wants.sum())
        self.steps += 1
        self.last_explored = wants
        return torch.where(wants.unsqueeze(1), optimistic, greedy)

    def learned_state(self) -> dict[str, Any]:
        state = super().learned_state()
        state["allocation"] = {
            "spent": self.spent,
            "steps": self.steps,
            "centers": None if self.centers is None else self.centers.cpu().clone(),
            "class_frequency": None if self.class_frequency is None else self.class_frequency.cpu().clone(),
            "class_value": None if self.class_value is None else self.class_value.cpu().clone(),
        }
        return state

    def load_learned_state(self, state: dict[str, Any]) -> None:
        super().load_learned_state(state)
        allocation = state["allocation"]
        self.spent, self.steps = int(allocation["spent"]), int(allocation["steps"])
        self.centers, self.class_frequency, self.class_value = (
            allocation["centers"],
            allocation["class_frequency"],
            allocation["class_value"],
        )
