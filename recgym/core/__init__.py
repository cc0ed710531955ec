"""Tensors and protocols that every other layer builds on; imports nothing else of recgym."""

from recgym.core.candidates import (
    CandidateSampler,
    PopularityCandidates,
    TopicAffinityCandidates,
    UniformCandidates,
)
from recgym.core.catalog import Catalog
from recgym.core.choice import Cascade, ChoiceModel, MultinomialLogit, MultinomialProportional, sample_choice
from recgym.core.response import Response
from recgym.core.reward import ClickReward, Reward, WatchTimeReward, WeightedReward, make_reward
from recgym.core.simulator import FeatureSpec, SimParams, UserSimulator
from recgym.core.slate import Slate, repair_duplicates, top_k_slate, validate_slate
from recgym.core.state import TensorState

__all__ = [
    "CandidateSampler",
    "Cascade",
    "Catalog",
    "ChoiceModel",
    "ClickReward",
    "FeatureSpec",
    "MultinomialLogit",
    "MultinomialProportional",
    "PopularityCandidates",
    "Response",
    "Reward",
    "SimParams",
    "Slate",
    "TensorState",
    "TopicAffinityCandidates",
    "UniformCandidates",
    "UserSimulator",
    "WatchTimeReward",
    "WeightedReward",
    "make_reward",
    "repair_duplicates",
    "sample_choice",
    "top_k_slate",
    "validate_slate",
]
