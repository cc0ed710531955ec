"""Multi-behaviour feedback from one latent appeal, and retention driven by what users got."""

import dataclasses

import pytest
import torch

from recgym.core import random
from recgym.errors import ConfigError
from simulators.multi_behavior import MultiBehaviorState, MultiBehaviorUser, make_simulator
from simulators.retention import SessionState

NUM_USERS = 6000


@pytest.fixture
def simulator() -> MultiBehaviorUser:
    return make_simulator(num_items=600)


def _users(simulator: MultiBehaviorUser, num_users: int = NUM_USERS, seed: int = 0) -> MultiBehaviorState:
    return simulator.reset(random.keys_from_seeds(torch.arange(num_users) + seed))


def _keys(num_users: int = NUM_USERS, seed: int = 1) -> torch.Tensor:
    return random.keys_from_seeds(torch.arange(num_users) + 10**6 * seed)


def _best_and_worst(simulator: MultiBehaviorUser, state: MultiBehaviorState, width: int) -> tuple:
    """Per user, the ``width`` items of highest and lowest expected watch time among 200."""
    pool = torch.arange(200).expand(state.batch_size, 200)
    value = simulator.expected_reward(state, pool)
    return value.topk(width, dim=1).indices, (-value).topk(width, dim=1).indices


def test_behaviours_are_coherent_and_ordered(simulator) -> None:
    state = _users(simulator)
    best, worst = _best_and_worst(simulator, state, 4)
    _, good = simulator.step(state, best, _keys())
    _, bad = simulator.step(state, worst, _keys())
    for response in (good, bad):
        for name in ("liked", "shared", "followed"):
            assert not (getattr(response, name) & ~response.clicked).any(), f"{name} without a click"
        assert not (response.skipped & response.clicked).any()
        assert torch.all(response.watch_time[~response.clicked] == 0)
    # One appeal drives everything: appealing items win on every behaviour at once.
    for name in ("clicked", "liked", "shared", "followed"):
        assert getattr(good, name).float().mean() > 1.5 * getattr(bad, name).float().mean(), name
    assert good.skipped.float().mean() < bad.skipped.float().mean()
    watched = good.watch_time.sum() / good.clicked.sum()
    assert watched > bad.watch_time.sum() / bad.clicked.sum()
    # Rarer behaviours need more appeal: likes > shares > follows.
    assert good.liked.sum() > good.shared.sum() > good.followed.sum() > 0


def test_choice_is_the_first_click_and_positions_further_down_are_seen_less(simulator) -> None:
    state = _users(simulator)
    same_item = torch.full((NUM_USERS, 4), 5)  # the same item in every position isolates position bias
    _, response = simulator.step(state, same_item, _keys())
    first = torch.where(response.clicked.any(dim=1), response.clicked.int().argmax(dim=1), -1)
    assert torch.equal(response.choice, first)
    examined = (response.clicked | response.skipped).float().mean(dim=0)
    assert examined[0] == 1.0 and torch.all(examined[1:] < examined[:-1])
    assert examined[3].item() == pytest.approx(0.85**3, abs=0.02)


def test_long_items_pay_minutes_now_but_finish_less_and_satisfy_less(simulator) -> None:
    duration = simulator.catalog.duration
    longest, shortest = duration.argsort(descending=True)[:40], duration.argsort()[:40]
    state = _users(simulator)
    long_state, long_response = simulator.step(state, longest[:2].expand(NUM_USERS, 2), _keys())
    short_state, short_response = simulator.step(state, shortest[:2].expand(NUM_USERS, 2), _keys())
    assert long_response.watch_time.sum() > 1.3 * short_response.watch_time.sum()
    assert long_state.satisfaction.mean() < short_state.satisfaction.mean() - 0.03
    long_completion = long_response.watch_time.sum() / (long_response.clicked * duration[longest[:2]]).sum()
    short_completion = short_response.watch_time.sum() / (short_response.clicked * duration[shortest[:2]]).sum()
    assert long_completion < short_completion - 0.2


def test_return_gaps_lengthen_after_bad_sessions(simulator) -> None:
    state = _users(simulator)
    best, worst = _best_and_worst(simulator, state, 2)
    outcomes = {}
    for name, slate in (("good", best), ("bad", worst)):
        current, lefts, gaps = state, [], []
        for step in range(30):
            current, response = simulator.step(current, slate, _keys(seed=step + 2))
            lefts.append(response.left)
            gaps.append(response.return_gap[response.left])
        outcomes[name] = (current.satisfaction.mean(), torch.stack(lefts).float().mean(), torch.cat(gaps).mean())
    (good_sat, good_leave, good_gap), (bad_sat, bad_leave, bad_gap) = outcomes["good"], outcomes["bad"]
    assert bad_sat < 0.3 < 0.6 < good_sat
    assert bad_leave > 1.5 * good_leave
    assert bad_gap > 2 * good_gap


def test_interest_drifts_towards_watched_content(simulator) -> None:
    state = _users(simulator, 2000)
    item = torch.full((2000, 1), 11)
    content = simulator.catalog.embedding[11]
    before = state.interest @ content
    for step in range(20):
        state, _ = simulator.step(state, item, _keys(2000, seed=step + 5))
    assert (state.interest @ content).mean() > before.mean() + 0.05
    torch.testing.assert_close(state.interest.norm(dim=1), torch.ones(2000))


def test_expected_reward_matches_monte_carlo(simulator) -> None:
    users, repeats = 6, 20000
    state = _users(simulator, users)
    items = torch.tensor([[1], [20], [33], [4], [150], [77]])
    oracle = simulator.expected_reward(state, items).squeeze(1)
    repeated = MultiBehaviorState(
        state.interest.repeat_interleave(repeats, dim=0),
        state.satisfaction.repeat_interleave(repeats),
        SessionState.start(users * repeats, torch.device("cpu")),
    )
    _, response = simulator.step(repeated, items.repeat_interleave(repeats, dim=0), _keys(users * repeats, seed=9))
    empirical = response.watch_time.view(users, repeats).mean(dim=1)
    torch.testing.assert_close(empirical, oracle, rtol=0.05, atol=0.02)


def test_bad_parameters_raise_clear_errors(simulator) -> None:
    for field, value in (("position_decay", 1.5), ("mood_std", -1.0), ("satisfaction_memory", 2.0)):
        with pytest.raises(ConfigError, match=field):
            make_simulator(num_items=50, **{field: value})
    with pytest.raises(ConfigError, match="Unknown argument"):
        make_simulator(num_items=50, likeability=1.0)
    with pytest.raises(ConfigError, match="embedding_dim"):
        make_simulator(num_items=50, embedding_dim=0)
    with pytest.raises(ConfigError, match="topic_centroids"):
        MultiBehaviorUser(simulator.catalog, torch.zeros(3, 16))
    with pytest.raises(ConfigError, match="num_items"):
        make_simulator(num_items=0)
    params = dataclasses.replace(simulator.params, leave_base=torch.tensor([0.1, 0.95]))
    with pytest.raises(ConfigError, match="probability"):
        MultiBehaviorUser(simulator.catalog, simulator.topic_centroids, params)
