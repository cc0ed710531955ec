"""Episode metrics against hand-computed values, and the bootstrap interval against its definition."""

from __future__ import annotations

import math

import pytest
import torch

from policies import OracleGreedyPolicy, RandomPolicy
from recgym.core.rollout import evaluate_policy
from recgym.errors import ConfigError
from recgym.eval.metrics import (
    DEFAULT_METRICS,
    METRICS,
    bootstrap_ci,
    episode_metrics,
    exposure_fairness,
    gini,
    intra_list_diversity,
)
from tests.conftest import make_vector_env


def test_gini_of_equal_and_concentrated_exposure() -> None:
    assert gini(torch.ones(10)) == pytest.approx(0.0, abs=1e-12)
    assert gini(torch.tensor([0.0, 0.0, 0.0, 5.0])) == pytest.approx(0.75)  # (N-1)/N when one takes all
    assert gini(torch.tensor([1.0, 3.0])) == pytest.approx(0.25)  # mean absolute difference / (2 x mean)
    assert gini(torch.zeros(4)) == 0.0


def test_intra_list_diversity_is_mean_pairwise_cosine_distance() -> None:
    same = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    orthogonal = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    three = torch.nn.functional.normalize(torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]), dim=2)
    assert float(intra_list_diversity(same)) == pytest.approx(0.0)
    assert float(intra_list_diversity(orthogonal)) == pytest.approx(1.0)
    expected = (1.0 + 2 * (1.0 - 1.0 / math.sqrt(2.0))) / 3.0  # pairs: (a,b)=1, (a,c)=(b,c)=1-cos45
    assert float(intra_list_diversity(three)) == pytest.approx(expected)
    assert float(intra_list_diversity(torch.ones(1, 1, 3))) == 0.0


def test_exposure_fairness_is_parity_ratio_of_popular_and_niche_items() -> None:
    popularity = torch.tensor([0.5, 0.2, 0.1, 0.1, 0.05, 0.05, 0.0, 0.0, 0.0, 0.0])  # top 20%: items 0 and 1
    assert exposure_fairness(torch.ones(10), popularity) == pytest.approx(1.0)
    only_popular = torch.tensor([4.0, 4.0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert exposure_fairness(only_popular, popularity) == pytest.approx(0.0)
    half = torch.tensor([2.0, 2.0, 1, 1, 1, 1, 1, 1, 1, 1])
    assert exposure_fairness(half, popularity) == pytest.approx(0.5)


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_agreement() -> None:
    mean, low, high = bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean == 3.0 and low < mean < high and low >= 1.0 and high <= 5.0
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    single = bootstrap_ci([7.0])
    assert single[0] == 7.0 and math.isnan(single[1]) and math.isnan(single[2])
    assert bootstrap_ci([1.0, 5.0], seed=3) == bootstrap_ci([1.0, 5.0], seed=3)


def test_episode_metrics_agree_with_episode_totals_and_the_oracle() -> None:
    env = make_vector_env(num_envs=16, max_episode_steps=12)
    values = episode_metrics(env, OracleGreedyPolicy(env), seed=5, metrics=list(METRICS))
    totals = evaluate_policy(env, OracleGreedyPolicy(env), seed=5)
    assert values["engagement"] == pytest.approx(float(totals.watch_time.mean()), rel=1e-6)
    assert values["ctr"] == pytest.approx(float(totals.clicks.sum() / (totals.length.sum() * env.slate_size)))
    assert values["regret"] == pytest.approx(0.0, abs=1e-5)  # the oracle's own slates
    random_values = episode_metrics(env, RandomPolicy(env.slate_size, seed=1), seed=5)
    assert set(random_values) == set(DEFAULT_METRICS)
    assert random_values["regret"] > 0
    assert random_values["coverage"] > values["coverage"] * 0.5
    for name in ("diversity", "coverage", "exposure_fairness", "retention"):
        assert 0.0 <= random_values[name] <= 1.0


def test_unknown_metric_is_refused() -> None:
    env = make_vector_env(num_envs=2)
    with pytest.raises(ConfigError, match="Unknown metrics"):
        episode_metrics(env, RandomPolicy(env.slate_size), seed=0, metrics=["engagement", "happiness"])
