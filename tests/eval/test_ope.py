"""Off-policy estimators: exact on hand-computed logs, equal to the Open Bandit Pipeline, unbiased against the truth."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import recgym  # noqa: F401  (registers env ids)
from policies import FixedLinearPolicy, MostPopularPolicy
from policies.stochastic import Deterministic, EpsilonMixture, PlackettLuce, SlateDistribution
from recgym.core.rollout import MetricSummary
from recgym.envs.vector_env import RecVectorEnv
from recgym.errors import ConfigError, LoggedDataError
from recgym.eval.ope import (
    ConstantRewardModel,
    EstimatorAccuracy,
    LinearRewardModel,
    LoggedBandit,
    OracleRewardModel,
    collect_log,
    direct_method,
    doubly_robust,
    estimator_accuracy,
    evaluate_off_policy,
    independent_ips,
    ips,
    on_policy_value,
    snips,
)

NUM_USERS = 64
NUM_CANDIDATES = 10
NUM_FEATURES = 8
NUM_SEEDS = 30
STEPS_PER_SEED = 10


def _linear_click(slate_size: int, num_users: int = NUM_USERS, **user_params: float) -> RecVectorEnv:
    return gym.make_vec(
        "recgym/LinearClick-v0",
        num_envs=num_users,
        vectorization_mode="vector_entry_point",
        num_candidates=NUM_CANDIDATES,
        slate_size=slate_size,
        num_features=NUM_FEATURES,
        theta_spread=0.5,
        position_decay=0.7,
        reward="clicks",
        **user_params,
    )


def _behaviour_and_target_weights() -> tuple[torch.Tensor, torch.Tensor]:
    """Two fixed, different taste directions: the logging policy's and the evaluated policy's."""
    generator = torch.Generator().manual_seed(5)
    return torch.randn(NUM_FEATURES, generator=generator), torch.randn(NUM_FEATURES, generator=generator)


def _behaviour(slate_size: int) -> EpsilonMixture:
    behaviour_weights, _ = _behaviour_and_target_weights()
    return EpsilonMixture(FixedLinearPolicy(behaviour_weights, slate_size), epsilon=0.5, seed=1)


def _stochastic_target(slate_size: int) -> SlateDistribution:
    _, target_weights = _behaviour_and_target_weights()
    if slate_size == 1:
        return PlackettLuce(FixedLinearPolicy(target_weights, 1), temperature=0.5, seed=2)
    return EpsilonMixture(FixedLinearPolicy(target_weights, slate_size), epsilon=0.2, seed=2)


def _deterministic_target(slate_size: int) -> Deterministic:
    _, target_weights = _behaviour_and_target_weights()
    return Deterministic(FixedLinearPolicy(target_weights, slate_size))


# -- logging and the truth --------------------------------------------------------------------------


@pytest.mark.parametrize("position_reward", ["clicked", "watch_time"])
def test_log_holds_exact_behaviour_probabilities_and_rewards_that_sum_to_the_env_reward(position_reward: str) -> None:
    env = _linear_click(slate_size=2, num_users=16)
    behaviour = _behaviour(2)
    log = collect_log(env, behaviour, num_steps=5, seed=3, position_reward=position_reward)
    assert log.num_rows == 5 * 16 and log.slate_size == 2 and log.num_candidates == NUM_CANDIDATES
    assert torch.equal(log.rewards, log.position_rewards.sum(dim=1))
    assert log.oracle_rewards is not None and log.oracle_rewards.shape == (80, NUM_CANDIDATES)
    rows = slice(16, 32)  # the second step
    observation = {name: value[rows] for name, value in log.observations.items()}
    assert torch.equal(behaviour.propensity(observation, log.slates[rows]), log.propensities[rows])
    marginals = behaviour.position_marginals(observation).gather(2, log.slates[rows].unsqueeze(2)).squeeze(2)
    assert torch.equal(marginals, log.position_propensities[rows])


def test_unknown_position_reward_is_refused() -> None:
    with pytest.raises(ConfigError, match="position_reward"):
        collect_log(_linear_click(1, num_users=4), _behaviour(1), num_steps=1, position_reward="liked")


def test_a_learning_behaviour_keeps_learning_while_it_logs() -> None:
    most_popular = MostPopularPolicy(num_items=1_000, slate_size=1)
    log = collect_log(_linear_click(1, num_users=16), EpsilonMixture(most_popular, epsilon=0.3), num_steps=5)
    assert most_popular.click_counts.sum().item() == log.position_rewards.sum().item() > 0


def test_direct_method_with_the_oracle_is_exact_for_a_deterministic_target() -> None:
    """Same seed, same contexts: the oracle DM and the on-policy value average the same numbers."""
    env = _linear_click(slate_size=1)
    log = collect_log(env, _behaviour(1), num_steps=STEPS_PER_SEED, seed=11)
    target = _deterministic_target(1)
    truth = on_policy_value(env, target, num_steps=STEPS_PER_SEED, seed=11)
    estimate = direct_method(log, target, OracleRewardModel.from_log(log))
    assert truth.count == log.num_rows
    assert estimate.value == pytest.approx(truth.mean, abs=1e-9)


# -- unbiasedness over seeds --------------------------------------------------------------------------


def _sweep(slate_size: int, first_seed: int = 100, **user_params: float) -> EstimatorAccuracy:
    torch.set_num_threads(1)
    target = _stochastic_target(slate_size)
    wrong_constant = ConstantRewardModel(0.1)
    # Heavy ridge on the slope leaves only the intercept: a model that ignores the items.
    intercept_only = lambda log: LinearRewardModel.fit(log, regularization=1e6)  # noqa: E731
    estimators = {
        "ips": lambda log: ips(log, target),
        "snips": lambda log: snips(log, target),
        "iips": lambda log: independent_ips(log, target),
        "dm_constant": lambda log: direct_method(log, target, wrong_constant),
        "dr_constant": lambda log: doubly_robust(log, target, wrong_constant),
        "dm_intercept_only": lambda log: direct_method(log, target, intercept_only(log)),
        "dr_intercept_only": lambda log: doubly_robust(log, target, intercept_only(log)),
        "dm_oracle": lambda log: direct_method(log, target, OracleRewardModel.from_log(log)),
    }
    env = _linear_click(slate_size, **user_params)
    return estimator_accuracy(
        env, _behaviour(slate_size), target, estimators, NUM_SEEDS, STEPS_PER_SEED, first_seed=first_seed
    )


@pytest.fixture(scope="module")
def single_slot_sweep() -> EstimatorAccuracy:
    """Slate size 1: full-slate weights are small enough for IPS, SNIPS and DR to be compared.

    Click probabilities around 0.8 (rewards far from zero) are where self-normalisation pays
    most, so SNIPS's advantage shows clearly in 30 seeds.
    """
    return _sweep(slate_size=1, click_base=0.8, click_scale=0.2)


@pytest.fixture(scope="module")
def slate_sweep() -> EstimatorAccuracy:
    """Slate size 2 under position-based clicks: where item-position IPS is needed."""
    return _sweep(slate_size=2)


@pytest.mark.parametrize("name", ["ips", "dr_constant", "dr_intercept_only"])
def test_ips_and_doubly_robust_are_unbiased(single_slot_sweep: EstimatorAccuracy, name: str) -> None:
    assert abs(single_slot_sweep.bias(name)) < 3 * single_slot_sweep.standard_error(name)


def test_snips_varies_less_than_ips(single_slot_sweep: EstimatorAccuracy) -> None:
    assert single_slot_sweep.spread("snips") < 0.8 * single_slot_sweep.spread("ips")
    assert abs(single_slot_sweep.bias("snips")) < 3 * single_slot_sweep.standard_error("snips")


def test_doubly_robust_repairs_a_wrong_model_that_biases_the_direct_method(
    single_slot_sweep: EstimatorAccuracy,
) -> None:
    sweep = single_slot_sweep
    assert sweep.rmse("dr_constant") < 0.5 * sweep.rmse("dm_constant")
    assert abs(sweep.bias("dm_constant")) > 0.3  # predicts 0.1 for clicks near 0.5
    assert abs(sweep.bias("dm_intercept_only")) > 3 * sweep.standard_error("dm_intercept_only")


def test_direct_method_with_the_oracle_is_nearly_exact(single_slot_sweep: EstimatorAccuracy) -> None:
    """Off only by the sampling noise of the stochastic target's slates in the on-policy run."""
    errors = single_slot_sweep.errors("dm_oracle")
    assert errors.abs().max() < 0.02
    assert abs(single_slot_sweep.bias("dm_oracle")) < 3 * single_slot_sweep.standard_error("dm_oracle")


