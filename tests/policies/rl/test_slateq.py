"""SlateQ: slate optimisers against brute force, n-step replay, learning, exact resume, config errors."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from policies.baselines import RandomPolicy
from policies.rl.slateq import SLATE_RULES, ReplayBuffer, SlateProblem, SlateQConfig, SlateQTrainer
from recgym.core.rollout import evaluate_policy
from recgym.envs.builder import build_vector_env
from recgym.errors import ConfigError
from recgym.rl import load_trainer, make_trainer

ENV_ID = "recgym/LongTermSatisfaction-v0"


def random_problem(num_users: int, num_candidates: int, seed: int) -> SlateProblem:
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return scale * torch.randn(*shape, generator=generator)

    return SlateProblem.from_logits(
        normal(num_users, num_candidates, scale=2.0),
        normal(num_users),
        normal(num_users, num_candidates),
        normal(num_users),
    )


def brute_force_value(problem: SlateProblem, slate_size: int) -> torch.Tensor:
    """Best slate value per user over every K-subset of the candidates, [B]."""
    num_users, num_candidates = problem.item_value.shape
    subsets = torch.tensor(list(itertools.combinations(range(num_candidates), slate_size)))
    values = [problem.value(subset.expand(num_users, slate_size)) for subset in subsets]
    return torch.stack(values, dim=1).amax(dim=1)


# -- slate optimisation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("slate_size", [2, 3])
def test_exact_rule_matches_brute_force_and_beats_the_heuristics(slate_size: int) -> None:
    problem = random_problem(num_users=512, num_candidates=6, seed=slate_size)
    values = {rule: problem.value(problem.solve(rule, slate_size)) for rule in SLATE_RULES}
    torch.testing.assert_close(values["exact"], brute_force_value(problem, slate_size), rtol=1e-5, atol=1e-5)
    for heuristic in ("greedy", "top_k"):
        assert bool((values["exact"] >= values[heuristic] - 1e-5).all()), heuristic
        # Random problems where the heuristic falls short exist, so the comparison means something.
        assert bool((values["exact"] > values[heuristic] + 1e-4).any()), heuristic


def test_exact_rule_on_more_candidates() -> None:
    problem = random_problem(num_users=64, num_candidates=12, seed=7)
    exact = problem.value(problem.exact(4))
    torch.testing.assert_close(exact, brute_force_value(problem, 4), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rule", SLATE_RULES)
def test_every_rule_returns_distinct_candidates(rule: str) -> None:
    slate = random_problem(num_users=256, num_candidates=8, seed=1).solve(rule, 3)
    assert slate.shape == (256, 3)
    assert bool((slate.sort(dim=1).values.diff(dim=1) > 0).all())


def test_slate_value_is_the_choice_weighted_item_value() -> None:
    """Q(s, A) = sum_i P(i | A) Qbar_i + P(null | A) Qbar_null with P the softmax over the slate's logits and null."""
    generator = torch.Generator().manual_seed(0)
    item_logit, null_logit = 3 * torch.randn(32, 5, generator=generator), torch.randn(32, generator=generator)
    item_value, null_value = torch.randn(32, 5, generator=generator), torch.randn(32, generator=generator)
    slate = torch.stack([torch.randperm(5, generator=generator)[:2] for _ in range(32)])
    probabilities = torch.softmax(torch.cat([item_logit.gather(1, slate), null_logit.unsqueeze(1)], dim=1), dim=1)
    expected = (probabilities * torch.cat([item_value.gather(1, slate), null_value.unsqueeze(1)], dim=1)).sum(1)
    problem = SlateProblem.from_logits(item_logit, null_logit, item_value, null_value)
    torch.testing.assert_close(problem.value(slate), expected)


def test_unknown_rule_is_rejected() -> None:
    with pytest.raises(ConfigError, match="slate rule"):
        random_problem(4, 5, seed=0).solve("best", 2)


# -- replay -------------------------------------------------------------------------------------------------
def test_replay_n_step_returns_stop_at_episode_ends_and_the_newest_step() -> None:
    num_steps, num_users, n_steps, gamma = 6, 2, 3, 0.5
    rewards = torch.arange(1.0, 13.0).view(num_steps, num_users)
    done = torch.zeros(num_steps, num_users, dtype=torch.bool)
    terminated = torch.zeros_like(done)
    done[2, 0] = terminated[2, 0] = True  # user 0 terminates at step 2
    done[3, 1] = True  # user 1 is truncated at step 3
    replay = ReplayBuffer(num_steps - 2, num_users, torch.device("cpu"))
    for step in range(num_steps):  # the first two steps are overwritten
        tag = (10.0 * step + torch.arange(num_users)).unsqueeze(1)
        replay.add(
            observation={"tag": tag},
            slate=torch.zeros(num_users, 2, dtype=torch.int64),
            choice=torch.zeros(num_users, dtype=torch.int64),
            reward=rewards[step],
            next_observation={"tag": tag + 0.5},
            done=done[step],
            terminated=terminated[step],
        )
    batch = replay.sample(400, n_steps, gamma, torch.Generator().manual_seed(0))
    for tag, ret, discount, next_tag in zip(
        batch["observation"]["tag"].squeeze(1).tolist(),
        batch["return"].tolist(),
        batch["discount"].tolist(),
        batch["next_observation"]["tag"].squeeze(1).tolist(),
        strict=True,
    ):
        start, user = divmod(int(tag), 10)
        assert start >= 2, "overwritten steps must not be sampled"
        expected, step = 0.0, start
        for offset in range(n_steps):
            step = start + offset
            expected += gamma**offset * float(rewards[step, user])
            if done[step, user] or step == num_steps - 1:
                break
        summed = step - start + 1
        assert ret == pytest.approx(expected)
        assert discount == pytest.approx(0.0 if terminated[step, user] else gamma**summed)
        assert next_tag == 10 * step + user + 0.5


