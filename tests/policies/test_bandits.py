"""Bandits against theory on LinearClick, where the expected reward is exactly linear in the features."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import recgym  # noqa: F401  (registers the envs)
from policies.bandits import (
    HATCH,
    UCB1,
    DiagonalLinUCB,
    EpsilonGreedy,
    InSlateThompson,
    LinearThompson,
    LinUCB,
)
from policies.bandits.hatch import allocate_exploration
from policies.baselines import OracleGreedyPolicy, RandomPolicy
from recgym.core.response import Response
from recgym.envs.vector_env import RecVectorEnv
from recgym.errors import ConfigError
from recgym.eval.regret import LearningCurve, learning_curve

NUM_USERS, NUM_CANDIDATES, SLATE_SIZE, STEPS = 16, 20, 2, 300


def linear_env(num_users: int = NUM_USERS, **kwargs) -> RecVectorEnv:
    settings = {"num_candidates": NUM_CANDIDATES, "slate_size": SLATE_SIZE, "theta_spread": 0.0} | kwargs
    return gym.make_vec(
        "recgym/LinearClick-v0", num_envs=num_users, vectorization_mode="vector_entry_point", **settings
    )


def final_regret(policy, steps: int = STEPS, **env_kwargs) -> LearningCurve:
    return learning_curve(linear_env(**env_kwargs), policy, steps, seed=1)


@pytest.fixture(scope="module")
def curves() -> dict[str, LearningCurve]:
    return {
        "linucb": final_regret(LinUCB(SLATE_SIZE, alpha=1.0)),
        "epsilon_greedy": final_regret(EpsilonGreedy(SLATE_SIZE, epsilon=0.1)),
        "random": final_regret(RandomPolicy(SLATE_SIZE)),
        "thompson": final_regret(LinearThompson(SLATE_SIZE)),
        "in_slate_thompson": final_regret(InSlateThompson(SLATE_SIZE)),
    }


def test_linucb_regret_grows_sublinearly_and_beats_blind_exploration(curves: dict[str, LearningCurve]) -> None:
    linucb = curves["linucb"]
    assert linucb.regret_growth_exponent() < 0.5
    assert curves["random"].regret_growth_exponent() > 0.95  # a policy that never learns: linear regret
    total = {name: float(curve.cumulative_regret[-1]) for name, curve in curves.items()}
    assert total["linucb"] < 0.4 * total["epsilon_greedy"]
    assert total["linucb"] < 0.05 * total["random"]


def test_thompson_sampling_converges_to_the_best_slates(curves: dict[str, LearningCurve]) -> None:
    random_regret = float(curves["random"].regret[-50:].mean())
    for name in ("thompson", "in_slate_thompson"):
        curve = curves[name]
        assert float(curve.regret[-50:].mean()) < 0.03 * random_regret, name
        assert curve.regret_growth_exponent() < 0.6, name


def test_thompson_posterior_mean_recovers_the_true_model() -> None:
    env = linear_env()
    policy = LinearThompson(SLATE_SIZE)
    learning_curve(env, policy, STEPS, seed=2)
    simulator = env.simulator
    truth = torch.cat([0.4 * simulator.population_theta, torch.tensor([0.5])])
    estimate = policy.model.theta[0]
    assert torch.nn.functional.cosine_similarity(estimate, truth, dim=0) > 0.99
    assert float((estimate - truth).norm()) < 0.05


def test_greedy_policy_with_the_true_model_has_zero_regret() -> None:
    env = linear_env()
    oracle_curve = learning_curve(env, OracleGreedyPolicy(env), 50, seed=3)
    assert float(oracle_curve.regret.abs().max()) < 1e-6
    # The same through the linear bandit's own scoring path: LinUCB with the true weights, no bonus, frozen.
    policy = LinUCB(SLATE_SIZE, alpha=0.0)
    env.reset(seed=3)
    policy.act(env.observe(env.state))  # builds the model
    policy.model.theta[0] = torch.cat([0.4 * env.simulator.population_theta, torch.tensor([0.5])])
    frozen = learning_curve(env, policy, 50, seed=3, learn=False)
    assert float(frozen.regret.abs().max()) < 1e-5


def test_per_user_models_learn_heterogeneous_users_that_a_shared_model_cannot() -> None:
    shared = final_regret(LinUCB(SLATE_SIZE), theta_spread=0.6)
    per_user = final_regret(LinUCB(SLATE_SIZE, per_user=True), theta_spread=0.6)
    assert shared.regret_growth_exponent() > 0.85  # one weight vector cannot fit everyone
    assert per_user.regret_growth_exponent() < 0.6
    assert float(per_user.cumulative_regret[-1]) < 0.5 * float(shared.cumulative_regret[-1])


def test_diagonal_linucb_and_ucb1_learn() -> None:
    random_total = float(final_regret(RandomPolicy(SLATE_SIZE)).cumulative_regret[-1])
    # Diag-LinUCB ignores feature correlations (here, between the intercept and the chosen items' features),
    # so on dense contexts it learns, but stays biased: about half of random's regret, against 4% for LinUCB.
    assert float(final_regret(DiagonalLinUCB(SLATE_SIZE)).cumulative_regret[-1]) < 0.7 * random_total
    # UCB1 ignores features, so it needs every item to recur: a 20-item catalog, all candidates every step.
    small = {"num_items": NUM_CANDIDATES}
    ucb1 = final_regret(UCB1(NUM_CANDIDATES, SLATE_SIZE), **small)
    assert ucb1.regret_growth_exponent() < 0.8
    assert float(ucb1.cumulative_regret[-1]) < 0.4 * float(
        final_regret(RandomPolicy(SLATE_SIZE), **small).cumulative_regret[-1]
    )


def test_in_slate_thompson_shows_distinct_items_and_explores_within_the_slate() -> None:
    env = linear_env(slate_size=4)
    policy = InSlateThompson(4, posterior_scale=5.0, exploit_positions=1)
    learning_curve(env, policy, 10, seed=0)  # an untrained model ties everywhere
    observation = env.observe(env.state)
    slate = policy.act(observation)
    assert slate.shape == (NUM_USERS, 4)
    assert bool((slate.sort(dim=1).values.diff(dim=1) > 0).all())
    greedy_first = policy.act(observation, explore=False)[:, 0]
    assert torch.equal(slate[:, 0], greedy_first)  # the exploited position follows the posterior mean


def test_cascade_feedback_ignores_items_below_the_click() -> None:
    policy = LinUCB(3, feedback="cascade")
    choice = torch.tensor([1, -1])
    response = Response.from_choice(choice, 3, torch.ones(2), left=torch.zeros(2, dtype=torch.bool))
    observed = policy.observed_positions(response)
    assert observed.tolist() == [[True, True, False], [True, True, True]]


def test_hatch_never_spends_more_than_its_budget_and_uses_most_of_it() -> None:
    budget, horizon = 600, 200
    env = linear_env(theta_spread=0.3)
    policy = HATCH(SLATE_SIZE, budget=budget, horizon=horizon, num_classes=4)
    observation, _ = env.reset(seed=0)
    explored_total = 0
    for _ in range(horizon + 50):  # run past the horizon: the budget must still hold
        slate = policy.act(observation)
        explored_total += int(policy.last_explored.sum())
        assert policy.spent <= budget
        next_observation, _, _, _, info = env.step(slate)
        policy.update(observation, slate, info["response"])
        observation = next_observation
    assert explored_total == policy.spent
    assert policy.spent >= 0.9 * budget


def test_hatch_without_budget_is_greedy() -> None:
    env = linear_env()
    policy = HATCH(SLATE_SIZE, budget=0, horizon=100)
    learning_curve(env, policy, 10, seed=0)  # an untrained model ties everywhere
    observation = env.observe(env.state)
    for _ in range(20):
        slate = policy.act(observation)
        assert not bool(policy.last_explored.any())
        assert torch.equal(slate, policy.act(observation, explore=False))
        next_observation, _, _, _, info = env.step(slate)
        policy.update(observation, slate, info["response"])
        observation = next_observation


def test_budget_allocation_fills_the_most_valuable_classes_first() -> None:
    value = torch.tensor([0.1, 0.9, 0.5, 0.0])
    frequency = torch.tensor([0.25, 0.25, 0.25, 0.25])
    probability = allocate_exploration(value, frequency, spend_rate=0.375)
    torch.testing.assert_close(probability, torch.tensor([0.0, 1.0, 0.5, 0.0]))
    assert float((probability * frequency).sum()) == pytest.approx(0.375)
    torch.testing.assert_close(allocate_exploration(value, frequency, 2.0), torch.ones(4))


@pytest.mark.parametrize(
    "make_policy",
    [
        lambda: LinUCB(SLATE_SIZE, per_user=True),
        lambda: LinearThompson(SLATE_SIZE),
        lambda: UCB1(1000, SLATE_SIZE),
        lambda: HATCH(SLATE_SIZE, budget=100, horizon=50),
    ],
    ids=["linucb", "thompson", "ucb1", "hatch"],
)
def test_saved_policy_continues_identically(make_policy) -> None:
    env = linear_env()
    original = make_policy()
    learning_curve(env, original, 20, seed=0)
    restored = make_policy()
    restored.load_state_dict(original.state_dict())
    observation = env.observe(env.state)
    for explore in (False, True):  # exploration draws from the saved generator state too
        torch.testing.assert_close(
            restored.act(observation, explore=explore), original.act(observation, explore=explore)
        )


def test_item_score_cache_gives_the_same_slates_as_scoring_every_pair() -> None:
    env = linear_env()
    item_features = env.simulator.item_features(torch.arange(env.simulator.catalog.num_items))
    cached, direct = LinUCB(SLATE_SIZE, item_features=item_features), LinUCB(SLATE_SIZE)
    assert cached.uses_item_cache and not direct.uses_item_cache
    curve_cached = learning_curve(env, cached, 30, seed=5)
    curve_direct = learning_curve(env, direct, 30, seed=5)
    torch.testing.assert_close(curve_cached.expected_reward, curve_direct.expected_reward)


def test_bad_bandit_settings_fail_with_clear_messages() -> None:
    with pytest.raises(ConfigError, match="alpha"):
        LinUCB(2, alpha=-1.0)
    with pytest.raises(ConfigError, match="epsilon"):
        EpsilonGreedy(2, epsilon=1.5)
    with pytest.raises(ConfigError, match="reward_signal"):
        LinUCB(2, reward_signal="dwell")
    with pytest.raises(ConfigError, match="feedback"):
        LinUCB(2, feedback="pbm")
    with pytest.raises(ConfigError, match="budget"):
        HATCH(2, budget=-1, horizon=10)
    with pytest.raises(ConfigError, match="context"):
        LinUCB(2, context="user")
    with pytest.raises(ConfigError, match="exploit_positions"):
        InSlateThompson(2, exploit_positions=3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_linucb_learns_on_cuda_as_on_cpu() -> None:
    curves = {
        device: learning_curve(linear_env(device=device), LinUCB(SLATE_SIZE), 100, seed=1) for device in ("cpu", "cuda")
    }
    assert float(curves["cuda"].cumulative_regret[-1]) == pytest.approx(
        float(curves["cpu"].cumulative_regret[-1]), rel=0.1
    )


def test_per_user_thompson_learns_interest_evolution_users_from_watch_time() -> None:
    """Beyond the linear home ground: a topic's watch time is linear in its one-hot features, per user."""

    def late_regret(policy) -> float:
        env = gym.make_vec(
            "recgym/InterestEvolution-v0",
            num_envs=64,
            vectorization_mode="vector_entry_point",
            num_items=500,
            num_topics=10,
        )
        return float(learning_curve(env, policy, 150, seed=0).regret[-50:].mean())

    random_regret = late_regret(RandomPolicy(SLATE_SIZE))
    thompson_regret = late_regret(LinearThompson(SLATE_SIZE, per_user=True, reward_signal="watch_time"))
    assert thompson_regret < 0.6 * random_regret