def test_independent_ips_is_unbiased_and_steadier_than_full_slate_ips_under_position_clicks(
    slate_sweep: EstimatorAccuracy,
) -> None:
    assert abs(slate_sweep.bias("iips")) < 3 * slate_sweep.standard_error("iips")
    assert slate_sweep.spread("iips") < 0.5 * slate_sweep.spread("ips")


def test_position_free_direct_method_is_biased_under_position_effects(slate_sweep: EstimatorAccuracy) -> None:
    """Even the oracle's item values overstate the slate: lower positions are seen less often."""
    assert slate_sweep.bias("dm_oracle") > 0.05


# -- cross-check against the Open Bandit Pipeline ------------------------------------------------------


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


@pytest.fixture(scope="module")
def obp_ope():
    return pytest.importorskip("obp.ope")


def test_single_slot_estimators_equal_open_bandit_pipeline(obp_ope) -> None:
    env = _linear_click(slate_size=1)
    log = collect_log(env, _behaviour(1), num_steps=5, seed=21)
    target = _stochastic_target(1)
    model = LinearRewardModel.fit(log)
    action_dist = _numpy(target.position_marginals(log.observations).transpose(1, 2))  # [N, C, 1]
    arrays = {
        "reward": _numpy(log.rewards),
        "action": _numpy(log.slates[:, 0]),
        "pscore": _numpy(log.propensities),
        "action_dist": action_dist,
        "position": np.zeros(log.num_rows, dtype=int),
    }
    estimated_rewards = _numpy(model.predict(log.observations)).reshape(log.num_rows, NUM_CANDIDATES, 1)
    expected = {
        "ips": obp_ope.InverseProbabilityWeighting().estimate_policy_value(**arrays),
        "snips": obp_ope.SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**arrays),
        "dm": obp_ope.DirectMethod().estimate_policy_value(
            action_dist=action_dist, estimated_rewards_by_reg_model=estimated_rewards, position=arrays["position"]
        ),
        "dr": obp_ope.DoublyRobust().estimate_policy_value(**arrays, estimated_rewards_by_reg_model=estimated_rewards),
    }
    ours = {
        "ips": ips(log, target),
        "snips": snips(log, target),
        "dm": direct_method(log, target, model),
        "dr": doubly_robust(log, target, model),
    }
    for name, value in expected.items():
        assert ours[name].value == pytest.approx(value, rel=1e-8), name


