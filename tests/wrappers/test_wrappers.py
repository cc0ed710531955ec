import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from recgym.wrappers import (
    EpisodeEngagement,
    EpisodeEngagementVector,
    FlattenObservation,
    FlattenVectorObservation,
    NumpyVector,
    ScoreToSlate,
    ScoreToSlateVector,
)
from recgym.wrappers.sb3 import SB3VecEnv
from tests.conftest import ENV_ID, make_vector_env


def test_numpy_vector_converts_both_ways() -> None:
    env = NumpyVector(make_vector_env(num_envs=3))
    observation, _ = env.reset(seed=0)
    assert isinstance(observation["candidate_features"], np.ndarray)
    observation, reward, terminated, _, info = env.step(np.array([[0, 1]] * 3))
    assert isinstance(reward, np.ndarray) and reward.shape == (3,) and terminated.dtype == bool
    assert isinstance(info["response"]["clicked"], np.ndarray)


def test_flat_observation_concatenates_all_but_ids() -> None:
    env = FlattenObservation(gym.make(ENV_ID, num_items=300))
    observation, _ = env.reset(seed=0)
    expected = 10 * 20 + 10 * 20 + 10 + 10 + 1
    assert observation.shape == (expected,) and env.observation_space.contains(observation)
    vector = FlattenVectorObservation(make_vector_env(num_envs=4))
    batch, _ = vector.reset(seed=0)
    assert batch.shape == (4, expected)


def test_score_actions_show_the_top_k() -> None:
    env = ScoreToSlateVector(make_vector_env(num_envs=2))
    env.reset(seed=0)
    scores = torch.zeros(2, 10)
    scores[0, [7, 3]] = torch.tensor([1.0, 0.5])
    scores[1, [2, 9]] = torch.tensor([0.2, 0.9])
    env.step(scores)
    assert env.actions(scores).tolist() == [[7, 3], [9, 2]]
    single = ScoreToSlate(gym.make(ENV_ID, num_items=300))
    single.reset(seed=0)
    assert single.action(np.arange(10, dtype=np.float32)).tolist() == [9, 8]
    assert single.action_space.shape == (10,)


def test_engagement_statistics_sum_each_episode() -> None:
    env = EpisodeEngagementVector(make_vector_env(num_envs=4, max_episode_steps=12))
    env.reset(seed=0)
    watched = torch.zeros(4)
    for _ in range(12):
        _, _, _, truncated, info = env.step(torch.tensor([[0, 1]] * 4))
        watched += info["response"].watch_time.sum(dim=1)
    assert truncated.all() and info["_episode"].all()
    assert torch.allclose(info["episode"]["watch_time"], watched)
    assert torch.allclose(info["episode"]["return"], watched)  # watch-time reward
    assert torch.all(info["episode"]["length"] == 12)
    single = EpisodeEngagement(gym.make(ENV_ID, num_items=300, max_episode_steps=5))
    single.reset(seed=0)
    for _ in range(5):
        *_, info = single.step(np.array([0, 1]))
    assert info["episode"]["length"] == 5


@pytest.mark.parametrize("flatten", [False, True])
def test_sb3_ppo_trains_on_the_adapter(flatten: bool) -> None:
    adapter = SB3VecEnv(make_vector_env(num_envs=16, max_episode_steps=20), flatten=flatten)
    model = PPO(
        "MlpPolicy" if flatten else "MultiInputPolicy", adapter, n_steps=16, batch_size=64, seed=0, device="cpu"
    )
    model.learn(16 * 16 * 3)
    assert model.num_timesteps >= 16 * 16 * 3
    assert len(model.ep_info_buffer) > 0  # episodes finished and were logged with terminal observations
    lengths = [info["l"] for info in model.ep_info_buffer]
    assert all(1 <= length <= 20 for length in lengths)
    assert all(info["r"] >= 0 for info in model.ep_info_buffer)  # watch time is never negative


def test_sb3_adapter_repairs_duplicates_and_reports_terminal_observations() -> None:
    adapter = SB3VecEnv(make_vector_env(num_envs=3, max_episode_steps=2))
    observation = adapter.reset()
    assert set(observation) == {
        "candidate_features",
        "history_features",
        "history_clicked",
        "history_watch_time",
        "elapsed",
    }
    adapter.step(np.array([[4, 4]] * 3))  # duplicates are repaired, not raised
    _, _, dones, infos = adapter.step(np.array([[1, 2]] * 3))
    assert dones.all()
    assert all("terminal_observation" in info and info["TimeLimit.truncated"] for info in infos)
