"""Hierarchical RL: learning, goal schedule and goal-following slates, exact resume, config errors, LLM planner."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from policies.baselines import RandomPolicy
from policies.rl import config_for
from policies.rl.hierarchical import (
    GoalSpace,
    HierarchicalPolicy,
    HierarchicalTrainer,
    LLMGoalPlanner,
    TopicMemory,
    option_returns,
)
from recgym.core.rollout import evaluate_policy
from recgym.envs.builder import build_vector_env
from recgym.errors import ConfigError
from recgym.rl import load_trainer, make_trainer

ENV_ID = "recgym/FatigueNovelty-v0"
SMALL_ENV = {"num_items": 200, "num_topics": 5, "horizon_days": 3.0, "boredom_penalty": 0.0}
"""Short episodes (about 40 steps) over 5 topics; without boredom, knowing a user's topics pays at once."""
CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny networks run fastest on one intra-op thread (two threads on two busy cores ran 10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _small_trainer(**fields: object) -> HierarchicalTrainer:
    defaults: dict[str, object] = {
        "env_id": ENV_ID,
        "env_kwargs": SMALL_ENV,
        "num_users": 16,
        "rollout_steps": 8,
        "hidden_size": 16,
        "total_steps": 16 * 8,
        "device": "cpu",
    }
    trainer = make_trainer("hierarchical", **(defaults | fields))
    assert isinstance(trainer, HierarchicalTrainer)
    return trainer


def _without_timing(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{key: value for key, value in entry.items() if key != "user_steps_per_s"} for entry in history]


# -- (1) learning ----------------------------------------------------------------------------------------
def test_learns_a_small_problem_well_above_random() -> None:
    trainer = _small_trainer(num_users=64, rollout_steps=16, hidden_size=32, total_steps=64 * 16 * 30)
    history = trainer.train(progress=False)
    for loss in ("value_loss", "high_value_loss"):
        late = sum(entry[loss] for entry in history[-5:]) / 5
        assert late < 0.5 * history[0][loss], f"{loss} did not fall: {history[0][loss]:.3f} -> {late:.3f}"
    env = build_vector_env(ENV_ID, 128, CPU, SMALL_ENV)
    random_return = evaluate_policy(env, RandomPolicy(env.slate_size), seed=1).episode_return.mean()
    learned_return = evaluate_policy(env, trainer.policy(), seed=1).episode_return.mean()
    assert learned_return > 1.15 * random_return, f"learned {learned_return:.1f} vs random {random_return:.1f}"


def test_option_returns_match_a_hand_computed_semi_mdp_return() -> None:
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    decided = torch.tensor([[True], [False], [True], [False]])
    fresh = torch.tensor([[10.0], [20.0], [30.0], [40.0]])
    held = torch.tensor([[11.0], [21.0], [31.0], [41.0]])
    dones = torch.zeros(3, 1, dtype=torch.bool)
    returns = option_returns(rewards, dones, decided, fresh, held, gamma=0.5, lam=0.5)
    # t=2 bootstraps with Q(s_3, g) = 41 (option running); the option starting at t=2 mixes
    # 0.5 * 23.5 + 0.5 * V(s_2) = 26.75 into t=1, which is mid-option and passes its return on whole.
    assert torch.allclose(returns[:, 0], torch.tensor([8.6875, 15.375, 23.5]))
    dones[1] = True
    assert torch.allclose(
        option_returns(rewards, dones, decided, fresh, held, 0.5, 0.5)[:, 0], torch.tensor([2.0, 2.0, 23.5])
    )


# -- (2) schedule and goal-following slates -------------------------------------------------------------
@pytest.mark.parametrize("goal_kind", ["topic", "novelty"])
def test_goals_change_only_on_schedule_and_slates_follow_them(goal_kind: str) -> None:
    period = 3
    trainer = _small_trainer(goal_kind=goal_kind, goal_boost=1e3, period=period, replan_on_session=True)
    trainer.train(progress=False)
    rollout = trainer.goal_rollout
    assert not ((rollout.goals[1:] != rollout.goals[:-1]) & ~rollout.decided[1:]).any()

    policy = trainer.policy()
    env = build_vector_env(ENV_ID, 32, CPU, SMALL_ENV)
    observation, _ = env.reset(seed=5)
    age = torch.full((32,), -1)
    previous_goal, changes = None, 0
    for _ in range(40):
        started = (observation["elapsed"][:, 0] == 0) | (observation["session"][:, 2] == 0)
        scheduled = (age < 0) | (age >= period) | ((age > 0) & started)
        slate = policy.act(observation, explore=True)
        assert policy.goal is not None and policy.controller is not None
        goal = policy.goal.clone()
        assert bool(((goal >= 0) & (goal < trainer.goal_space.num_goals)).all())
        if previous_goal is not None:
            changed = goal != previous_goal
            assert not (changed & ~scheduled).any(), "a goal changed off schedule"
            changes += int(changed.sum())
        age = torch.where(scheduled, torch.zeros_like(age), age) + 1
        # With a hard boost (1e3 per unit of match) the slate holds the candidates that match the goal
        # best; matches within 0.02 of each other differ by 20 logits, which noise may still cross.
        match = policy.controller.candidate_match(observation)
        in_slate = torch.zeros_like(match, dtype=torch.bool).scatter(1, slate, True)
        worst_shown = match.masked_fill(~in_slate, math.inf).min(dim=1).values
        best_left_out = match.masked_fill(in_slate, -math.inf).max(dim=1).values
        assert bool((worst_shown >= best_left_out - 0.02).all())
        next_observation, _, _, _, info = env.step(slate)
        policy.update(observation, slate, info["response"])
        observation, previous_goal = next_observation, goal
    assert changes > 0


def test_topic_memory_tracks_clicked_and_shown_topics() -> None:
    memory = TopicMemory(2, 4, rate=0.5, decay=0.5, device=CPU)
    topics = torch.tensor([[1, 2], [3, 3]])
    memory.record(topics, torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    assert torch.allclose(memory.clicks, torch.tensor([[0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
    assert torch.allclose(memory.shown, torch.tensor([[0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 2.0]]))
    assert torch.allclose(memory.novelty(torch.tensor([[1, 2], [0, 3]])), torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
    match = GoalSpace("novelty", 4).match(torch.tensor([0, 1]), torch.tensor([[1, 2], [0, 3]]), memory)
    assert torch.allclose(match, torch.tensor([[1.0, 0.0], [1.0, 1.0]]))  # user 0 familiar, user 1 explores
    memory.reset(torch.tensor([True, False]))
    assert float(memory.clicks[0].sum()) == 0.0 and float(memory.shown[1].sum()) == 2.0


# -- (3) checkpoints ---------------------------------------------------------------------------------------
def test_load_trainer_resumes_to_an_identical_continuation(tmp_path: Path) -> None:
    fields = {"seed": 3, "period": 2}
    steps = 16 * 8
    first = _small_trainer(total_steps=2 * steps, **fields)
    first.train(progress=False)
    first.save(tmp_path / "checkpoint.pt")
    resumed = load_trainer(tmp_path, total_steps=4 * steps)
    resumed.train(progress=False)
    straight = _small_trainer(total_steps=4 * steps, **fields)
    straight.train(progress=False)

    assert isinstance(resumed, HierarchicalTrainer)
    assert _without_timing(resumed.history) == _without_timing(straight.history)
    for name, component in straight.components().items():
        if isinstance(component, torch.nn.Module):
            for key, value in component.state_dict().items():
                assert torch.equal(value, resumed.components()[name].state_dict()[key]), f"{name}.{key}"
    assert torch.equal(resumed.controller.goal, straight.controller.goal)
    assert torch.equal(resumed.controller.memory.clicks, straight.controller.memory.clicks)


def test_policy_state_dict_continues_identically() -> None:
    trainer = _small_trainer(period=2)
    trainer.train(progress=False)
    env = build_vector_env(ENV_ID, 8, CPU, SMALL_ENV)
    observation, _ = env.reset(seed=2)
    policy = trainer.policy()
    for _ in range(5):
        slate = policy.act(observation)
        next_observation, _, _, _, info = env.step(slate)
        policy.update(observation, slate, info["response"])
        observation = next_observation
    copy = trainer.policy()
    assert isinstance(copy, HierarchicalPolicy)
    copy.load_state_dict(policy.state_dict())
    for _ in range(4):
        slate = policy.act(observation)
        assert torch.equal(copy.act(observation), slate)
        assert policy.goal is not None and copy.goal is not None and torch.equal(copy.goal, policy.goal)
        next_observation, _, _, _, info = env.step(slate)
        policy.update(observation, slate, info["response"])
        copy.update(observation, slate, info["response"])
        observation = next_observation


# -- (4) configuration errors -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"goal_kind": "genre"}, "goal_kind"),
        ({"planner": "oracle"}, "planner"),
        ({"period": -1}, "period"),
        ({"period": 0, "replan_on_session": False}, "period=0"),
        ({"goal_boost": math.inf}, "goal_boost"),
        ({"intrinsic_weight": -0.1}, "intrinsic_weight"),
        ({"high_gamma": 1.5}, "high_gamma"),
        ({"high_learning_rate": 0.0}, "high_learning_rate"),
        ({"high_epochs": 0}, "high_epochs"),
        ({"memory_rate": 0.0}, "memory_rate"),
        ({"exposure_decay": 2.0}, "exposure_decay"),
    ],
)
def test_bad_config_raises_config_error_naming_the_field(fields: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        config_for("hierarchical", **fields)


def test_errors_that_need_the_env_are_raised_when_building() -> None:
    with pytest.raises(ConfigError, match="llm_model"):
        _small_trainer(planner="llm")
    with pytest.raises(ConfigError, match="no sessions"):
        make_trainer("hierarchical", env_id="recgym/LinearClick-v0", num_users=4, period=0, num_minibatches=1)


# -- (5) the LLM planner -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama saved as a local model directory (no download), as the LLM persona tests build it."""
    from tests.simulators.llm.tiny_model import tiny_model, tiny_tokenizer

    directory = tmp_path_factory.mktemp("models") / "tiny-llama"
    tokenizer = tiny_tokenizer()
    tiny_model(len(tokenizer), seed=1).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_llm_planner_returns_valid_goals_deterministically(tiny_model_dir: Path) -> None:
    from recgym.llm.backends.transformers_backend import TransformersBackend

    memory = TopicMemory(6, 5, rate=0.2, decay=0.8, device=CPU)
    generator = torch.Generator().manual_seed(0)
    for _ in range(4):
        memory.record(
            torch.randint(5, (6, 2), generator=generator), (torch.rand(6, 2, generator=generator) < 0.4).float()
        )
    histories = memory.describe(torch.arange(6), watch_per_step=torch.linspace(0.5, 3.0, 6))
    assert len(histories) == 6 and all("topic" in text for text in histories)

    goals = GoalSpace("topic", 5)
    planner = LLMGoalPlanner(TransformersBackend.from_pretrained(tiny_model_dir), goals.descriptions())
    chosen = planner.plan(histories)
    assert chosen.dtype == torch.int64 and chosen.shape == (6,)
    assert bool(((chosen >= 0) & (chosen < goals.num_goals)).all())
    assert torch.equal(chosen, planner.scores(histories).argmax(dim=1))
    again = LLMGoalPlanner(TransformersBackend.from_pretrained(tiny_model_dir), goals.descriptions())
    assert torch.equal(again.plan(histories), chosen)
    assert planner.plan([]).shape == (0,)


def test_llm_planner_drives_a_full_training_iteration(tiny_model_dir: Path) -> None:
    trainer = _small_trainer(
        planner="llm", llm_model=str(tiny_model_dir), num_users=8, total_steps=64, num_minibatches=2
    )
    history = trainer.train(progress=False)
    assert len(history) == 1
    assert all(math.isfinite(value) for value in history[0].values())
    assert history[0]["decisions_per_user_step"] > 0
    assert "goal_policy" not in trainer.components()  # frozen: nothing of the planner is trained or saved
    assert isinstance(trainer.planner, LLMGoalPlanner)
    assert trainer.planner.backend.stats["prompts_scored"] > 0
    goal = trainer.controller.goal
    assert bool(((goal >= 0) & (goal < trainer.goal_space.num_goals)).all())
    env = build_vector_env(ENV_ID, 4, CPU, SMALL_ENV)
    observation, _ = env.reset(seed=0)
    slate = trainer.policy().act(observation, explore=False)
    assert slate.shape == (4, env.slate_size)