def test_slate_estimators_equal_open_bandit_pipeline(obp_ope) -> None:
    slate_size = 3
    env = _linear_click(slate_size=slate_size, num_users=32)
    log = collect_log(env, _behaviour(slate_size), num_steps=4, seed=22)
    target = _stochastic_target(slate_size)
    target_marginals = target.position_marginals(log.observations).gather(2, log.slates.unsqueeze(2)).squeeze(2)
    per_slot = {
        "slate_id": np.repeat(np.arange(log.num_rows), slate_size),
        "reward": _numpy(log.position_rewards.reshape(-1)),
        "position": np.tile(np.arange(slate_size), log.num_rows),
    }
    standard = obp_ope.SlateStandardIPS(len_list=slate_size).estimate_policy_value(
        **per_slot,
        pscore=np.repeat(_numpy(log.propensities), slate_size),
        evaluation_policy_pscore=np.repeat(_numpy(target.propensity(log.observations, log.slates)), slate_size),
    )
    independent = obp_ope.SlateIndependentIPS(len_list=slate_size).estimate_policy_value(
        **per_slot,
        pscore_item_position=_numpy(log.position_propensities.reshape(-1)),
        evaluation_policy_pscore_item_position=_numpy(target_marginals.reshape(-1)),
    )
    assert ips(log, target).value == pytest.approx(standard, rel=1e-8)
    assert independent_ips(log, target).value == pytest.approx(independent, rel=1e-8)


# -- exact hand-computed cases --------------------------------------------------------------------------


def _hand_log(**changes: torch.Tensor) -> LoggedBandit:
    """Three rows, two candidates with features 0 and 1; the target below prefers candidate 1."""
    fields = {
        "observations": {"candidate_features": torch.tensor([[0.0], [1.0]]).expand(3, 2, 1).clone()},
        "slates": torch.tensor([[1], [0], [1]]),
        "propensities": torch.tensor([0.5, 0.5, 0.25]),
        "position_propensities": torch.tensor([[0.5], [0.5], [0.25]]),
        "position_rewards": torch.tensor([[1.0], [0.0], [1.0]]),
        "rewards": torch.tensor([1.0, 0.0, 1.0]),
    }
    return LoggedBandit(**(fields | changes))


def _hand_target() -> EpsilonMixture:
    """Candidate 1 with probability 0.5 + 0.5 / 2 = 0.75, candidate 0 with 0.25."""
    return EpsilonMixture(FixedLinearPolicy(torch.tensor([1.0]), 1), epsilon=0.5)