# -- training -----------------------------------------------------------------------------------------------
def small_config(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        env_id=ENV_ID,
        env_kwargs={"horizon_days": 2.0},
        num_users=128,
        total_steps=49_152,
        hidden_size=32,
        epsilon_decay_steps=12_000,
        learning_starts=2048,
        replay_size=16_384,
        batch_size=256,
        updates_per_iteration=8,
        n_steps=10,
        device="cpu",
    )
    return fields | overrides


def test_slateq_learns_to_keep_users_satisfied() -> None:
    """On choc-vs-kale with two-day episodes, greedy SlateQ watch time well above random (myopic is below it)."""
    trainer = make_trainer("slateq", **small_config())
    history = trainer.train(progress=False)
    td_losses = [metrics["td_loss"] for metrics in history if "td_loss" in metrics]
    assert sum(td_losses[-5:]) / 5 < 0.5 * td_losses[0]
    env = build_vector_env(ENV_ID, 256, torch.device("cpu"), {"horizon_days": 2.0})
    learned = evaluate_policy(env, trainer.policy(), seed=123).watch_time.mean()
    random = evaluate_policy(env, RandomPolicy(trainer.slate_size, seed=0), seed=123).watch_time.mean()
    assert learned > 1.2 * random, (float(learned), float(random))


def test_policy_explores_only_when_asked() -> None:
    trainer = make_trainer("slateq", **small_config(num_users=16, total_steps=64, learning_starts=0, epsilon_end=1.0))
    policy = trainer.policy()
    observation = trainer.observation
    greedy = policy.act(observation, explore=False)
    assert torch.equal(greedy, policy.act(observation, explore=False))
    explored = policy.act(observation, explore=True)
    assert explored.shape == greedy.shape and not torch.equal(explored, greedy)


@pytest.mark.parametrize(
    "variant",
    [{"slate_rule": "greedy", "double_q": True}, {"slate_rule": "top_k", "learn_null_value": False}],
)
def test_variants_train(variant: dict[str, Any]) -> None:
    trainer = make_trainer("slateq", **small_config(num_users=32, total_steps=256, learning_starts=64, **variant))
    history = trainer.train(progress=False)
    assert all(torch.isfinite(torch.tensor(row["td_loss"])) for row in history if "td_loss" in row)
    assert len(history) == 1 and history[0]["choice_loss"] > 0


def resumable_config(out_dir: Any, total_steps: int) -> dict[str, Any]:
    return small_config(
        env_kwargs={"horizon_days": 0.5},
        num_users=32,
        rollout_steps=4,
        total_steps=total_steps,
        hidden_size=16,
        replay_size=256,
        learning_starts=128,
        batch_size=64,
        updates_per_iteration=2,
        n_steps=3,
        epsilon_decay_steps=400,
        checkpoint_every=3,
        out_dir=out_dir,
    )


def test_checkpoint_resumes_to_an_identical_continuation(tmp_path: Any) -> None:
    iteration_steps = 32 * 4
    first = make_trainer("slateq", **resumable_config(tmp_path / "first", 3 * iteration_steps))
    first.train(progress=False)
    resumed = load_trainer(tmp_path / "first", total_steps=7 * iteration_steps, out_dir=tmp_path / "resumed")
    first.config.total_steps = 7 * iteration_steps
    first.train(progress=False)
    resumed.train(progress=False)

    assert resumed.steps == first.steps and resumed.iterations == first.iterations == 7
    assert resumed.replay.position == first.replay.position and resumed.replay.size == first.replay.size
    for name, component in first.components().items():
        expected, actual = component.state_dict(), resumed.components()[name].state_dict()
        flat_expected, flat_actual = _tensors(expected), _tensors(actual)
        assert flat_expected.keys() == flat_actual.keys(), name
        for key, tensor in flat_expected.items():
            assert torch.equal(tensor, flat_actual[key]), f"{name}.{key}"
    for metric in ("td_loss", "choice_loss", "epsilon", "q_mean"):
        assert [row.get(metric) for row in first.history] == [row.get(metric) for row in resumed.history], metric


def _tensors(state: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in a nested state dict, by dotted path (numbers kept as 0-d tensors)."""
    if isinstance(state, torch.Tensor):
        return {prefix: state}
    if isinstance(state, int | float):
        return {prefix: torch.tensor(state)}
    if isinstance(state, dict):
        return {key: value for name, item in state.items() for key, value in _tensors(item, f"{prefix}.{name}").items()}
    if isinstance(state, list | tuple):
        return {
            key: value for index, item in enumerate(state) for key, value in _tensors(item, f"{prefix}.{index}").items()
        }
    return {}


# -- config -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"slate_rule": "optimal"}, "slate_rule"),
        ({"epsilon_end": 1.5}, "epsilon_end"),
        ({"n_steps": 0}, "n_steps"),
        ({"target_tau": 0.0}, "target_tau"),
        ({"replay_size": 100, "num_users": 64}, "replay_size"),
        ({"learning_starts": 10**9}, "learning_starts"),
        ({"choice_loss_coef": -1.0}, "choice_loss_coef"),
    ],
)
def test_bad_config_names_the_field(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        SlateQConfig(**fields).validate()


def test_trainer_rejects_another_algorithms_config() -> None:
    from policies.rl.config import TrainConfig
    from recgym.rl import env_maker

    with pytest.raises(ConfigError, match="SlateQConfig"):
        config = TrainConfig(num_users=8)
        SlateQTrainer(config, env_maker(config))
