"""Recommendation policies: baselines here; bandits, RL and adapters in submodules."""

from policies.base import Policy
from policies.baselines import (
    FixedLinearPolicy,
    MostPopularPolicy,
    MyopicGreedyPolicy,
    OracleGreedyPolicy,
    RandomPolicy,
)

__all__ = [
    "FixedLinearPolicy",
    "MostPopularPolicy",
    "MyopicGreedyPolicy",
    "OracleGreedyPolicy",
    "Policy",
    "RandomPolicy",
]
