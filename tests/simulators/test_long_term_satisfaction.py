"""Choc vs kale: clickbait pays now and costs later, so myopia loses."""

import gymnasium as gym
import pytest
import torch

from recgym.core import random
from recgym.errors import ConfigError
from simulators.long_term_satisfaction import (
    LongTermSatisfactionParams,
    LongTermSatisfactionState,
    LongTermSatisfactionUser,
    make_simulator,
)
from simulators.retention import SessionState

ENV_ID = "recgym/LongTermSatisfaction-v0"


@pytest.fixture
def simulator() -> LongTermSatisfactionUser:
    return make_simulator(num_items=400)


def _items_by_clickbait(simulator: LongTermSatisfactionUser, num_users: int, most: bool) -> torch.Tensor:
    """Every user shown the two most (or least) clickbaity items."""
    order = simulator.clickbait.argsort(descending=most)
    return order[:2].expand(num_users, 2)


def _step_many(simulator, state, items, steps: int, seed: int = 0):
    keys = random.keys_from_seeds(torch.arange(state.batch_size) + seed)
    responses = []
    for _ in range(steps):
        state, response = simulator.step(state, items, random.fold_in(keys, len(responses)))
        responses.append(response)
    return state, responses


def test_clickbait_raises_immediate_clicks_and_engagement(simulator) -> None:
    num_users = 4000
    state = simulator.reset(random.keys_from_seeds(torch.arange(num_users)))
    _, [choc] = _step_many(simulator, state, _items_by_clickbait(simulator, num_users, most=True), 1)
    _, [kale] = _step_many(simulator, state, _items_by_clickbait(simulator, num_users, most=False), 1)
    assert choc.clicked.any(dim=1).float().mean() > kale.clicked.any(dim=1).float().mean() + 0.15
    assert choc.watch_time.sum(dim=1).mean() > 1.2 * kale.watch_time.sum(dim=1).mean()


def test_clickbait_erodes_satisfaction_and_later_engagement_and_return(simulator) -> None:
    num_users, steps = 2000, 40
    start = simulator.reset(random.keys_from_seeds(torch.arange(num_users)))
    choc_state, choc = _step_many(simulator, start, _items_by_clickbait(simulator, num_users, True), steps)
    kale_state, kale = _step_many(simulator, start, _items_by_clickbait(simulator, num_users, False), steps)
    assert simulator.satisfaction(choc_state).mean() < 0.35 < 0.55 < simulator.satisfaction(kale_state).mean()

    def later(responses, name):
        return torch.stack([getattr(r, name).float() for r in responses[steps // 2 :]])

    # Later on, the clickbait diet pays less per click, and users leave more and stay away longer.
    choc_per_click = later(choc, "watch_time").sum() / later(choc, "clicked").sum()
    kale_per_click = later(kale, "watch_time").sum() / later(kale, "clicked").sum()
    assert choc_per_click < kale_per_click
    assert later(choc, "left").mean() > 1.3 * later(kale, "left").mean()
    choc_gaps = later(choc, "return_gap")[later(choc, "left").bool()]
    kale_gaps = later(kale, "return_gap")[later(kale, "left").bool()]
    assert choc_gaps.mean() > 2.0 * kale_gaps.mean()


def _episode_engagement(choose, num_users: int = 256) -> float:
    env = gym.make_vec(ENV_ID, num_envs=num_users, vectorization_mode="vector_entry_point", num_items=500).unwrapped
    observation, _ = env.reset(seed=5)
    active = torch.ones(num_users, dtype=torch.bool)
    total = torch.zeros(num_users)
    while active.any():
        observation, reward, terminated, truncated, _ = env.step(choose(env, observation))
        total += torch.where(active, reward, 0.0)
        active &= ~(terminated | truncated)
    return float(total.mean())


def test_myopic_greedy_loses_to_a_far_sighted_policy_over_the_episode() -> None:
    myopic = _episode_engagement(lambda env, obs: env.expected_reward().topk(2, dim=1).indices)
    kale_first = _episode_engagement(lambda env, obs: (-obs["candidate_features"][..., -1]).topk(2, dim=1).indices)
    assert kale_first > 2.0 * myopic


def test_expected_reward_matches_monte_carlo(simulator) -> None:
    num_users, repeats = 8, 20000
    state = simulator.reset(random.keys_from_seeds(torch.arange(num_users)))
    items = torch.tensor([[3], [50], [7], [99], [120], [8], [300], [42]])
    oracle = simulator.expected_reward(state, items)
    repeated = LongTermSatisfactionState(
        state.net_positive_exposure.repeat_interleave(repeats),
        SessionState.start(num_users * repeats, torch.device("cpu")),
    )
    keys = random.keys_from_seeds(torch.arange(num_users * repeats) + 10**6)
    _, response = simulator.step(repeated, items.repeat_interleave(repeats, dim=0), keys)
    empirical = response.watch_time.view(num_users, repeats).mean(dim=1)
    torch.testing.assert_close(empirical, oracle.squeeze(1), rtol=0.06, atol=0.1)


def test_bad_parameters_raise_clear_errors() -> None:
    with pytest.raises(ConfigError, match="memory_discount"):
        make_simulator(num_items=50, memory_discount=1.0)
    with pytest.raises(ConfigError, match="sensitivity"):
        make_simulator(num_items=50, sensitivity=-0.1)
    with pytest.raises(ConfigError, match="leave_base"):
        make_simulator(num_items=50, leave_base=0.5, leave_dissatisfaction=0.6)
    with pytest.raises(ConfigError, match="horizon_days"):
        make_simulator(num_items=50, horizon_days=0)
    with pytest.raises(ConfigError, match="Unknown argument"):
        make_simulator(num_items=50, clickiness=2.0)
    with pytest.raises(ConfigError, match="num_items"):
        make_simulator(num_items=0)
    catalog = make_simulator(num_items=50).catalog
    with pytest.raises(ConfigError, match="clickbait"):
        LongTermSatisfactionUser(catalog, torch.full((50,), 1.5))
    with pytest.raises(ConfigError, match="one value per item"):
        LongTermSatisfactionUser(catalog, torch.rand(49), LongTermSatisfactionParams())
