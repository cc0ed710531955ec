"""Wrappers: numpy conversion, flat observations, score actions, engagement stats, SB3 adapter."""

from recgym.wrappers.engagement import EpisodeEngagement, EpisodeEngagementVector
from recgym.wrappers.flatten import FlattenObservation, FlattenVectorObservation
from recgym.wrappers.numpy_vector import NumpyVector
from recgym.wrappers.score_actions import ScoreToSlate, ScoreToSlateVector

__all__ = [
    "EpisodeEngagement",
    "EpisodeEngagementVector",
    "FlattenObservation",
    "FlattenVectorObservation",
    "NumpyVector",
    "ScoreToSlate",
    "ScoreToSlateVector",
]