def test_estimators_on_a_hand_computed_log() -> None:
    log, target = _hand_log(), _hand_target()
    model = OracleRewardModel(torch.tensor([[0.2, 0.6]] * 3, dtype=torch.float64))
    # Weights 0.75/0.5, 0.25/0.5, 0.75/0.25 = 1.5, 0.5, 3; rewards 1, 0, 1.
    estimate = ips(log, target)
    assert estimate.value == pytest.approx(4.5 / 3)
    # Contributions 1.5, 0, 3 have sample standard deviation 1.5.
    assert estimate.ci_high - estimate.value == pytest.approx(1.959964 * 1.5 / math.sqrt(3))
    assert estimate.count == 3
    assert snips(log, target).value == pytest.approx(4.5 / 5.0)
    # DM per row: 0.25 * 0.2 + 0.75 * 0.6 = 0.5.
    assert direct_method(log, target, model).value == pytest.approx(0.5)
    # DR per row: 0.5 + 1.5 (1 - 0.6), 0.5 + 0.5 (0 - 0.2), 0.5 + 3 (1 - 0.6) = 1.1, 0.4, 1.7.
    assert doubly_robust(log, target, model).value == pytest.approx(3.2 / 3)
    assert independent_ips(log, target).value == pytest.approx(4.5 / 3)
    assert direct_method(log, target, ConstantRewardModel(2.0)).value == pytest.approx(2.0)


def _repeated(log: LoggedBandit, times: int, groups: torch.Tensor | None) -> LoggedBandit:
    """Every row of ``log`` ``times`` times in a row (row-major), with the given groups."""

    def repeat(value: torch.Tensor | None) -> torch.Tensor | None:
        return None if value is None else value.repeat_interleave(times, dim=0)

    return LoggedBandit(
        observations={name: repeat(value) for name, value in log.observations.items()},
        slates=repeat(log.slates),
        propensities=repeat(log.propensities),
        position_propensities=repeat(log.position_propensities),
        position_rewards=repeat(log.position_rewards),
        rewards=repeat(log.rewards),
        groups=groups,
    )


def test_intervals_count_groups_not_rows() -> None:
    """Copies of a row in one group add no information: the interval stays the original log's."""
    log, target = _hand_log(), _hand_target()
    model = OracleRewardModel(torch.tensor([[0.2, 0.6]] * 6, dtype=torch.float64))
    original_model = OracleRewardModel(torch.tensor([[0.2, 0.6]] * 3, dtype=torch.float64))
    grouped = _repeated(log, 2, groups=torch.tensor([7, 7, 3, 3, 9, 9]))
    as_rows = _repeated(log, 2, groups=None)
    for estimate in (ips, snips, independent_ips):
        reference, clustered, naive = estimate(log, target), estimate(grouped, target), estimate(as_rows, target)
        assert clustered.value == pytest.approx(reference.value)
        assert clustered.ci_high - clustered.ci_low == pytest.approx(reference.ci_high - reference.ci_low)
        assert naive.ci_high - naive.ci_low < 0.8 * (reference.ci_high - reference.ci_low)
    clustered = doubly_robust(grouped, target, model)
    reference = doubly_robust(log, target, original_model)
    assert clustered.ci_high - clustered.ci_low == pytest.approx(reference.ci_high - reference.ci_low)


def test_one_row_per_group_gives_the_row_interval() -> None:
    log, target = _hand_log(), _hand_target()
    singletons = _hand_log(groups=torch.tensor([4, 1, 2]))
    assert ips(singletons, target).ci_low == pytest.approx(ips(log, target).ci_low)
    assert snips(singletons, target).ci_high == pytest.approx(snips(log, target).ci_high)


def test_collected_logs_group_rows_by_user() -> None:
    log = collect_log(_linear_click(slate_size=2, num_users=16), _behaviour(2), num_steps=5, seed=3)
    assert log.groups is not None
    assert torch.equal(log.groups, torch.arange(16).repeat(5))


def test_groups_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(LoggedDataError, match="groups has 2"):
        _hand_log(groups=torch.tensor([0, 1]))


def test_evaluate_off_policy_reports_every_estimator_with_bias() -> None:
    log = _hand_log()
    summary = MetricSummary(1.0, 0.9, 1.1, 3)
    model = OracleRewardModel(torch.tensor([[0.2, 0.6]] * 3, dtype=torch.float64))
    frame = evaluate_off_policy(log, _hand_target(), model=model, truth=summary)
    assert frame["estimator"].tolist() == ["ips", "snips", "dm", "dr", "iips"]
    by_name = frame.set_index("estimator")
    assert by_name.loc["dm", "estimate"] == pytest.approx(0.5)
    assert by_name.loc["ips", "bias"] == pytest.approx(0.5)
    assert {"ci_low", "ci_high", "count", "truth", "truth_in_ci", "note"} <= set(frame.columns)


