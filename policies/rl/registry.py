"""RL algorithms by name, read from the one policy registry (``@register_policy(..., kind="rl")``
beside each trainer class), so the CLI, sweeps and checkpoints find a trainer by name.
``recgym.rl.make_trainer`` builds one with its envs.
"""

from __future__ import annotations

import difflib
from typing import Any

from policies.rl.config import TrainConfig
from policies.rl.trainer import Trainer
from recgym.errors import ConfigError


def algorithms() -> dict[str, type[Trainer]]:
    """Every registered RL algorithm and its trainer class, by name."""
    from policies.registry import policy_registry

    return {name: entry.target for name, entry in policy_registry().items() if entry.kind == "rl"}


def trainer_class(algorithm: str) -> type[Trainer]:
    """The trainer registered as ``algorithm``; ConfigError with a did-you-mean and the known names otherwise."""
    known = algorithms()
    if algorithm not in known:
        close = difflib.get_close_matches(algorithm, list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"Unknown algorithm {algorithm!r}{hint}; choose one of {sorted(known)}.")
    return known[algorithm]


def config_for(algorithm: str, **fields: Any) -> TrainConfig:
    """The algorithm's config with ``fields`` set, validated."""
    config = trainer_class(algorithm).config_class.from_dict(fields)
    config.validate()
    return config
