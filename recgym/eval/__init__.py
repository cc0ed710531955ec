"""Evaluation: roll policies out on simulated users and summarise engagement with confidence intervals."""

from recgym.eval.regret import LearningCurve, learning_curve, oracle_slate
from recgym.eval.rollout import EpisodeTotals, MetricSummary, evaluate_policy

__all__ = ["EpisodeTotals", "LearningCurve", "MetricSummary", "evaluate_policy", "learning_curve", "oracle_slate"]
