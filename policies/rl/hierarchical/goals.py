"""What a goal is and when it changes: the recommender's topic memory, the goal space, the re-planning schedule."""

from __future__ import annotations

import dataclasses

import torch

from recgym.core.session import SESSION_STEP

NOVELTY_GOALS = ("stay with topics the user already knows", "explore topics that are new to the user")
"""Descriptions of the two novelty goals: 0 familiar, 1 explore."""
_UNTIMED_AGE_SCALE = 100.0
"""Divides a goal's age in the high level's input when there is no period to divide by."""


class TopicMemory:
    """What the recommender remembers of each user's recent topics, from its own logs, [B, ...] tensors.

    ``clicks`` [B, T] is a moving share of clicked topics (an estimate of familiarity); ``shown``
    [B, T] a decaying count of shown topics (an estimate of boredom); ``responses`` [B, 4] decaying
    totals of (novel shown, novel clicked, familiar shown, familiar clicked), with each shown
    item's novelty counted fractionally. Novelty of a topic: 1 - clicks[t] / max clicks.
    """

    def __init__(self, num_users: int, num_topics: int, rate: float, decay: float, device: torch.device) -> None:
        self.rate, self.decay = rate, decay
        self.clicks = torch.zeros(num_users, num_topics, device=device)
        self.shown = torch.zeros(num_users, num_topics, device=device)
        self.responses = torch.zeros(num_users, 4, device=device)

    def novelty(self, topics: torch.Tensor) -> torch.Tensor:
        """How new each topic in ``topics [B, N]`` is to its user, in [0, 1] (1 before any click)."""
        most = self.clicks.max(dim=1, keepdim=True).values.clamp_min(1e-6)
        return 1.0 - self.clicks.gather(1, topics) / most

    def click_rates(self) -> torch.Tensor:
        """Smoothed click rate on novel and on familiar items, [B, 2] (0.5 with no evidence)."""
        shown = self.responses[:, [0, 2]]
        clicked = self.responses[:, [1, 3]]
        return (clicked + 0.5) / (shown + 1.0)

    def record(self, topics: torch.Tensor, clicked: torch.Tensor) -> None:
        """Fold in one step: the shown items' topics [B, K] and which were clicked, float [B, K]."""
        novelty = self.novelty(topics)
        step = torch.stack(
            [novelty.sum(1), (novelty * clicked).sum(1), (1 - novelty).sum(1), ((1 - novelty) * clicked).sum(1)], 1
        )
        self.responses = self.decay * self.responses + step
        self.shown = (self.decay * self.shown).scatter_add_(1, topics, torch.ones_like(clicked))
        keep = 1.0 - self.rate * clicked.sum(1, keepdim=True).clamp_max(1.0)
        self.clicks = (self.clicks * keep).scatter_add_(1, topics, self.rate * clicked)

    def reset(self, rows: torch.Tensor) -> None:
        """Forget the users where ``rows [B]`` is true (their new episode starts from nothing)."""
        keep = (~rows).to(self.clicks.dtype).unsqueeze(1)
        self.clicks, self.shown, self.responses = self.clicks * keep, self.shown * keep, self.responses * keep

    def describe(self, rows: torch.Tensor, watch_per_step: torch.Tensor, top: int = 3) -> list[str]:
        """A short text of each user's recent behaviour at ``rows [n]``, for a language model."""
        shares = self.clicks.index_select(0, rows)
        share_values, share_topics = shares.topk(min(top, shares.shape[1]), dim=1)
        shown_counts, shown_topics = self.shown.index_select(0, rows).topk(min(top, shares.shape[1]), dim=1)
        rates = self.click_rates().index_select(0, rows)
        texts = []
        for values, topics, counts, seen, rate, watch in zip(
            share_values.tolist(),
            share_topics.tolist(),
            shown_counts.tolist(),
            shown_topics.tolist(),
            rates.tolist(),
            watch_per_step.tolist(),
            strict=True,
        ):
            clicked = ", ".join(f"topic {t} ({v:.0%})" for t, v in zip(topics, values, strict=True) if v > 0.005)
            shown = ", ".join(f"topic {t}" for t, count in zip(seen, counts, strict=True) if count > 0.05)
            texts.append(
                f"Recent clicks by topic: {clicked or 'none yet'}. "
                f"Recently shown topics: {shown or 'none yet'}. "
                f"Click rate on unfamiliar topics {rate[0]:.2f}, on familiar topics {rate[1]:.2f}. "
                f"Watch time per step {watch:.1f} min."
            )
        return texts

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"clicks": self.clicks, "shown": self.shown, "responses": self.responses}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        device = self.clicks.device
        self.clicks, self.shown, self.responses = (state[key].to(device) for key in ("clicks", "shown", "responses"))


@dataclasses.dataclass(frozen=True)
class GoalSpace:
    """The goals a high level chooses from, and how well each candidate matches a user's goal."""

    kind: str
    num_topics: int

    @property
    def num_goals(self) -> int:
        return self.num_topics if self.kind == "topic" else len(NOVELTY_GOALS)

    def descriptions(self) -> list[str]:
        """What each goal asks of the next recommendations, in words (for the LLM planner)."""
        if self.kind == "topic":
            return [f"come from topic {topic}" for topic in range(self.num_topics)]
        return list(NOVELTY_GOALS)

    def match(self, goal: torch.Tensor, topics: torch.Tensor, memory: TopicMemory) -> torch.Tensor:
        """Match in [0, 1] of items with ``topics [B, N]`` to each user's ``goal [B]``, [B, N]."""
        if self.kind == "topic":
            return (topics == goal.unsqueeze(1)).to(torch.float32)
        novelty = memory.novelty(topics)
        explore = goal.unsqueeze(1) == 1
        return torch.where(explore, novelty, 1.0 - novelty)


@dataclasses.dataclass(frozen=True)
class GoalSchedule:
    """When a user's goal is re-planned: a new episode, a new session, or the period elapsed."""

    period: int
    on_session: bool

    @property
    def age_scale(self) -> float:
        return float(self.period) if self.period > 0 else _UNTIMED_AGE_SCALE

    @staticmethod
    def new_episode(observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Users whose observation is the first of an episode, [B]."""
        return observation["elapsed"][:, 0] == 0

    def due(self, age: torch.Tensor, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Users to re-plan, [B]; ``age`` counts steps taken with the current goal (-1: none yet).

        Start events re-plan only goals already used (age > 0), so asking twice about one
        observation re-plans once.
        """
        started = self.new_episode(observation)
        if self.on_session and "session" in observation:
            started = started | (observation["session"][:, SESSION_STEP] == 0)
        due = (age < 0) | ((age > 0) & started)
        if self.period > 0:
            due = due | (age >= self.period)
        return due
