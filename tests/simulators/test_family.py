"""Sim2Rec families: per-user hidden parameters, new ones each episode, a disjoint held-out family."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from recgym.errors import ConfigError
from simulators.family import FAMILIES, FamilyUser, make_family_simulator

FAMILY_ID = "recgym/Sim2RecFamily-v0"


def _vector(env_id: str = FAMILY_ID, num_envs: int = 512, **kwargs):
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", num_items=300, **kwargs)


def test_parameters_vary_per_user_within_the_family_ranges() -> None:
    env = _vector().unwrapped
    env.reset(seed=0)
    drawn = env.simulator.drawn_params(env.state.user)
    for name, spec in FAMILIES["long_term_satisfaction"]["train"].items():
        low, high = spec["uniform"]
        values = drawn[name]
        assert low <= values.min() and values.max() <= high, name
        assert values.std() > 0.2 * (high - low) / np.sqrt(12), name  # really spread, not one value


def test_each_new_episode_draws_new_parameters() -> None:
    env = _vector(num_envs=64, max_episode_steps=3).unwrapped
    env.reset(seed=0)
    first = env.simulator.drawn_params(env.state.user)["sensitivity"].clone()
    for _ in range(3):
        env.step(torch.tensor([[0, 1]] * 64))  # every user is truncated and reset on the third step
    assert not torch.isclose(env.simulator.drawn_params(env.state.user)["sensitivity"], first).any()


def test_parameters_are_hidden_from_the_observation_but_change_behaviour() -> None:
    family = _vector()
    base = _vector("recgym/LongTermSatisfaction-v0")
    assert family.single_observation_space == base.single_observation_space
    # Same users, very different hidden parameters (train vs held-out family): identical observations.
    heldout = _vector(family="heldout").unwrapped
    heldout_observation, _ = heldout.reset(seed=1)
    env = family.unwrapped
    observation, _ = env.reset(seed=1)
    sensitivity = env.simulator.drawn_params(env.state.user)["sensitivity"]
    assert (heldout.simulator.drawn_params(heldout.state.user)["sensitivity"] > sensitivity).all()
    for name, value in observation.items():
        assert torch.equal(value, heldout_observation[name]), name
    # The same clickbait diet moves sensitive users' satisfaction further: the draws matter.
    most_clickbait = observation["candidate_features"][..., -1].topk(2, dim=1).indices
    for _ in range(15):
        observation, *_ = env.step(most_clickbait)
        most_clickbait = observation["candidate_features"][..., -1].topk(2, dim=1).indices
    state = env.state.user
    satisfaction = env.simulator._for_state(state).satisfaction(state.user)
    sensitive = sensitivity > sensitivity.median()
    assert satisfaction[sensitive].mean() < satisfaction[~sensitive].mean() - 0.03


def test_heldout_family_is_disjoint_from_train() -> None:
    for families in FAMILIES.values():
        for name, spec in families["train"].items():
            train_low, train_high = spec["uniform"]
            heldout_low, heldout_high = families["heldout"][name]["uniform"]
            assert train_high <= heldout_low or heldout_high <= train_low, name
    for base in FAMILIES:
        heldout = make_family_simulator(base=base, family="heldout", num_items=100)
        assert isinstance(heldout, FamilyUser)


def test_any_env_takes_a_param_distribution_and_bad_ones_fail() -> None:
    env = _vector("recgym/MultiBehaviorRetention-v0", num_envs=32, param_distribution={"mood_std": {"uniform": [0, 1]}})
    env.reset(seed=0)
    assert env.unwrapped.simulator.drawn_params(env.unwrapped.state.user)["mood_std"].std() > 0.1
    with pytest.raises(ConfigError, match="does not have"):
        _vector("recgym/InterestEvolution-v0", param_distribution={"sensitivity": {"uniform": [0, 1]}})
    with pytest.raises(ConfigError, match="Unknown family"):
        make_family_simulator(family="extreme", num_items=100)
    with pytest.raises(ConfigError, match="Unknown base simulator"):
        make_family_simulator(base="nope", num_items=100)
