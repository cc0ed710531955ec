"""render_mode='ansi': a text view of each user's history, the last slate and the response to it."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env

import recgym
from recgym.errors import ConfigError
from tests.conftest import ENV_ID, env_test_kwargs


@pytest.mark.parametrize("env_id", recgym.registered_ids())
def test_every_registered_env_renders_text_in_both_doors(env_id: str) -> None:
    kwargs = env_test_kwargs(env_id, num_items=300)
    env = gym.make(env_id, render_mode="ansi", **kwargs)
    assert env.metadata["render_modes"] == ["ansi"] and env.render_mode == "ansi"
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([1, 0]))
    text = env.render()
    assert isinstance(text, str) and text.startswith(f"{env_id} · user 0 · episode step 1")
    shown = env.unwrapped.vector_env.last_step.items[0].tolist()
    for line, item, watched in zip(text.splitlines()[3:5], shown, info["response"]["watch_time"], strict=True):
        assert f" {item} " in line and f"{watched:.2f}" in line
    vector = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", render_mode="ansi", **kwargs)
    vector.reset(seed=0)
    vector.step(torch.tensor([[0, 1]] * 3))
    frames = vector.render()
    assert isinstance(frames, tuple) and len(frames) == 3
    assert all(f"user {user} · episode step 1" in frame for user, frame in enumerate(frames))


def test_the_text_shows_history_slate_clicks_and_watch_time() -> None:
    env = gym.make(ENV_ID, num_items=300, render_mode="ansi", max_episode_steps=50)
    env.reset(seed=3)
    assert "last slate: none yet" in env.render() and "history, oldest first: empty" in env.render()
    for _ in range(6):
        observation, reward, _, _, info = env.step(np.array([2, 5]))
    text = env.render()
    vector_env = env.unwrapped.vector_env
    items = vector_env.last_step.items[0].tolist()
    topics = vector_env.simulator.catalog.topic[vector_env.last_step.items[0]].tolist()
    clicked = info["response"]["clicked"]
    lines = text.splitlines()
    assert lines[1] == f"last slate · reward {reward:.2f}"
    assert lines[2].split() == ["position", "candidate", "item", "topic", "clicked", "watch_time"]
    for position, line in enumerate(lines[3:5]):
        assert line.split() == [
            str(position),
            str([2, 5][position]),
            str(items[position]),
            str(topics[position]),
            "yes" if clicked[position] else "no",
            f"{info['response']['watch_time'][position]:.2f}",
        ]
    history_line = next(line for line in lines if line.startswith("history, oldest first: "))
    assert history_line.count(",") >= 5 or "no click" in history_line  # six steps listed
    clicked_items = vector_env.state.history_items[0, -6:].tolist()
    for item in clicked_items:
        assert (f"item {item} (topic" in history_line) if item >= 0 else ("no click" in history_line)
    candidate_ids = ", ".join(str(item) for item in observation["candidate_ids"])
    assert lines[-1] == f"candidates now (item ids): {candidate_ids}"


def test_an_ended_episode_says_so() -> None:
    env = gym.make_vec(
        ENV_ID,
        num_envs=2,
        vectorization_mode="vector_entry_point",
        num_items=300,
        max_episode_steps=2,
        render_mode="ansi",
    )
    env.reset(seed=0)
    env.step(torch.tensor([[0, 1]] * 2))
    env.step(torch.tensor([[0, 1]] * 2))
    assert all("the episode ended (truncated)" in frame for frame in env.render())
    assert env.unwrapped.render_text([1])[0].startswith("recgym/InterestEvolution-v0 · user 1 · episode step 0")
    with pytest.raises(ConfigError, match=r"rows \[5\]"):
        env.unwrapped.render_text([5])


@pytest.mark.parametrize("mode", ["human", "rgb_array", "text"])
def test_an_unsupported_render_mode_lists_the_supported_ones(mode: str) -> None:
    with pytest.raises(ConfigError, match=r"Unsupported render_mode .*\['ansi'\]"):
        gym.make(ENV_ID, num_items=300, render_mode=mode)
    with pytest.raises(ConfigError, match=r"Unsupported render_mode .*\['ansi'\]"):
        gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", num_items=300, render_mode=mode)


def test_render_without_a_render_mode_says_how_to_get_one() -> None:
    env = gym.make(ENV_ID, num_items=300)
    env.reset(seed=0)
    with pytest.raises(ConfigError, match="render_mode='ansi'"):
        env.render()
    vector = gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", num_items=300)
    vector.reset(seed=0)
    with pytest.raises(ConfigError, match="render_mode='ansi'"):
        vector.render()


def test_gymnasium_collects_ansi_frames_with_ansi_list() -> None:
    env = gym.make(ENV_ID, num_items=300, render_mode="ansi_list")
    env.reset(seed=0)
    env.step(np.array([0, 1]))
    frames = env.render()
    assert len(frames) == 2 and "last slate: none yet" in frames[0] and "last slate · reward" in frames[1]


def test_gymnasium_checker_passes_with_the_render_check() -> None:
    env = gym.make(ENV_ID, num_items=300, render_mode="ansi")
    gym_check_env(env.unwrapped)
