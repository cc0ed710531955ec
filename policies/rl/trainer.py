"""Trainer: the loop, env handling, logging and checkpoints every RL algorithm shares.

An algorithm subclasses ``Trainer`` and fills in three hooks: ``build`` (networks and
optimisers), ``train_iteration`` (collect and update; returns metrics) and ``policy``
(the deployable greedy policy). Everything else lives here once: seeding, stepping users
with autoreset, episode statistics, a progress bar, TensorBoard scalars, and checkpoints
that resume to an identical continuation.

A trainer never builds envs itself: it is handed ``make_env(num_users)`` (``EnvMaker``) by the
layer that does (``recgym.rl.make_trainer``), so this package stays below the env layer.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from policies.base import Policy
from policies.rl.config import TrainConfig
from policies.rl.episodes import EpisodeTracker
from recgym.core.device import resolve_device
from recgym.core.files import unique_sibling
from recgym.core.random import population_seed
from recgym.core.response import Response
from recgym.errors import ConfigError

CHECKPOINT_NAME = "checkpoint.pt"
_CHECKPOINT_FORMAT = 1

EnvMaker = Callable[[int], Any]
"""``make_env(num_users)``: a vector env of the config's env id, options and device, with that many users."""


@dataclasses.dataclass(frozen=True)
class Transition:
    """One env step for every user, as the trainers consume it."""

    observation: dict[str, torch.Tensor]
    """Next observation [B, ...]; for finished users, the first of their next episode."""
    reward: torch.Tensor
    """The env's reward, float [B]."""
    response: Response
    terminated: torch.Tensor
    truncated: torch.Tensor
    final_observation: dict[str, torch.Tensor] | None
    """Last observation of the finished episodes (rows where ``done``), or None when none finished."""

    @property
    def done(self) -> torch.Tensor:
        return self.terminated | self.truncated


