"""Bad RL configs fail at once, before any env or network is built, with the field and the fix."""

from __future__ import annotations

import pytest
import torch

from policies.rl import algorithms, config_for, trainer_class
from recgym.errors import ConfigError, DeviceError
from recgym.rl import make_trainer


def test_unknown_algorithm_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"Unknown algorithm 'dqn'.*ppo"):
        make_trainer("dqn")


def test_every_registered_algorithm_imports_and_validates_its_defaults() -> None:
    for name in algorithms():
        cls = trainer_class(name)
        assert cls.algorithm == name
        config_for(name).validate()


def test_env_without_slate_actions_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"not a recgym env.*slates"):
        make_trainer("ppo", env_id="CartPole-v1", device="cpu")
    with pytest.raises(ConfigError, match="Unknown env id 'recgym/Nope-v0'"):
        make_trainer("ppo", env_id="recgym/Nope-v0", device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_refused() -> None:
    with pytest.raises(DeviceError, match="CUDA is not available"):
        make_trainer("ppo", device="cuda")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"gamma": 1.5}, "gamma must lie in"),
        ({"num_users": 0}, "num_users must be a positive integer"),
        ({"variant": "trpo"}, "variant must be one of"),
        ({"learning_rate": -1.0}, "learning_rate must be a positive"),
        ({"num_minibatches": 10_000, "num_users": 4, "rollout_steps": 2}, "exceeds the rollout"),
        ({"gamme": 0.9}, r"Unknown PPOConfig field\(s\) 'gamme' \(did you mean 'gamma'\?\)"),
        ({"history_summary": "False"}, r"history_summary must be true or false; got 'False' \(str\)"),
        ({"gamma": "abc"}, r"gamma must be a number; got 'abc' \(str\).*--set gamma=0.99"),
        ({"epochs": 2.5}, r"epochs must be an integer; got 2.5 \(float\).*--set epochs=4"),
        ({"num_users": True}, r"num_users must be an integer; got True"),
    ],
)
def test_invalid_fields_name_themselves(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_trainer("ppo", device="cpu", **fields)
