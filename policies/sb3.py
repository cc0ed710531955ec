"""SB3Policy: a trained Stable-Baselines3 actor-critic behind the recgym ``Policy`` protocol, saveable on its own.

``SB3Policy.from_model(model, adapter)`` takes a trained PPO or A2C model and the ``SB3VecEnv``
it trained through. The policy keeps only the network: its class, its constructor options
(classes by name) and its weights, never SB3's own zip, whose loader unpickles whatever the
file holds. So ``policy.save(path)`` and ``recgym.load_policy(path)`` keep the promise of
every recgym policy file: loading it runs no code from it. Network and option classes may
come only from stable_baselines3, torch.nn and torch.optim. ``act(explore=True)`` samples
with SB3's own draw from torch's global generator, as ``model.predict`` does.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from policies.artefacts import SaveablePolicy
from recgym.core.observation import flatten_observation
from recgym.core.response import Response
from recgym.core.slate import repair_duplicates
from recgym.errors import ConfigError, PolicyFileError

_CLASS_PREFIX = "class:"
"""Marks a constructor option that is a class, stored by its ``module:QualName``."""
_ALLOWED_MODULES = ("stable_baselines3.", "torch.nn.", "torch.optim.")
_SPACE_OPTIONS = ("observation_space", "action_space", "lr_schedule")
"""Constructor parameters rebuilt here rather than stored (spaces from shapes; no learning rate: it only acts)."""


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _class_from(path: str) -> type:
    """The class at ``module:QualName``, only from stable_baselines3, torch.nn or torch.optim."""
    module_name, _, name = path.partition(":")
    if not module_name.startswith(_ALLOWED_MODULES) or not name:
        raise PolicyFileError(
            f"SB3 policy option {path!r} names a class outside stable_baselines3, torch.nn and torch.optim; "
            "such a file is refused. Save the policy again with SB3Policy.from_model."
        )
    found = getattr(importlib.import_module(module_name), name, None)
    if not isinstance(found, type):
        raise PolicyFileError(f"SB3 policy option {path!r} is not a class in this stable_baselines3 or torch.")
    return found


def _stored_option(name: str, value: Any) -> Any:
    if isinstance(value, type):
        return f"{_CLASS_PREFIX}{_class_path(value)}"
    if value is None or isinstance(value, bool | int | float | str | list | tuple | dict):
        return value
    raise ConfigError(
        f"SB3 policy option {name} = {type(value).__name__} cannot be saved; use plain values or classes."
    )


def _observation_space(shapes: dict[str, list[int]] | list[int]) -> spaces.Space:
    if isinstance(shapes, dict):
        boxes = {key: spaces.Box(-np.inf, np.inf, tuple(shape), np.float32) for key, shape in shapes.items()}
        return spaces.Dict(boxes)
    return spaces.Box(-np.inf, np.inf, tuple(shapes), np.float32)


def _constant_zero(_: float) -> float:
    return 0.0


class SB3Policy(SaveablePolicy):
    """Acts with the SB3 network on the observation as its ``SB3VecEnv`` presented it (kept keys, maybe flat)."""

    def __init__(
        self,
        policy_class: str,
        observation_shapes: dict[str, list[int]] | list[int],
        action_nvec: list[int],
        options: dict[str, Any],
        keys: tuple[str, ...],
        flatten: bool = False,
    ) -> None:
        built = {
            name: _class_from(value.removeprefix(_CLASS_PREFIX))
            if isinstance(value, str) and value.startswith(_CLASS_PREFIX)
            else value
            for name, value in options.items()
        }
        self.network = _class_from(policy_class)(
            observation_space=_observation_space(observation_shapes),
            action_space=spaces.MultiDiscrete(action_nvec),
            lr_schedule=_constant_zero,
            **built,
        )
        self.network.set_training_mode(False)
        self.keys, self.flatten = tuple(keys), flatten
        self.num_candidates, self.slate_size = int(action_nvec[0]), len(action_nvec)

    @classmethod
    def from_model(cls, model: Any, adapter: Any) -> SB3Policy:
        """The policy of a trained SB3 ``model`` that learned through ``adapter`` (its ``SB3VecEnv``)."""
        network = model.policy
        parameters = network._get_constructor_parameters()
        options = {
            name: _stored_option(name, value) for name, value in parameters.items() if name not in _SPACE_OPTIONS
        }
        space = network.observation_space
        shapes = (
            {key: list(box.shape) for key, box in space.spaces.items()}
            if isinstance(space, spaces.Dict)
            else list(space.shape)
        )
        policy = cls(
            _class_path(type(network)),
            shapes,
            [int(n) for n in network.action_space.nvec],
            options,
            tuple(adapter.keys),
            bool(adapter.flatten),
        )
        policy.load_state_dict({"network": network.state_dict()})
        return policy

    def _convert(self, observation: dict[str, torch.Tensor]) -> Any:
        if self.flatten:
            return flatten_observation(observation, self.keys, batched=True).detach().cpu().numpy()
        return {key: observation[key].detach().cpu().numpy() for key in self.keys}

    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        device = observation["candidate_features"].device
        actions, _ = self.network.predict(self._convert(observation), deterministic=not explore)
        slate = torch.as_tensor(actions, dtype=torch.int64, device=device)
        return repair_duplicates(slate, self.num_candidates)

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        """SB3 models learn in ``model.learn``, not online here."""

    def state_dict(self) -> dict[str, Any]:
        return {"network": self.network.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.network.load_state_dict(state["network"])
