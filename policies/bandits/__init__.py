"""Contextual bandits, batched over users on torch: learn online from each slate's feedback."""

from policies.bandits.base import BanditPolicy, LinearBandit
from policies.bandits.contexts import CandidateContext, ProfileInteractionContext
from policies.bandits.epsilon_greedy import EpsilonGreedy
from policies.bandits.hatch import HATCH
from policies.bandits.linucb import DiagonalLinUCB, LinUCB
from policies.bandits.ridge import RidgeRegression
from policies.bandits.thompson import InSlateThompson, LinearThompson
from policies.bandits.ucb1 import UCB1

__all__ = [
    "HATCH",
    "UCB1",
    "BanditPolicy",
    "CandidateContext",
    "DiagonalLinUCB",
    "EpsilonGreedy",
    "InSlateThompson",
    "LinUCB",
    "LinearBandit",
    "LinearThompson",
    "ProfileInteractionContext",
    "RidgeRegression",
]
