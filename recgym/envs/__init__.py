"""Gymnasium environments over any user simulator: batched (RecVectorEnv) and single (RecEnv)."""

from recgym.envs.registration import register, registered_ids
from recgym.envs.single_env import RecEnv
from recgym.envs.vector_env import RecVectorEnv

__all__ = ["RecEnv", "RecVectorEnv", "register", "registered_ids"]
