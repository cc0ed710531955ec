import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import recgym
from recgym.envs.single_env import RecEnv
from recgym.envs.vector_env import RecVectorEnv
from recgym.errors import ConfigError, DeviceError, InvalidSlateError
from tests.conftest import ENV_ID, env_test_kwargs, make_vector_env


@pytest.mark.parametrize("env_id", recgym.registered_ids())
def test_every_registered_env_passes_gymnasium_and_sb3_checkers(env_id: str) -> None:
    env = gym.make(env_id, **env_test_kwargs(env_id, num_items=300))
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=False)
    vector = gym.make_vec(
        env_id,
        num_envs=3,
        vectorization_mode="vector_entry_point",
        device="cpu",
        **env_test_kwargs(env_id, num_items=300),
    )
    assert isinstance(vector.unwrapped, RecVectorEnv)
    assert vector.unwrapped.max_episode_steps == gym.spec(env_id).max_episode_steps


def test_make_and_make_vec_expose_the_documented_spaces() -> None:
    env = gym.make(ENV_ID, num_candidates=7, slate_size=3, num_items=300)
    assert env.action_space.nvec.tolist() == [7, 7, 7]
    assert env.observation_space["candidate_features"].shape == (7, 20)
    vector = make_vector_env(num_envs=5, num_candidates=7, slate_size=3)
    observation, _ = vector.reset(seed=0)
    assert observation["candidate_features"].shape == (5, 7, 20)
    assert vector.action_space.shape == (5, 3)
    assert vector.action_space.contains(vector.action_space.sample())


