"""Stable-Baselines3 on a single env: works as given by gym.make, though SB3 samples repeated positions."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO

from recgym.errors import InvalidSlateError
from tests.conftest import ENV_ID


def test_sb3_ppo_learns_on_a_single_env_out_of_the_box() -> None:
    env = gym.make("recgym/LongTermSatisfaction-v0", num_items=300, max_episode_steps=50)
    model = PPO("MultiInputPolicy", env, n_steps=256, batch_size=256, n_epochs=1, seed=0, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.learn(1024)
    assert model.num_timesteps >= 1024
    repaired = [warning for warning in caught if "repaired a slate" in str(warning.message)]
    assert len(repaired) == 1  # said once, not every step
    assert "repair_duplicates=False" in str(repaired[0].message)


def test_repeats_are_repaired_and_reported_in_info() -> None:
    env = gym.make(ENV_ID, num_items=300)
    env.reset(seed=0)
    with pytest.warns(UserWarning, match=r"\[4, 4\] was shown as \[4, 0\]"):
        *_, info = env.step(np.array([4, 4]))
    assert info["slate"].tolist() == [4, 0]
    *_, info = env.step(np.array([3, 1]))
    assert info["slate"].tolist() == [3, 1]
    with pytest.raises(InvalidSlateError, match="out of range"):  # only repeats are repaired
        env.step(np.array([4, 10]))
    strict = gym.make(ENV_ID, num_items=300, repair_duplicates=False)
    strict.reset(seed=0)
    with pytest.raises(InvalidSlateError, match=r"duplicates for user\(s\) 0"):
        strict.step(np.array([4, 4]))


def test_the_vector_env_raises_by_default_and_repairs_when_asked() -> None:
    make = lambda **kwargs: gym.make_vec(  # noqa: E731
        ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", num_items=300, **kwargs
    )
    strict = make()
    strict.reset(seed=0)
    with pytest.raises(InvalidSlateError, match="repair_duplicates=True"):
        strict.step(np.array([[1, 1], [0, 2]]))
    lenient = make(repair_duplicates=True)
    lenient.reset(seed=0)
    lenient.step(np.array([[1, 1], [0, 2]]))
    assert lenient.unwrapped.last_step.slate.tolist() == [[1, 0], [0, 2]]
