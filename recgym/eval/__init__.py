"""Evaluation: roll policies out on simulated users and summarise engagement with confidence intervals."""

from recgym.core.rollout import EpisodeTotals, MetricSummary, evaluate_policy
from recgym.eval.ope import (
    LoggedBandit,
    OffPolicyEstimate,
    collect_log,
    direct_method,
    doubly_robust,
    evaluate_off_policy,
    independent_ips,
    ips,
    on_policy_value,
    snips,
)
from recgym.eval.regret import LearningCurve, learning_curve, oracle_slate

__all__ = [
    "EpisodeTotals",
    "LearningCurve",
    "LoggedBandit",
    "MetricSummary",
    "OffPolicyEstimate",
    "collect_log",
    "direct_method",
    "doubly_robust",
    "evaluate_off_policy",
    "evaluate_policy",
    "independent_ips",
    "ips",
    "learning_curve",
    "on_policy_value",
    "oracle_slate",
    "snips",
]
