"""Recommendation policies: baselines here; bandits, RL and adapters in submodules."""

from policies.base import Policy
from policies.baselines import MostPopularPolicy, MyopicGreedyPolicy, OracleGreedyPolicy, RandomPolicy

__all__ = ["MostPopularPolicy", "MyopicGreedyPolicy", "OracleGreedyPolicy", "Policy", "RandomPolicy"]
