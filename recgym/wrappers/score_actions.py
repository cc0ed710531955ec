"""Score actions: act with one score per candidate; the top-K scores become the slate.

For continuous-action learners (PPO/SAC with a Box head): every action is a valid slate,
so there are no duplicate positions to repair and K can change without changing the net.
Scores of the wrong shape, or NaN, raise InvalidSlateError naming the shape or the users.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorActionWrapper
from gymnasium.vector.utils import batch_space

from recgym.core.slate import name_users, top_k_slate
from recgym.errors import InvalidSlateError

_NAN_ROW = -1
"""Slate position that marks a user whose scores hold NaN: out of range, so the env's own range check
(one batched test it runs anyway) catches it, and the wrapper turns that error into a NaN message."""


def score_space(num_candidates: int, bound: float) -> spaces.Box:
    """Candidate scores in [-bound, bound], as continuous policies expect bounded actions."""
    return spaces.Box(low=-bound, high=bound, shape=(num_candidates,), dtype=np.float32)


def _nan_message(where: str) -> str:
    return (
        f"Candidate scores are NaN for {where}; a slate needs a real score for every candidate. "
        "NaN usually comes from the policy (a diverged network, 0/0 in a normalisation): check its outputs, "
        "or replace NaN first, e.g. torch.nan_to_num(scores, nan=-1e9) to rank those candidates last."
    )


class ScoreToSlate(gym.ActionWrapper):
    """Single env: action is a Box of C scores; the env sees the K highest, best first."""

    def __init__(self, env: gym.Env, bound: float = 1.0) -> None:
        super().__init__(env)
        self.slate_size = int(env.action_space.shape[0])
        self.num_candidates = int(env.action_space.nvec[0])
        self.action_space = score_space(self.num_candidates, bound)

    def action(self, action: Any) -> np.ndarray:
        try:
            scores = np.asarray(action.cpu() if isinstance(action, torch.Tensor) else action, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise InvalidSlateError(
                f"ScoreToSlate takes {self.num_candidates} numeric scores, one per candidate; got {action!r}."
            ) from error
        if scores.shape != (self.num_candidates,):
            raise InvalidSlateError(
                f"ScoreToSlate takes one score per candidate, shape ({self.num_candidates},); got shape "
                f"{scores.shape}. Give a score for each of the env's {self.num_candidates} candidates "
                "(action_space.shape)."
            )
        nan = np.isnan(scores)
        if nan.any():
            raise InvalidSlateError(_nan_message(f"candidate position(s) {np.flatnonzero(nan).tolist()}"))
        return np.argsort(-scores, kind="stable")[: self.slate_size]


class ScoreToSlateVector(VectorActionWrapper):
    """Vector env: actions are scores [B, C] (torch or numpy); top-K per user becomes the slate.

    The NaN check adds no device-to-host copy per step: a user with a NaN score gets an
    out-of-range slate, which the env's range check (one sync it already makes) rejects; the
    wrapper then raises the NaN error naming those users.
    """

    def __init__(self, env: gym.vector.VectorEnv, bound: float = 1.0) -> None:
        super().__init__(env)
        self.slate_size = int(env.single_action_space.shape[0])
        self.num_candidates = int(env.single_action_space.nvec[0])
        self.single_action_space = score_space(self.num_candidates, bound)
        self.action_space = batch_space(self.single_action_space, env.num_envs)

    def _scores(self, actions: Any) -> torch.Tensor:
        """The scores as a float tensor [B, C], or InvalidSlateError naming the shape expected."""
        try:
            scores = actions if isinstance(actions, torch.Tensor) else torch.as_tensor(np.asarray(actions))
        except (TypeError, ValueError) as error:
            raise InvalidSlateError(
                f"ScoreToSlateVector takes scores of shape ({self.num_envs}, {self.num_candidates}); "
                f"got {type(actions).__name__}."
            ) from error
        if tuple(scores.shape) != (self.num_envs, self.num_candidates):
            raise InvalidSlateError(
                f"ScoreToSlateVector takes one score per user and candidate, shape ({self.num_envs}, "
                f"{self.num_candidates}); got shape {tuple(scores.shape)}. Give each of the {self.num_envs} users "
                f"a score for each of its {self.num_candidates} candidates (single_action_space.shape)."
            )
        if not scores.dtype.is_floating_point:
            scores = scores.to(torch.float32)
        return scores

    def _slate(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-K slates [B, K], with rows of users whose scores hold NaN set to ``_NAN_ROW``; and those users [B]."""
        has_nan = torch.isnan(scores).any(dim=1)
        slate = top_k_slate(scores, self.slate_size)
        return slate.masked_fill(has_nan.unsqueeze(1), _NAN_ROW), has_nan

    def actions(self, actions: Any) -> torch.Tensor:
        """The slates [B, K] for scores [B, C]; InvalidSlateError if any user's scores hold NaN."""
        slate, has_nan = self._slate(self._scores(actions))
        if bool(has_nan.any()):  # called on its own, outside step(): one check here
            raise InvalidSlateError(_nan_message(name_users(has_nan)))
        return slate

    def step(self, actions: Any) -> Any:
        slate, has_nan = self._slate(self._scores(actions))
        try:
            return self.env.step(slate)
        except InvalidSlateError:
            if bool(has_nan.any()):  # only on the error path
                raise InvalidSlateError(_nan_message(name_users(has_nan))) from None
            raise
