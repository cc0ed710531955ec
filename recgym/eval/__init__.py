"""Evaluation: roll policies out on simulated users and summarise engagement with confidence intervals."""

from recgym.eval.rollout import EpisodeTotals, MetricSummary, evaluate_policy

__all__ = ["EpisodeTotals", "MetricSummary", "evaluate_policy"]
