"""Gymnasium environments over any user simulator: batched (RecVectorEnv) and single (RecEnv).

The env classes are imported on first use (they need torch), so ``import recgym``, which
only registers env ids, stays fast enough for ``recgym --help``.
"""

from __future__ import annotations

from typing import Any

from recgym.envs.registration import register, registered_ids

__all__ = ["RecEnv", "RecVectorEnv", "register", "registered_ids"]


def __getattr__(name: str) -> Any:
    if name == "RecEnv":
        from recgym.envs.single_env import RecEnv

        return RecEnv
    if name == "RecVectorEnv":
        from recgym.envs.vector_env import RecVectorEnv

        return RecVectorEnv
    raise AttributeError(f"module 'recgym.envs' has no attribute {name!r}")
