import pytest
import torch

from policies import RandomPolicy
from recgym.core.rollout import MetricSummary, evaluate_policy
from recgym.errors import ConfigError
from tests.conftest import make_vector_env


def test_rollout_totals_are_consistent_and_count_one_episode_per_user() -> None:
    env = make_vector_env(num_envs=32, max_episode_steps=30)
    totals = evaluate_policy(env, RandomPolicy(2), seed=0)
    assert torch.allclose(totals.episode_return, totals.watch_time)
    assert torch.all(totals.length <= 30) and torch.all(totals.length >= 1)
    assert torch.all(totals.clicks <= totals.length)
    summary = totals.summary()["watch_time"]
    assert summary.ci_low < summary.mean < summary.ci_high and summary.count == 32


def test_metric_summary_interval_shrinks_with_more_users() -> None:
    values = torch.randn(10_000, generator=torch.Generator().manual_seed(0))
    small, large = MetricSummary.of(values[:100]), MetricSummary.of(values)
    assert (large.ci_high - large.ci_low) < (small.ci_high - small.ci_low) / 5
    assert large.ci_low < 0.0 < large.ci_high


def test_rollout_that_cannot_finish_says_how_to_fix_it() -> None:
    env = make_vector_env(num_envs=4)
    env.max_episode_steps = None
    with pytest.raises(ConfigError, match="max_episode_steps"):
        evaluate_policy(env, RandomPolicy(2), max_steps=3)
