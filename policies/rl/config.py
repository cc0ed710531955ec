"""TrainConfig: what every RL trainer shares (env, population, budget, device, checkpoints).

Each algorithm subclasses it with its own documented fields. ``validate`` runs before
anything is built, so a bad config fails at once with the field and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
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
        self._check_types()
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

    def _check_types(self) -> None:
        """Every field holds a value of its annotated type (ints for ints, never a bool for a number)."""
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            expected = hints[field.name]
            if not _matches(value, expected):
                raise ConfigError(
                    f"{type(self).__name__}.{field.name} must be {_describe(expected)}; got {value!r} "
                    f"({type(value).__name__}). On the command line write e.g. "
                    f"--set {field.name}={_example(field, expected)}."
                )

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
            hints = [
                f"{name!r} (did you mean {close[0]!r}?)"
                if (close := difflib.get_close_matches(name, known, n=1))
                else repr(name)
                for name in unknown
            ]
            raise ConfigError(
                f"Unknown {cls.__name__} field(s) {', '.join(hints)}; known fields: {', '.join(sorted(known))}."
            )
        values = dict(values)
        if values.get("out_dir") is not None:
            values["out_dir"] = Path(values["out_dir"])
        return cls(**values)


def _matches(value: Any, expected: Any) -> bool:
    """Whether ``value`` fits the annotation ``expected`` (the simple types configs use)."""
    if expected is Any:
        return True
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, option) for option in typing.get_args(expected))
    if expected is type(None):
        return value is None
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is Path:
        return isinstance(value, Path | str)
    if origin in (tuple, list):
        arguments = [argument for argument in typing.get_args(expected) if argument is not Ellipsis]
        return isinstance(value, tuple | list) and all(_matches(item, arguments[0]) for item in value if arguments)
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, origin or expected)


def _describe(expected: Any) -> str:
    """A reader's name for an annotation: 'an integer', 'a number', 'true or false', ..."""
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", Path: "a path"}
    if expected in names:
        return names[expected]
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(
            "none" if option is type(None) else _describe(option) for option in typing.get_args(expected)
        )
    if origin in (tuple, list):
        return f"a list, each {_describe(typing.get_args(expected)[0])}"
    if origin is dict:
        return "a mapping of keyword arguments"
    return getattr(expected, "__name__", str(expected))


def _example(field: dataclasses.Field, expected: Any) -> str:
    """The field's default written as the command line takes it."""
    default = field.default if field.default is not dataclasses.MISSING else None
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, tuple | list):
        return f"'{json.dumps(list(default))}'"
    if default is None or isinstance(default, dict):
        return "..."
    return str(default)
