"""A frozen high level that asks a language model which goal suits each user's history."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from recgym.errors import ConfigError
from recgym.llm.backends.base import LLMBackend


class LLMGoalPlanner:
    """A frozen high level: a language model judges each goal for each user's history; best goal wins.

    One prompt per (user, goal) asks whether the goal suits the user; the score is
    log p(yes) - log p(no) of the next token, read in one batch (no free text is parsed).
    Prompts of one user share their history, so a backend with ``option_logprobs_grouped``
    computes it once. The highest score wins, ties to the lowest goal: deterministic.
    """

    SYSTEM = (
        "You plan what a video recommender should do next for one user. "
        "Read the user's recent activity and answer the question with yes or no."
    )

    def __init__(
        self,
        backend: LLMBackend,
        goal_descriptions: Sequence[str],
        answers: tuple[str, str] = ("yes", "no"),
        system_prompt: str | None = None,
    ) -> None:
        if not goal_descriptions:
            raise ConfigError("LLMGoalPlanner needs at least one goal description.")
        self.backend = backend
        self.goal_descriptions = list(goal_descriptions)
        self.answers = list(answers)
        self.system_prompt = self.SYSTEM if system_prompt is None else system_prompt

    def prompts(self, histories: Sequence[str]) -> list[list[str]]:
        """The prompts for each user, one per goal, grouped by user."""
        return [
            [
                self.backend.chat_prompt(
                    self.system_prompt, f"{history}\nShould the next recommendations {goal}? Answer yes or no."
                )
                for goal in self.goal_descriptions
            ]
            for history in histories
        ]

    def scores(self, histories: Sequence[str]) -> torch.Tensor:
        """log p(yes) - log p(no) of every goal for every user, float32 [N, G]."""
        groups = self.prompts(histories)
        grouped = getattr(self.backend, "option_logprobs_grouped", None)
        if grouped is not None:
            log_probs = grouped(groups, self.answers)
        else:
            log_probs = self.backend.option_logprobs([prompt for group in groups for prompt in group], self.answers)
        log_probs = log_probs.reshape(len(histories), len(self.goal_descriptions), 2)
        return log_probs[..., 0] - log_probs[..., 1]

    def plan(self, histories: Sequence[str]) -> torch.Tensor:
        """The chosen goal of each user, int64 [N] on the CPU."""
        if not histories:
            return torch.zeros(0, dtype=torch.int64)
        return self.scores(histories).argmax(dim=1)
