"""Algorithm names to trainers, so the CLI and checkpoints find a trainer by name.

Entries are 'module:Class' strings imported on demand: listing algorithms stays cheap.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

from policies.rl.config import TrainConfig
from policies.rl.trainer import Trainer, read_checkpoint
from recgym.errors import ConfigError

ALGORITHMS: dict[str, str] = {
    "ppo": "policies.rl.actor_critic:PPOTrainer",
    "a2c": "policies.rl.actor_critic:A2CTrainer",
    "slateq": "policies.rl.slateq:SlateQTrainer",
    "constrained": "policies.rl.constrained:TwoStageConstrainedTrainer",
    "hierarchical": "policies.rl.hierarchical:HierarchicalTrainer",
    "sim2rec": "policies.rl.sim2rec:Sim2RecTrainer",
}


def trainer_class(algorithm: str) -> type[Trainer]:
    """The trainer registered as ``algorithm``; ConfigError listing the known names otherwise."""
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"Unknown algorithm {algorithm!r}; choose one of {sorted(ALGORITHMS)}.")
    module_name, class_name = ALGORITHMS[algorithm].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def make_trainer(algorithm: str, **fields: Any) -> Trainer:
    """A trainer from its name and config fields (unknown fields raise ConfigError)."""
    cls = trainer_class(algorithm)
    return cls(cls.config_class.from_dict(fields))


def config_for(algorithm: str, **fields: Any) -> TrainConfig:
    """The algorithm's config with ``fields`` set, validated."""
    config = trainer_class(algorithm).config_class.from_dict(fields)
    config.validate()
    return config


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
