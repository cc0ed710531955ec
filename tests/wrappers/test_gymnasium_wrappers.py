"""Gymnasium's own vector wrappers on the torch RecVectorEnv: through NumpyVector, as its docstring says."""

import numpy as np
import torch
from gymnasium.wrappers.vector import ClipReward, NormalizeReward, RecordEpisodeStatistics

from recgym.envs.vector_env import RecVectorEnv
from recgym.wrappers import EpisodeEngagementVector, NumpyVector
from tests.conftest import make_vector_env


def test_record_episode_statistics_counts_same_step_autoreset_episodes_through_numpy_vector() -> None:
    recorded = RecordEpisodeStatistics(NumpyVector(make_vector_env(num_envs=4, max_episode_steps=6)))
    engagement = EpisodeEngagementVector(make_vector_env(num_envs=4, max_episode_steps=6))
    recorded.reset(seed=0)
    engagement.reset(seed=0)
    for step in range(12):
        slate = np.array([[step % 10, (step + 1) % 10]] * 4)
        *_, info = recorded.step(slate)
        *_, reference = engagement.step(torch.from_numpy(slate))
    assert info["_episode"].all() and recorded.episode_count == 8
    np.testing.assert_array_equal(info["episode"]["l"], [6, 6, 6, 6])
    np.testing.assert_allclose(info["episode"]["r"], reference["episode"]["return"].numpy(), rtol=1e-6)


def test_reward_wrappers_work_through_numpy_vector() -> None:
    env = ClipReward(NormalizeReward(NumpyVector(make_vector_env(num_envs=4))), -1.0, 1.0)
    env.reset(seed=0)
    _, reward, *_ = env.step(env.action_space.sample())
    assert isinstance(reward, np.ndarray) and reward.shape == (4,) and np.all(np.abs(reward) <= 1.0)


def test_the_torch_env_says_where_numpy_wrappers_go() -> None:
    assert "RecordEpisodeStatistics(NumpyVector(envs))" in RecVectorEnv.__doc__
    assert "RecordEpisodeStatistics(NumpyVector(envs))" in NumpyVector.__doc__