def test_evaluate_off_policy_notes_what_a_plackett_luce_slate_target_cannot_support() -> None:
    env = _linear_click(slate_size=2, num_users=8)
    log = collect_log(env, _behaviour(2), num_steps=2)
    _, target_weights = _behaviour_and_target_weights()
    target = PlackettLuce(FixedLinearPolicy(target_weights, 2), temperature=1.0)
    frame = evaluate_off_policy(log, target).set_index("estimator")
    assert math.isfinite(frame.loc["ips", "estimate"]) and math.isfinite(frame.loc["snips", "estimate"])
    for name in ("dm", "dr", "iips"):
        assert math.isnan(frame.loc[name, "estimate"])
        assert "EpsilonMixture" in frame.loc[name, "note"]


# -- bad logs and bad arguments ------------------------------------------------------------------------


def test_zero_propensity_is_refused_because_ips_cannot_use_it() -> None:
    with pytest.raises(LoggedDataError, match=r"1 entries of propensities are 0.*IPS cannot use them"):
        _hand_log(propensities=torch.tensor([0.5, 0.0, 0.25]))


def test_propensity_above_one_is_refused_as_not_a_probability() -> None:
    with pytest.raises(LoggedDataError, match=r"1 entries of propensities exceed 1 .*not probabilities"):
        _hand_log(propensities=torch.tensor([0.5, 1.5, 0.25]))


def test_mismatched_lengths_name_the_fields() -> None:
    with pytest.raises(LoggedDataError, match=r"slates has 3 rows while propensities has 2, rewards has 4"):
        _hand_log(propensities=torch.tensor([0.5, 0.5]), rewards=torch.tensor([1.0, 0.0, 1.0, 1.0]))
    short_observations = {"candidate_features": torch.zeros(2, 2, 1)}
    with pytest.raises(LoggedDataError, match=r"observations\['candidate_features'\] has 2"):
        _hand_log(observations=short_observations)


def test_nan_reward_is_refused_with_the_number_of_rows() -> None:
    with pytest.raises(LoggedDataError, match="1 of 3 rows have NaN or infinite rewards"):
        _hand_log(rewards=torch.tensor([1.0, float("nan"), 1.0]))
    with pytest.raises(LoggedDataError, match="2 of 3 rows have NaN or infinite rewards"):
        _hand_log(position_rewards=torch.tensor([[float("inf")], [0.0], [float("nan")]]))


def test_target_of_another_slate_size_is_refused() -> None:
    target = EpsilonMixture(FixedLinearPolicy(torch.tensor([1.0]), 2), epsilon=0.5)
    with pytest.raises(ConfigError, match="slates of 2 items but the log holds slates of 1"):
        ips(_hand_log(), target)


def test_snips_without_support_for_the_target_is_refused() -> None:
    log = _hand_log(slates=torch.tensor([[0], [0], [0]]))
    with pytest.raises(LoggedDataError, match="no support"):
        snips(log, Deterministic(FixedLinearPolicy(torch.tensor([1.0]), 1)))


def test_on_policy_value_takes_a_plain_policy_as_it_is_deployed() -> None:
    """No Deterministic wrapper needed for the truth: a plain policy is rolled out with act(explore=False)."""
    env = _linear_click(slate_size=2, num_users=16)
    _, target_weights = _behaviour_and_target_weights()
    plain = on_policy_value(env, FixedLinearPolicy(target_weights, 2), num_steps=3, seed=4)
    wrapped = on_policy_value(env, Deterministic(FixedLinearPolicy(target_weights, 2)), num_steps=3, seed=4)
    assert plain.mean == pytest.approx(wrapped.mean, abs=1e-12) and plain.count == 48


def test_off_policy_estimators_name_the_wrapper_a_plain_policy_needs() -> None:
    message = r"FixedLinearPolicy has no propensity or position_marginals\(\).*Deterministic\(policy\)"
    with pytest.raises(ConfigError, match=message):
        evaluate_off_policy(_hand_log(), FixedLinearPolicy(torch.tensor([1.0]), 1))
    with pytest.raises(ConfigError, match="str is not a policy"):
        on_policy_value(_linear_click(1, num_users=4), "greedy", num_steps=1)
