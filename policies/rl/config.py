"""TrainConfig: what every RL trainer shares (env, population, budget, device, checkpoints).

Each algorithm subclasses it with its own documented fields. ``validate`` runs before
anything is built, so a bad config fails at once with the field and the fix.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from recgym.errors import ConfigError


@dataclasses.dataclass
class TrainConfig:
    """Fields every trainer reads; algorithm configs add theirs."""

    env_id: str = "recgym/LongTermSatisfaction-v0"
    """A registered recgym env id (``recgym envs`` lists them)."""
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Keyword arguments for ``gym.make_vec`` (simulator parameters, slate size, ...)."""
    num_users: int = 1024
    """Users simulated in parallel while training (the vector env's batch)."""
    total_steps: int = 1_000_000
    """Training budget in user-steps (one user shown one slate)."""
    rollout_steps: int = 32
    """Steps per user collected before each update."""
    gamma: float = 0.99
    """Discount per step; long-term engagement needs it close to 1."""
    learning_rate: float = 3e-4
    """Adam step size."""
    hidden_size: int = 64
    """Width of every hidden layer."""
    max_grad_norm: float = 1.0
    """Gradients are clipped to this global norm."""
    device: str = "auto"
    """Torch device of env and networks: 'cpu', 'cuda', 'cuda:N' or 'auto'."""
    seed: int = 0
    """Seeds users, network initialisation and action sampling: same seed, same run."""
    checkpoint_every: int = 20
    """Iterations between checkpoints in ``out_dir`` (0: only at the end)."""
    out_dir: Path | None = None
    """Folder for checkpoints and TensorBoard logs; None keeps nothing on disk."""

    def validate(self) -> None:
        """Raise ConfigError naming the first invalid field."""
        positive_ints = ("num_users", "total_steps", "rollout_steps", "hidden_size")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{type(self).__name__}.{name} must be a positive integer; got {value!r}.")
        if not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"{type(self).__name__}.gamma must lie in [0, 1]; got {self.gamma}.")
        for name in ("learning_rate", "max_grad_norm"):
            value = getattr(self, name)
            if not value > 0 or math.isinf(value):
                raise ConfigError(f"{type(self).__name__}.{name} must be a positive finite number; got {value}.")
        if self.checkpoint_every < 0:
            raise ConfigError(f"checkpoint_every must be >= 0 (0: only at the end); got {self.checkpoint_every}.")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type in ("bool", bool) and not isinstance(value, bool):
                raise ConfigError(
                    f"{type(self).__name__}.{field.name} must be true or false; got {value!r} "
                    f"({type(value).__name__}). On the command line write {field.name}=true or {field.name}=false."
                )
        if not isinstance(self.env_kwargs, dict):
            raise ConfigError(f"env_kwargs must be a dict of keyword arguments; got {type(self.env_kwargs).__name__}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain values for checkpoints and logs (paths as strings)."""
        values = dataclasses.asdict(self)
        values["out_dir"] = None if self.out_dir is None else str(self.out_dir)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The config back from ``to_dict``; unknown keys raise ConfigError listing the known ones."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"Unknown {cls.__name__} field(s) {unknown}; known fields: {sorted(known)}.")
        values = dict(values)
        if values.get("out_dir") is not None:
            values["out_dir"] = Path(values["out_dir"])
        return cls(**values)
