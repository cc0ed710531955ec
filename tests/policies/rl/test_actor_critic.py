"""PPO and A2C learn a small long-term problem on CPU, and resume exactly from checkpoints."""

from __future__ import annotations

import pytest
import torch

from policies.rl.slate_distribution import sample_slate, slate_log_prob_and_entropy
from policies.rl.storage import generalized_advantages
from recgym.rl import load_trainer, make_trainer
from tests.policies.rl.helpers import SMALL_LTS, assert_same_parameters, mean_watch_time, random_watch_time


def test_slate_log_prob_is_exact_plackett_luce() -> None:
    logits = torch.tensor([[0.5, -1.0, 2.0, 0.0]])
    slate = torch.tensor([[2, 0]])
    log_prob, entropy = slate_log_prob_and_entropy(logits, slate)
    first = torch.softmax(logits, dim=1)[0, 2]
    second = torch.softmax(logits[0, [0, 1, 3]], dim=0)[0]
    assert torch.allclose(log_prob, torch.log(first * second))
    assert float(entropy) > 0


def test_sampled_slates_follow_the_plackett_luce_probabilities() -> None:
    logits = torch.tensor([[1.0, 0.0, -1.0]]).expand(20_000, 3)
    slates = sample_slate(logits, 2, torch.Generator().manual_seed(0))
    assert not bool((slates[:, 0] == slates[:, 1]).any())
    frequency = float(((slates[:, 0] == 0) & (slates[:, 1] == 1)).float().mean())
    expected = float(torch.exp(slate_log_prob_and_entropy(logits[:1], torch.tensor([[0, 1]]))[0]))
    assert frequency == pytest.approx(expected, abs=0.015)


def test_gae_stops_at_episode_ends() -> None:
    rewards = torch.ones(3, 1, 1)
    values = torch.zeros(3, 1, 1)
    dones = torch.tensor([[False], [True], [False]])
    advantages, returns = generalized_advantages(rewards, values, torch.full((1, 1), 10.0), dones, gamma=0.5, lam=1.0)
    assert advantages[:, 0, 0].tolist() == [1.5, 1.0, 6.0]
    assert torch.equal(returns, advantages)


@pytest.mark.parametrize("algorithm", ["ppo", "a2c"])
def test_learns_to_beat_random_on_small_long_term_satisfaction(algorithm: str) -> None:
    trainer = make_trainer(algorithm, **SMALL_LTS, num_users=128, total_steps=128 * 16 * 25, rollout_steps=16)
    history = trainer.train(progress=False)
    value_losses = [metrics["value_loss"] for metrics in history]
    assert sum(value_losses[-5:]) < 0.5 * sum(value_losses[:5])
    returns = [metrics["episode_return"] for metrics in history if "episode_return" in metrics]
    assert returns[-1] > 1.2 * returns[0]
    learned = mean_watch_time(SMALL_LTS["env_id"], SMALL_LTS["env_kwargs"], trainer.policy())
    assert learned > 1.3 * random_watch_time(SMALL_LTS["env_id"], SMALL_LTS["env_kwargs"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_ppo_learns_on_cuda_with_every_tensor_on_the_device() -> None:
    from recgym.core.rollout import evaluate_policy
    from recgym.envs.builder import build_vector_env

    settings = SMALL_LTS | {"device": "cuda"}
    trainer = make_trainer("ppo", **settings, num_users=128, total_steps=128 * 16 * 25, rollout_steps=16)
    trainer.train(progress=False)
    assert all(parameter.is_cuda for parameter in trainer.network.parameters())
    assert all(value.is_cuda for value in trainer.buffer.observations.values())
    env = build_vector_env(SMALL_LTS["env_id"], 256, torch.device("cuda"), SMALL_LTS["env_kwargs"])
    learned = float(evaluate_policy(env, trainer.policy(), seed=10_000).watch_time.mean())
    assert learned > 1.3 * random_watch_time(SMALL_LTS["env_id"], SMALL_LTS["env_kwargs"])


@pytest.mark.parametrize("algorithm", ["ppo", "a2c"])
def test_resume_from_checkpoint_continues_identically(algorithm: str, tmp_path) -> None:
    settings = dict(SMALL_LTS, num_users=32, rollout_steps=8, checkpoint_every=2)
    uninterrupted = make_trainer(algorithm, **settings, total_steps=32 * 8 * 6)
    uninterrupted.train(progress=False)

    interrupted = make_trainer(algorithm, **settings, total_steps=32 * 8 * 4, out_dir=tmp_path / "run")
    interrupted.train(progress=False)
    resumed = load_trainer(tmp_path / "run", total_steps=32 * 8 * 6)
    assert resumed.iterations == 4
    resumed.train(progress=False)

    assert_same_parameters(uninterrupted, resumed)
    assert torch.equal(uninterrupted.env.state.keys, resumed.env.state.keys)
    assert uninterrupted.history[-1] | {"user_steps_per_s": 0} == resumed.history[-1] | {"user_steps_per_s": 0}
    assert (tmp_path / "run" / "tensorboard").is_dir()


def test_fast_scoring_paths_equal_the_plain_network() -> None:
    """Item vectors per distinct id and the block-applied first scorer layer compute the plain function."""
    from policies.rl.networks import CandidateScorer, ObservationEncoder
    from recgym.envs.builder import build_vector_env

    env = build_vector_env("recgym/LongTermSatisfaction-v0", 64, torch.device("cpu"), {"num_items": 30})
    observation, _ = env.reset(seed=0)
    encoder = ObservationEncoder(env.single_observation_space, hidden_size=16)
    encoder.update_statistics(observation)
    plain_items = encoder.item_net(encoder.item_norm(observation["candidate_features"]))
    torch.testing.assert_close(encoder.item_vectors(observation), plain_items)
    scorer = CandidateScorer(hidden_size=16)
    user = torch.randn(64, 16)
    pairs = torch.cat([user.unsqueeze(1).expand_as(plain_items), plain_items, user.unsqueeze(1) * plain_items], dim=-1)
    torch.testing.assert_close(scorer(user, plain_items), scorer.net(pairs))


def test_without_history_summary_the_user_input_is_the_current_step_alone() -> None:
    """``history_summary=False`` (Sim2Rec's unconditioned baseline) ignores every step but the last."""
    from policies.rl.networks import ObservationEncoder
    from recgym.envs.builder import build_vector_env

    env = build_vector_env("recgym/LongTermSatisfaction-v0", 32, torch.device("cpu"), {"num_items": 30})
    observation, _ = env.reset(seed=0)
    for _ in range(6):
        observation = env.step(torch.arange(env.slate_size).expand(32, -1))[0]
    current = ObservationEncoder(env.single_observation_space, hidden_size=16, history_summary=False)
    summary = ObservationEncoder(env.single_observation_space, hidden_size=16)
    rewritten = dict(observation)
    for key in ("history_features", "history_clicked", "history_watch_time"):
        earlier = torch.rand_like(observation[key][:, :-1])
        rewritten[key] = torch.cat([earlier, observation[key][:, -1:]], dim=1)
    torch.testing.assert_close(current.user_inputs(rewritten), current.user_inputs(observation))
    assert current.user_input_size < summary.user_input_size
    assert not torch.allclose(summary.user_inputs(rewritten), summary.user_inputs(observation))