def _sequence_of_slates(num_users: int, steps: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(11)
    return [torch.rand(num_users, 10, generator=generator).argsort(dim=1)[:, :2] for _ in range(steps)]


@pytest.mark.parametrize("env_id", recgym.registered_ids())
def test_vector_env_equals_single_envs_with_the_same_seeds_across_episodes(env_id: str) -> None:
    num_users, horizon, steps = 4, 25, 70  # several truncations and autoresets per user
    kwargs = env_test_kwargs(env_id, num_items=500, max_episode_steps=horizon)
    vector = gym.make_vec(env_id, num_envs=num_users, vectorization_mode="vector_entry_point", **kwargs).unwrapped
    singles = [gym.make(env_id, **kwargs) for _ in range(num_users)]
    batch_observation, _ = vector.reset(seed=100)
    single_observations = [env.reset(seed=100 + user)[0] for user, env in enumerate(singles)]
    for slates in _sequence_of_slates(num_users, steps):
        for user in range(num_users):
            for name, value in single_observations[user].items():
                np.testing.assert_allclose(batch_observation[name][user].numpy(), value, rtol=1e-6, err_msg=name)
        batch_observation, reward, terminated, truncated, _ = vector.step(slates)
        for user, env in enumerate(singles):
            observation, single_reward, single_terminated, single_truncated, _ = env.step(slates[user].numpy())
            assert single_reward == pytest.approx(reward[user].item(), rel=1e-6)
            assert (single_terminated, single_truncated) == (bool(terminated[user]), bool(truncated[user]))
            if single_terminated or single_truncated:
                observation, _ = env.reset()
            single_observations[user] = observation


@pytest.mark.parametrize("env_id", recgym.registered_ids())
def test_same_seed_same_trajectory_and_different_seed_differs(env_id: str) -> None:
    def trajectory(seed: int) -> list[torch.Tensor]:
        env = gym.make_vec(
            env_id,
            num_envs=6,
            vectorization_mode="vector_entry_point",
            **env_test_kwargs(env_id, num_items=500, max_episode_steps=40),
        ).unwrapped
        observation, _ = env.reset(seed=seed)
        record = [observation["candidate_ids"]]
        for slates in _sequence_of_slates(6, 60):
            observation, reward, *_ = env.step(slates)
            record += [observation["candidate_ids"], reward]
        return record

    first, again, other = trajectory(7), trajectory(7), trajectory(8)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_autoreset_returns_final_observation_and_starts_a_new_episode() -> None:
    env = make_vector_env(num_envs=3, max_episode_steps=5)
    env.reset(seed=0)
    slate = torch.tensor([[0, 1]] * 3)
    for _ in range(4):
        _, _, _, truncated, info = env.step(slate)
        assert not truncated.any() and "final_obs" not in info
    observation, _, terminated, truncated, info = env.step(slate)
    assert truncated.all() and not terminated.any()
    assert info["_final_obs"].all()
    assert torch.allclose(info["final_obs"]["elapsed"], torch.full((3, 1), 5 / 100))
    assert torch.all(observation["elapsed"] == 0) and torch.all(observation["history_clicked"] == 0)


def test_invalid_slates_raise_naming_users() -> None:
    env = make_vector_env(num_envs=4)
    env.reset(seed=0)
    with pytest.raises(InvalidSlateError, match=r"user\(s\) 2"):
        env.step(torch.tensor([[0, 1], [0, 1], [3, 3], [0, 1]]))
    with pytest.raises(InvalidSlateError, match=r"out of range for user\(s\) 1"):
        env.step(torch.tensor([[0, 1], [0, 10], [0, 1], [0, 1]]))
    with pytest.raises(InvalidSlateError, match="shape"):
        env.step(torch.zeros(4, 3, dtype=torch.int64))
    with pytest.raises(InvalidSlateError, match="dtype"):
        env.step(torch.zeros(4, 2))
    single = RecEnv(make_vector_env(num_envs=1).simulator, repair_duplicates=False)
    single.reset(seed=0)
    with pytest.raises(InvalidSlateError, match="duplicates") as error:
        single.step(np.array([4, 4]))
    assert "recgym.wrappers.ScoreToSlate" in str(error.value) and "repair_duplicates=True" in str(error.value)
    assert "recgym.core" not in str(error.value)  # the fix names public API, not an internal helper


def test_bad_constructor_arguments_fail_with_clear_errors(user_model) -> None:
    with pytest.raises(ConfigError, match="num_envs"):
        RecVectorEnv(user_model, num_envs=0)
    with pytest.raises(ConfigError, match="slate_size"):
        RecVectorEnv(user_model, num_envs=2, num_candidates=3, slate_size=5)
    with pytest.raises(ConfigError, match="candidate_sampler"):
        RecVectorEnv(user_model, num_envs=2, candidate_sampler="trending")
    with pytest.raises(ConfigError, match="reward"):
        RecVectorEnv(user_model, num_envs=2, reward="likes")
    with pytest.raises(ConfigError, match="reset"):
        RecVectorEnv(user_model, num_envs=2).step(torch.zeros(2, 2, dtype=torch.int64))
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            RecVectorEnv(user_model, num_envs=2, device="cuda")
    with pytest.raises(ConfigError, match="Unknown argument"):
        gym.make(ENV_ID, num_items=100, budget=5)


def test_popularity_sampler_and_click_reward_are_selectable() -> None:
    env = make_vector_env(num_envs=64, candidate_sampler="popularity", reward="clicks")
    observation, _ = env.reset(seed=0)
    popularity = env.simulator.catalog.popularity
    shown = popularity[observation["candidate_ids"]].mean()
    assert shown > 3 * popularity.mean()  # popular items are over-represented
    _, reward, *_, info = env.step(torch.tensor([[0, 1]] * 64))
    assert torch.equal(reward, info["response"].clicked.sum(dim=1).float())


def test_oracle_greedy_beats_random_on_engagement() -> None:
    def mean_reward(choose) -> float:
        env = make_vector_env(num_envs=256, max_episode_steps=50)
        env.reset(seed=1)
        total = 0.0
        for _ in range(50):
            _, reward, *_ = env.step(choose(env))
            total += reward.mean().item()
        return total

    oracle = mean_reward(lambda env: env.expected_reward().topk(2, dim=1).indices)
    random_slates = mean_reward(lambda env: torch.rand(256, 10).argsort(dim=1)[:, :2])
    assert oracle > 1.15 * random_slates


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_trajectory() -> None:
    results = []
    for device in ("cpu", "cuda"):
        env = make_vector_env(num_envs=16, device=device, max_episode_steps=30)
        observation, _ = env.reset(seed=3)
        for slates in _sequence_of_slates(16, 40):
            observation, *_ = env.step(slates.to(device))
        results.append(observation["candidate_ids"].cpu())
    assert torch.equal(results[0], results[1])
