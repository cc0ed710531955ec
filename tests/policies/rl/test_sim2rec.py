"""Sim2Rec: the history encoder learns to identify hidden user parameters while the policy learns."""

from __future__ import annotations

import pytest
import torch

from policies.rl.sim2rec import HIDDEN_PARAMS_KEY
from recgym.errors import ConfigError
from recgym.rl import load_trainer, make_trainer
from simulators.family import FAMILIES, FAMILY_USERS
from tests.policies.rl.helpers import assert_same_parameters, mean_watch_time, random_watch_time

SMALL_FAMILY = {
    "env_id": "recgym/Sim2RecFamily-v0",
    "env_kwargs": {"family": "train", "history_length": 12, "horizon_days": 3.0, "num_items": 500},
    "device": "cpu",
}


# The named families' users (``FAMILY_USERS``) with one hidden parameter: how long they watch kale, a
# taste a short history reveals and that decides whether kale or clickbait pays.
KALE_TASTE = {
    **SMALL_FAMILY,
    "env_kwargs": SMALL_FAMILY["env_kwargs"]
    | FAMILY_USERS["long_term_satisfaction"]
    | {"family": {"kale_mean": FAMILIES["long_term_satisfaction"]["train"]["kale_mean"]}},
}


def test_learns_and_identifies_hidden_parameters() -> None:
    settings = KALE_TASTE | {"num_users": 128, "rollout_steps": 16, "total_steps": 128 * 16 * 12}
    trainer = make_trainer("sim2rec", **settings)
    history = trainer.train(progress=False)
    identified = [metrics["identification_r2"] for metrics in history]
    assert identified[-1] > 0.6 and identified[0] < 0.2  # the identification loss (1 - R^2) falls
    value_losses = [metrics["value_loss"] for metrics in history]
    assert sum(value_losses[-3:]) < 0.5 * sum(value_losses[:3])
    env_id, env_kwargs = KALE_TASTE["env_id"], KALE_TASTE["env_kwargs"]
    assert mean_watch_time(env_id, env_kwargs, trainer.policy()) > 1.25 * random_watch_time(env_id, env_kwargs)


def test_acting_never_reads_the_hidden_parameters() -> None:
    trainer = make_trainer("sim2rec", **SMALL_FAMILY, num_users=8, rollout_steps=4, total_steps=32)
    trainer.train(progress=False)
    observation = trainer.env.observe(trainer.env.state)
    assert HIDDEN_PARAMS_KEY not in observation
    policy = trainer.policy()
    plain = policy.act(observation, explore=False)
    for hidden in (torch.zeros(8, 4), 100.0 * torch.randn(8, 4)):
        assert torch.equal(policy.act(observation | {HIDDEN_PARAMS_KEY: hidden}, explore=False), plain)


def test_hidden_parameters_reach_only_the_training_channel() -> None:
    """The identification target travels in the buffer's privileged channel; no module ever receives it."""
    trainer = make_trainer("sim2rec", **SMALL_FAMILY, num_users=8, rollout_steps=4, total_steps=64)
    observed_keys = set(trainer.env.single_observation_space.spaces)
    seen: list[set[str]] = []

    def record(module: torch.nn.Module, arguments: tuple) -> None:
        seen.extend(set(argument) for argument in arguments if isinstance(argument, dict))

    for module in trainer.network.modules():
        module.register_forward_pre_hook(record)
    trainer.train(progress=False)
    policy = trainer.policy()
    policy.act(trainer.env.observe(trainer.env.state), explore=False)
    assert seen and all(keys <= observed_keys for keys in seen), [keys - observed_keys for keys in seen]
    targets = trainer.buffer.privileged[HIDDEN_PARAMS_KEY]
    assert targets.shape == (4, 8, len(trainer.env.simulator.distribution.names)) and targets.std() > 0
    assert torch.equal(trainer.privileged_targets()[HIDDEN_PARAMS_KEY], trainer.env.state.user.params)


def test_resume_continues_identically(tmp_path) -> None:
    settings = dict(SMALL_FAMILY, num_users=16, rollout_steps=8, checkpoint_every=1)
    uninterrupted = make_trainer("sim2rec", **settings, total_steps=16 * 8 * 4)
    uninterrupted.train(progress=False)
    make_trainer("sim2rec", **settings, total_steps=16 * 8 * 2, out_dir=tmp_path).train(progress=False)
    resumed = load_trainer(tmp_path, total_steps=16 * 8 * 4)
    resumed.train(progress=False)
    assert_same_parameters(uninterrupted, resumed)


def test_needs_a_family_to_identify() -> None:
    with pytest.raises(ConfigError, match="no hidden per-user parameter family"):
        make_trainer("sim2rec", env_id="recgym/LongTermSatisfaction-v0", env_kwargs={}, device="cpu")
