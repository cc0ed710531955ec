"""LinearClick: rewards exactly linear in features, and an exact slate oracle."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import recgym  # noqa: F401  (registers the envs)
from recgym.core import random
from recgym.errors import ConfigError
from simulators.linear_click import make_simulator


def test_expected_reward_is_linear_in_the_visible_features() -> None:
    simulator = make_simulator(num_items=200, num_features=6, theta_spread=0.3)
    state = simulator.reset(random.keys_from_seeds(torch.arange(5)))
    items = torch.randint(200, (5, 7), generator=torch.Generator().manual_seed(0))
    features = simulator.item_features(items)
    linear = 0.5 + 0.4 * torch.einsum("bcd,bd->bc", features, state.theta)
    torch.testing.assert_close(simulator.expected_reward(state, items), linear)


def test_slate_oracle_matches_empirical_clicks_under_position_decay() -> None:
    simulator = make_simulator(num_items=50, num_features=4, theta_spread=0.5, position_decay=0.6)
    num_users = 20_000
    keys = random.keys_from_seeds(torch.arange(num_users))
    state = simulator.reset(keys)
    slate = torch.tensor([3, 17, 42]).expand(num_users, 3)
    _, response = simulator.step(state, slate, random.fold_in(keys, 9))
    empirical = response.clicked.float().sum(dim=1).mean()
    exact = simulator.expected_slate_reward(state, slate).mean()
    standard_error = response.clicked.float().sum(dim=1).std() / num_users**0.5
    assert abs(float(empirical - exact)) < 4 * float(standard_error)
    # Examination falls by position: the same item clicks less often lower down.
    shifted = torch.tensor([42, 3, 17]).expand(num_users, 3)
    assert simulator.expected_slate_reward(state, shifted).mean() != pytest.approx(float(exact), abs=1e-6)


def test_zero_spread_gives_every_user_the_population_taste() -> None:
    simulator = make_simulator(theta_spread=0.0)
    state = simulator.reset(random.keys_from_seeds(torch.arange(8)))
    torch.testing.assert_close(state.theta, simulator.population_theta.expand(8, -1))


@pytest.mark.parametrize(
    "params",
    [{"click_base": 0.8, "click_scale": 0.4}, {"click_base": 0.2, "click_scale": 0.3}, {"position_decay": 0.0}],
)
def test_click_probabilities_outside_zero_one_are_rejected(params: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match=r"click|position_decay"):
        make_simulator(**params)


def test_env_reports_exact_slate_values() -> None:
    env = gym.make_vec("recgym/LinearClick-v0", num_envs=4, vectorization_mode="vector_entry_point", seed=0)
    env.reset()
    slate = torch.tensor([[0, 1]] * 4)
    by_item = env.expected_reward().gather(1, slate).sum(dim=1)
    torch.testing.assert_close(env.expected_slate_reward(slate), by_item)
