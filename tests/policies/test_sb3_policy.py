"""A trained Stable-Baselines3 model as a recgym policy file: same slates after a round trip, no SB3 zip, no code."""

from __future__ import annotations

import json

import pytest
import torch
from stable_baselines3 import A2C, PPO

from policies.artefacts import env_interface, load_policy
from policies.sb3 import SB3Policy
from recgym.core.random import population_seed
from recgym.core.rollout import evaluate_policy
from recgym.core.slate import repair_duplicates
from recgym.envs.builder import build_vector_env
from recgym.errors import ConfigError, PolicyFileError
from recgym.wrappers.sb3 import SB3VecEnv
from tests.policies.test_artefacts import LTS, LTS_KWARGS, run_in_fresh_process


def tiny_env(num_users: int = 8) -> object:
    return build_vector_env(LTS, num_users, torch.device("cpu"), LTS_KWARGS)


def trained(algorithm: type, policy_name: str, flatten: bool) -> tuple[object, SB3VecEnv]:
    adapter = SB3VecEnv(tiny_env(), flatten=flatten)
    model = algorithm(policy_name, adapter, n_steps=8, seed=0, verbose=0, device="cpu")
    model.learn(8 * 8 * 2)
    return model, adapter


@pytest.mark.parametrize(
    ("algorithm", "policy_name", "flatten"), [(PPO, "MultiInputPolicy", False), (A2C, "MlpPolicy", True)]
)
def test_an_sb3_model_acts_the_same_as_a_recgym_policy_and_after_a_round_trip(
    tmp_path, algorithm, policy_name, flatten
) -> None:
    model, adapter = trained(algorithm, policy_name, flatten)
    policy = SB3Policy.from_model(model, adapter)
    env = tiny_env()
    observation, _ = env.reset(seed=5)
    expected, _ = model.predict(adapter.convert_observation(observation), deterministic=True)
    slate = policy.act(observation, explore=False)
    assert torch.equal(slate, repair_duplicates(torch.as_tensor(expected, dtype=torch.int64), env.num_candidates))
    loaded = load_policy(policy.save(tmp_path / "sb3.pt", trained_on=env_interface(env)))
    assert torch.equal(loaded.act(observation, explore=False), slate)


def test_a_saved_sb3_policy_evaluates_identically_in_a_fresh_process_without_sb3_state(tmp_path) -> None:
    model, adapter = trained(PPO, "MultiInputPolicy", False)
    path = SB3Policy.from_model(model, adapter).save(tmp_path / "ppo.pt")
    totals = evaluate_policy(tiny_env(), SB3Policy.from_model(model, adapter), seed=population_seed(0, "evaluate"))
    code = f"""
import json, torch
from recgym import load_policy
from recgym.core.random import population_seed
from recgym.core.rollout import evaluate_policy
from recgym.envs.builder import build_vector_env
env = build_vector_env({LTS!r}, 8, torch.device("cpu"), {LTS_KWARGS!r})
totals = evaluate_policy(env, load_policy({str(path)!r}), seed=population_seed(0, "evaluate"))
print(json.dumps([float(value) for value in totals.watch_time]))
"""
    assert json.loads(run_in_fresh_process(code)) == [float(value) for value in totals.watch_time]


@pytest.mark.parametrize(
    ("policy_class", "options", "named"),
    [
        ("os:system", {}, "os:system"),
        (
            "stable_baselines3.common.policies:MultiInputActorCriticPolicy",
            {"activation_fn": "class:builtins:eval"},
            "builtins:eval",
        ),
        ("stable_baselines3.common.policies:NoSuchPolicy", {}, "NoSuchPolicy"),
    ],
)
def test_classes_outside_sb3_and_torch_are_refused(policy_class: str, options: dict, named: str) -> None:
    with pytest.raises(PolicyFileError, match=named):
        SB3Policy(policy_class, {"candidate_features": [10, 3]}, [10, 10], options, ("candidate_features",))


def test_an_option_that_is_not_plain_is_named() -> None:
    model, adapter = trained(PPO, "MultiInputPolicy", False)
    model.policy.ortho_init = object()  # stands in for a user's custom, unsaveable option
    with pytest.raises(ConfigError, match="ortho_init"):
        SB3Policy.from_model(model, adapter)
