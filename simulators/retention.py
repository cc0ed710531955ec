"""Leave-and-return retention, shared by every simulator whose episodes span many sessions.

An episode is a stretch of simulated calendar time (``horizon_days``). Within a session
each step is one slate; after every step a satisfied user is less likely to leave. When a
user leaves, the time until their next session is drawn from an exponential distribution
whose mean grows as satisfaction falls; the clock jumps by that gap, and the episode ends
when the next session would start after the horizon. So an unhappy user has shorter
sessions, longer absences and fewer sessions in all: long-term engagement and retention
both fall, which is what makes myopic policies lose (KuaiSim's cross-session setting).

Satisfaction is any per-user value in [0, 1] the simulator maintains; this module only
turns it into leave and return events.
"""

from __future__ import annotations

import dataclasses

import torch

from recgym.core import random
from recgym.core.session import SESSION_COLUMNS
from recgym.core.simulator import (
    NON_NEGATIVE,
    POSITIVE,
    UNIT,
    FeatureSpec,
    ParamLike,
    SimParams,
    bounded,
    param_max,
)
from recgym.core.state import TensorState
from recgym.errors import ConfigError

_SESSION_STEP_SCALE = 100.0
"""Divides steps-in-session for the observation, like the env's ``step_scale``."""


@dataclasses.dataclass(frozen=True)
class RetentionParams(SimParams):
    """Leave and return parameters; simulator params inherit these fields."""

    horizon_days: ParamLike = bounded(30.0, POSITIVE)
    """Length of an episode in simulated days; it ends when the next session would start later."""
    leave_base: ParamLike = bounded(0.02, UNIT)
    """Probability of leaving after any step, even when fully satisfied."""
    leave_dissatisfaction: ParamLike = bounded(0.10, NON_NEGATIVE)
    """Added leave probability per unit of dissatisfaction (1 - satisfaction)."""
    return_gap_days: ParamLike = bounded(1.0, POSITIVE)
    """Mean days until the next session at satisfaction 0.5."""
    return_gap_sensitivity: ParamLike = bounded(3.0, NON_NEGATIVE)
    """How strongly satisfaction shortens the gap: mean = return_gap_days * exp(s * (0.5 - satisfaction))."""

    def check_relations(self) -> None:
        super().check_relations()
        if param_max(self.leave_base) + param_max(self.leave_dissatisfaction) > 1:
            raise ConfigError(
                f"{type(self).__name__}: leave_base + leave_dissatisfaction is a probability and must be <= 1; "
                f"got {self.leave_base} + {self.leave_dissatisfaction}."
            )


@dataclasses.dataclass(frozen=True)
class SessionState(TensorState):
    """Where each user is in simulated time, float/int [B]."""

    clock_days: torch.Tensor
    """Days since the episode began, at the start of the current session."""
    session_index: torch.Tensor
    """Sessions completed so far, int64."""
    session_step: torch.Tensor
    """Steps taken in the current session, int64."""
    last_gap_days: torch.Tensor
    """Length of the absence before the current session (0 in the first)."""
    days_active: torch.Tensor
    """Distinct calendar days with a session so far, int64."""

    @classmethod
    def start(cls, num_users: int, device: torch.device) -> SessionState:
        zeros = torch.zeros(num_users, device=device)
        counts = torch.zeros(num_users, dtype=torch.int64, device=device)
        return cls(zeros, counts, counts, zeros, counts + 1)


@dataclasses.dataclass(frozen=True)
class SessionEvents:
    """What happened to sessions this step, [B] each."""

    left: torch.Tensor
    """The session ended after this step."""
    return_gap: torch.Tensor
    """Days until the next session where ``left``, else 0."""
    returned: torch.Tensor
    """The session ended and the next one starts within the horizon."""
    churned: torch.Tensor
    """The session ended and the next one would start after the horizon: the episode is over."""


def advance_sessions(
    session: SessionState, satisfaction: torch.Tensor, params: RetentionParams, keys: torch.Tensor
) -> tuple[SessionState, SessionEvents]:
    """One step of leave-and-return for every user, given satisfaction in [0, 1] after the step.

    ``keys`` must be a stream of the simulator's own (``random.fold_in``): two uniforms are drawn from it.
    """
    dissatisfaction = (1.0 - satisfaction).clamp(0.0, 1.0)
    leave_probability = params.leave_base + params.leave_dissatisfaction * dissatisfaction
    leave_u, gap_u = random.uniform(keys, (2,)).unbind(1)
    left = leave_u < leave_probability
    mean_gap = params.return_gap_days * torch.exp(params.return_gap_sensitivity * (0.5 - satisfaction))
    exponential = -torch.log1p(-gap_u)
    gap = torch.where(left, mean_gap * exponential, torch.zeros_like(mean_gap))
    next_clock = session.clock_days + gap
    churned = left & (next_clock >= params.horizon_days)
    returned = left & ~churned
    new_day = returned & (next_clock.floor() > session.clock_days.floor())
    next_session = SessionState(
        clock_days=next_clock,
        session_index=session.session_index + left.to(torch.int64),
        session_step=torch.where(left, torch.zeros_like(session.session_step), session.session_step + 1),
        last_gap_days=torch.where(left, gap, session.last_gap_days),
        days_active=session.days_active + new_day.to(torch.int64),
    )
    return next_session, SessionEvents(left=left, return_gap=gap, returned=returned, churned=churned)


def observe_session(session: SessionState, params: RetentionParams) -> torch.Tensor:
    """What a recommender knows about each user's sessions, [B, 4]: all of it is logged in real systems.

    Columns (``recgym.core.session.SESSION_COLUMNS``): fraction of the horizon elapsed, session
    index / 100, steps in this session / 100, and the last absence in units of ``return_gap_days``.
    """
    columns = {
        "horizon_elapsed": (session.clock_days / params.horizon_days).clamp(0.0, 1.0),
        "session_index": session.session_index.to(torch.float32) / _SESSION_STEP_SCALE,
        "session_step": session.session_step.to(torch.float32) / _SESSION_STEP_SCALE,
        "last_gap": session.last_gap_days / params.return_gap_days,
    }
    return torch.stack([columns[name] for name in SESSION_COLUMNS], dim=1)


SESSION_OBSERVATION_SPEC = FeatureSpec((4,), 0.0, float("inf"))
"""Spec of ``observe_session``'s output, per user."""


class SessionUser:
    """Protocol methods shared by simulators whose state has a ``session`` and params a horizon.

    Mixed into a simulator class: the episode ends at the horizon in days, and the policy sees
    only the session context. Subclasses add their own observations by extending ``observe``.
    """

    params: RetentionParams

    def terminated(self, state: TensorState) -> torch.Tensor:
        return state.session.clock_days >= self.params.horizon_days  # type: ignore[attr-defined]

    def observe(self, state: TensorState) -> dict[str, torch.Tensor]:
        return {"session": observe_session(state.session, self.params)}  # type: ignore[attr-defined]

    def observation_spec(self) -> dict[str, FeatureSpec]:
        return {"session": SESSION_OBSERVATION_SPEC}
