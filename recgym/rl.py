"""RL trainers with the envs they train on: the one place a trainer's envs are built.

``policies.rl`` holds the algorithms and never builds an env (it sits below the env layer);
``make_trainer`` hands each trainer a ``make_env(num_users)`` over ``build_vector_env`` for
its config's env id, options and device, and ``load_trainer`` does the same for a checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from policies.rl.config import TrainConfig
from policies.rl.registry import trainer_class
from policies.rl.trainer import EnvMaker, Trainer, read_checkpoint
from recgym.core.device import resolve_device
from recgym.envs.builder import build_vector_env


def env_maker(config: TrainConfig) -> EnvMaker:
    """``make_env(num_users)`` for ``config``'s env; the device is resolved when an env is made, after validation."""

    def make_env(num_users: int) -> Any:
        return build_vector_env(config.env_id, num_users, resolve_device(config.device), config.env_kwargs)

    return make_env


def make_trainer(algorithm: str, **fields: Any) -> Trainer:
    """A trainer from its name and config fields (unknown fields raise ConfigError)."""
    cls = trainer_class(algorithm)
    config = cls.config_class.from_dict(fields)
    return cls(config, env_maker(config))


def load_trainer(path: str | Path, **overrides: Any) -> Trainer:
    """Rebuild the trainer saved at ``path`` (a checkpoint file or an out_dir) and restore its state.

    ``overrides`` change config fields first, e.g. a larger ``total_steps`` to train on, or
    another ``device``.
    """
    device = overrides.get("device")
    map_location = "cpu" if device in (None, "auto") else torch.device(device)
    checkpoint = read_checkpoint(path, map_location)
    fields = checkpoint["config"] | overrides
    trainer = make_trainer(checkpoint["algorithm"], **fields)
    trainer.restore(checkpoint)
    return trainer
