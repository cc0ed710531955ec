"""Leave and return: unhappy users leave sooner and come back later."""

import math

import pytest
import torch

from recgym.core import random
from recgym.errors import ConfigError
from simulators.retention import RetentionParams, SessionState, advance_sessions, observe_session


def _advance(satisfaction: float, params: RetentionParams, num_users: int = 50000):
    session = SessionState.start(num_users, torch.device("cpu"))
    keys = random.keys_from_seeds(torch.arange(num_users))
    return advance_sessions(session, torch.full((num_users,), satisfaction), params, keys)


def test_leave_probability_follows_satisfaction() -> None:
    params = RetentionParams(leave_base=0.05, leave_dissatisfaction=0.3)
    for satisfaction in (0.1, 0.5, 0.9):
        _, events = _advance(satisfaction, params)
        expected = 0.05 + 0.3 * (1 - satisfaction)
        assert events.left.float().mean().item() == pytest.approx(expected, abs=0.006)


def test_return_gaps_lengthen_after_bad_sessions() -> None:
    params = RetentionParams(leave_base=1.0, leave_dissatisfaction=0.0, horizon_days=1e6)
    means = {}
    for satisfaction in (0.2, 0.8):
        _, events = _advance(satisfaction, params)
        means[satisfaction] = events.return_gap.mean().item()
        expected = params.return_gap_days * math.exp(params.return_gap_sensitivity * (0.5 - satisfaction))
        assert means[satisfaction] == pytest.approx(expected, rel=0.03)  # exponential gaps
    assert means[0.2] > 5 * means[0.8]


def test_sessions_advance_the_clock_count_days_and_churn_past_the_horizon() -> None:
    params = RetentionParams(leave_base=1.0, leave_dissatisfaction=0.0, horizon_days=2.0, return_gap_days=1.0)
    session, events = _advance(0.5, params, num_users=20000)
    assert torch.equal(events.returned | events.churned, events.left)
    assert torch.equal(events.churned, session.clock_days >= 2.0)
    assert events.churned.float().mean().item() == pytest.approx(math.exp(-2.0), abs=0.01)
    assert torch.all(session.session_index == 1) and torch.all(session.session_step == 0)
    new_day = events.returned & (session.clock_days >= 1.0)
    assert torch.equal(session.days_active, 1 + new_day.long())
    observed = observe_session(session, params)
    assert observed.shape == (20000, 4) and observed[:, 0].max() <= 1.0


def test_staying_users_count_steps_in_the_session() -> None:
    params = RetentionParams(leave_base=0.0, leave_dissatisfaction=0.0)
    session, events = _advance(0.5, params, num_users=10)
    assert not events.left.any() and torch.all(session.session_step == 1) and torch.all(events.return_gap == 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("horizon_days", 0.0), ("return_gap_days", -1.0), ("leave_base", -0.1), ("return_gap_sensitivity", -2.0)],
)
def test_bad_retention_parameters_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        RetentionParams(**{field: value}).check()
