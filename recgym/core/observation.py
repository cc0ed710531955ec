"""Observation helpers shared by the wrappers and by policies that act on a flat observation (SB3's MlpPolicy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def flatten_observation(observation: dict[str, Any], keys: Sequence[str], batched: bool) -> Any:
    """Concatenate ``keys`` of a (batched or single) observation along the last axis."""
    lead = 1 if batched else 0
    parts = [observation[key].reshape(*observation[key].shape[:lead], -1) for key in keys]
    if isinstance(parts[0], torch.Tensor):
        return torch.cat([part.to(torch.float32) for part in parts], dim=-1)
    return np.concatenate([part.astype(np.float32) for part in parts], axis=-1)