class Trainer:
    """Base of every RL algorithm in ``policies.rl``; see the module docstring for the hooks."""

    algorithm: ClassVar[str] = ""
    """The name ``recgym train --algo`` uses."""
    config_class: ClassVar[type[TrainConfig]] = TrainConfig

    def __init__(self, config: TrainConfig, make_env: EnvMaker) -> None:
        if not isinstance(config, self.config_class):
            raise ConfigError(
                f"{type(self).__name__} takes a {self.config_class.__name__}; got {type(config).__name__}."
            )
        config.validate()
        self.config = config
        self.device = resolve_device(config.device)
        self.make_env = make_env
        self.env = make_env(config.num_users)
        self.slate_size = self.env.slate_size
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.build()
        # Seed s trains on users disjoint from seed s + 1's (gymnasium's s + i would share all but one).
        self.observation, _ = self.env.reset(seed=population_seed(config.seed, "train"))
        self.steps = 0
        self.iterations = 0
        self.history: list[dict[str, float]] = []
        self.episodes = EpisodeTracker(config.num_users, self.device)

    # -- algorithm hooks ------------------------------------------------------------------
    def build(self) -> None:
        """Create networks and optimisers (called once, under the config's seed)."""
        raise NotImplementedError

    def train_iteration(self) -> dict[str, float]:
        """Collect experience, update, advance ``self.steps``; return metrics to log."""
        raise NotImplementedError

    def policy(self) -> Policy:
        """The trained policy, acting greedily unless asked to explore."""
        raise NotImplementedError

    def components(self) -> dict[str, Any]:
        """Every object with ``state_dict``/``load_state_dict`` a checkpoint must keep (networks, optimisers)."""
        raise NotImplementedError

    # -- stepping -------------------------------------------------------------------------
    def env_step(self, slate: torch.Tensor) -> Transition:
        """Show ``slate`` to every user, keep episode statistics, and move ``self.observation`` on."""
        observation, reward, terminated, truncated, info = self.env.step(slate)
        response: Response = info["response"]
        done = terminated | truncated
        self.episodes.record(reward, response, done)
        self.observation = observation
        self.steps += self.env.num_envs
        return Transition(observation, reward, response, terminated, truncated, info.get("final_obs"))

    # -- the loop -------------------------------------------------------------------------
    def train(self, progress: bool = True) -> list[dict[str, float]]:
        """Iterate until ``total_steps``, logging and checkpointing as configured; returns the history."""
        writer = self._summary_writer()
        columns = (
            TextColumn(f"train {self.algorithm} on {self.config.env_id}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task("train", total=self.config.total_steps, completed=self.steps, status="")
            while self.steps < self.config.total_steps:
                metrics = self._one_iteration()
                bar.update(task, completed=min(self.steps, self.config.total_steps), status=self._status(metrics))
                if writer is not None:
                    for name, value in metrics.items():
                        writer.add_scalar(name, value, self.steps)
                if self._checkpoint_due():
                    self.save(self.checkpoint_path())
        if writer is not None:
            writer.close()
        if self.config.out_dir is not None:
            self.save(self.checkpoint_path())
        return self.history

    def _one_iteration(self) -> dict[str, float]:
        started, steps_before = time.perf_counter(), self.steps
        metrics = self.train_iteration()
        self.iterations += 1
        metrics.update(self.episodes.pop_means())
        metrics["user_steps_per_s"] = (self.steps - steps_before) / max(time.perf_counter() - started, 1e-9)
        metrics["steps"] = float(self.steps)
        self.history.append(metrics)
        return metrics

    @staticmethod
    def _status(metrics: dict[str, float]) -> str:
        shown = [f"{metrics['user_steps_per_s']:,.0f} steps/s"]
        if "episode_return" in metrics:
            shown.append(f"return {metrics['episode_return']:.1f}")
        return "  ".join(shown)

    def _summary_writer(self) -> Any:
        if self.config.out_dir is None:
            return None
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=str(Path(self.config.out_dir) / "tensorboard"), purge_step=self.steps or None)

    def _checkpoint_due(self) -> bool:
        every = self.config.checkpoint_every
        return self.config.out_dir is not None and every > 0 and self.iterations % every == 0

    # -- checkpoints ----------------------------------------------------------------------
    def checkpoint_path(self) -> Path:
        if self.config.out_dir is None:
            raise ConfigError("This trainer has no out_dir; pass a path to save() or set TrainConfig.out_dir.")
        return Path(self.config.out_dir) / CHECKPOINT_NAME

    def extra_state(self) -> dict[str, Any]:
        """Algorithm state outside ``components`` (override when there is some)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what ``extra_state`` returned."""

    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to continue exactly: config, networks, optimisers, RNG, env and counters."""
        return {
            "format": _CHECKPOINT_FORMAT,
            "algorithm": self.algorithm,
            "config": self.config.to_dict(),
            "steps": self.steps,
            "iterations": self.iterations,
            "history": self.history,
            "components": {name: component.state_dict() for name, component in self.components().items()},
            "generator": self.generator.get_state(),
            "env_state": self.env.state,
            "episodes": self.episodes.state_dict(),
            "extra": self.extra_state(),
            "versions": {"torch": torch.__version__},
        }

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint atomically (a crash mid-write leaves the previous one intact)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = unique_sibling(path)
        try:
            torch.save(self.checkpoint(), partial)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return path

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from ``checkpoint`` (made by a trainer of this algorithm)."""
        if checkpoint.get("algorithm") != self.algorithm:
            raise ConfigError(f"Checkpoint is for algorithm {checkpoint.get('algorithm')!r}, not {self.algorithm!r}.")
        components = self.components()
        for name, state in checkpoint["components"].items():
            components[name].load_state_dict(state)
        same_device_type = checkpoint["generator"].numel() == self.generator.get_state().numel()
        if same_device_type:
            self.generator.set_state(checkpoint["generator"])
        self.env.state = checkpoint["env_state"].to(self.device)
        self.observation = self.env.observe(self.env.state)
        self.episodes.load_state_dict(checkpoint["episodes"])
        self.steps = int(checkpoint["steps"])
        self.iterations = int(checkpoint["iterations"])
        self.history = list(checkpoint["history"])
        self.load_extra_state(checkpoint["extra"])


def read_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint file's contents on ``device``; ConfigError if it is missing or not a recgym checkpoint.

    Checkpoints hold dataclasses (env state), so they load with ``weights_only=False``:
    open only checkpoints you wrote.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise ConfigError(f"No checkpoint at {path}; train with out_dir set (recgym train --out DIR) first.")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=False)
    except Exception as error:  # torch.load raises many types for a truncated or foreign file
        raise ConfigError(
            f"Cannot read the checkpoint {path}: it is truncated, corrupt or not a torch file "
            f"({type(error).__name__}: {str(error)[:200]}). Point at another run folder, or retrain it "
            "(recgym train --out NEW_DIR)."
        ) from error
    expected = {"format", "algorithm", "config", "components"}
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != _CHECKPOINT_FORMAT or expected - set(checkpoint):
        raise ConfigError(
            f"{path} is not a recgym RL checkpoint (format {_CHECKPOINT_FORMAT}, written by recgym train); "
            "point at the --out folder of a recgym train run."
        )
    return checkpoint
