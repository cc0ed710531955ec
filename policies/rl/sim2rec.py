"""Sim2Rec: one policy for a whole family of simulators, conditioned on who the user turns out to be.

Trained on ``recgym/Sim2RecFamily-v0``, where every user's simulator parameters (how much
clickbait erodes satisfaction, how fast it recovers, how sensitive returns are) are drawn
per episode and hidden. A history encoder reads the user's recent trajectory (each step's
clicked item features, click and log watch time) and infers a user embedding; the
actor-critic conditions on it, so the policy adapts within an episode to the user in
front of it (Chen et al., "Sim2Rec", 2023: an environment-parameter extractor feeding a
context-aware policy).

The encoder learns through the policy and value losses and, while training in
simulation, from an identification loss: a linear head on the embedding predicts the
user's true (standardised) parameters. That privileged target exists only in the
simulator; acting reads the observation alone, so the policy deploys unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from policies.rl.actor_critic import ActorCriticConfig, ActorCriticTrainer
from policies.rl.networks import SlateActorCritic, mlp
from policies.rl.normalization import RunningNorm
from policies.rl.trainer import Transition
from recgym.errors import ConfigError

HIDDEN_PARAMS_KEY = "_hidden_params"
"""Private observation key carrying the identification targets through the rollout buffer; no network reads it."""


@dataclasses.dataclass
class Sim2RecConfig(ActorCriticConfig):
    """PPO on a simulator family with a history encoder that infers each user's hidden parameters."""

    env_id: str = "recgym/Sim2RecFamily-v0"
    env_kwargs: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"family": "train", "history_length": 20}
    )
    embedding_size: int = 8
    """Width of the inferred user embedding the policy conditions on."""
    identification_coef: float = 1.0
    """Weight of the loss that predicts the true hidden parameters from the embedding (0: end-to-end only)."""

    def validate(self) -> None:
        super().validate()
        if self.embedding_size <= 0:
            raise ConfigError(f"Sim2RecConfig.embedding_size must be a positive integer; got {self.embedding_size}.")
        if self.identification_coef < 0:
            raise ConfigError(f"Sim2RecConfig.identification_coef must be >= 0; got {self.identification_coef}.")


class HistoryEncoder(nn.Module):
    """User embedding [B, E] in (-1, 1) from the visible history: a per-step MLP, mean- and last-pooled, then an MLP.

    The tanh bounds the embedding, so a user unlike any met in training maps to the edge
    of the familiar region rather than to values the policy never saw.
    """

    def __init__(self, feature_size: int, hidden_size: int, embedding_size: int) -> None:
        super().__init__()
        self.step_norm = RunningNorm(feature_size + 2)
        self.step_net = mlp(feature_size + 2, hidden_size, hidden_size)
        self.head = mlp(2 * hidden_size, hidden_size, embedding_size)

    def steps(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each history step as [features, clicked, log1p(watch time)], [B, h, F + 2]."""
        return torch.cat(
            [
                observation["history_features"],
                observation["history_clicked"].unsqueeze(-1),
                torch.log1p(observation["history_watch_time"]).unsqueeze(-1),
            ],
            dim=-1,
        )

    def forward(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        encoded = self.step_net(self.step_norm(self.steps(observation)))
        return torch.tanh(self.head(torch.cat([encoded.mean(dim=1), encoded[:, -1]], dim=1)))


class Sim2RecActorCritic(nn.Module):
    """A ``SlateActorCritic`` whose context is the history encoder's user embedding."""

    def __init__(
        self, observation_space: spaces.Dict, hidden_size: int, embedding_size: int, num_hidden_params: int
    ) -> None:
        super().__init__()
        feature_size = int(observation_space["candidate_features"].shape[-1])
        self.history_encoder = HistoryEncoder(feature_size, hidden_size, embedding_size)
        self.actor_critic = SlateActorCritic(observation_space, hidden_size, context_size=embedding_size)
        self.encoder = self.actor_critic.encoder  # the input statistics the trainer updates
        self.identification_head = nn.Linear(embedding_size, max(num_hidden_params, 1))

    def embed(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.history_encoder(observation)

    def forward(
        self, observation: dict[str, torch.Tensor], context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.actor_critic(observation, self.embed(observation))


class Sim2RecTrainer(ActorCriticTrainer):
    """PPO with ``Sim2RecActorCritic``; the identification loss is the ``extra_loss`` hook."""

    algorithm = "sim2rec"
    config_class = Sim2RecConfig
    config: Sim2RecConfig

    def _hidden_param_names(self) -> tuple[str, ...]:
        distribution = getattr(self.env.simulator, "distribution", None)
        return tuple(distribution.names) if distribution is not None else ()

    def build_network(self) -> nn.Module:
        names = self._hidden_param_names()
        if self.config.identification_coef > 0 and not names:
            raise ConfigError(
                f"{self.config.env_id} has no hidden per-user parameter family to identify; train Sim2Rec on "
                "recgym/Sim2RecFamily-v0 (or any FamilyUser env), or set identification_coef=0."
            )
        self.target_norm = RunningNorm(max(len(names), 1)).to(self.device)
        return Sim2RecActorCritic(
            self.env.single_observation_space, self.config.hidden_size, self.config.embedding_size, len(names)
        )

    def components(self) -> dict[str, Any]:
        return super().components() | {"target_norm": self.target_norm}

    def _with_targets(self, observation: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The observation plus each user's true parameters under ``HIDDEN_PARAMS_KEY`` (training only)."""
        if not self._hidden_param_names():
            return observation
        return observation | {HIDDEN_PARAMS_KEY: self.env.state.user.params}

    def env_step(self, slate: torch.Tensor) -> Transition:
        transition = super().env_step(slate)
        self.observation = self._with_targets(self.observation)
        return transition

    def train_iteration(self) -> dict[str, float]:
        self.observation = self._with_targets(self.observation)
        metrics = super().train_iteration()
        if self._hidden_param_names():
            self.target_norm.update(self.buffer.observations[HIDDEN_PARAMS_KEY].flatten(0, 1))
            self.network.history_encoder.step_norm.update(
                self.network.history_encoder.steps(
                    {key: value.flatten(0, 1) for key, value in self.buffer.observations.items()}
                )
            )
        return metrics

    def extra_loss(self, samples: dict[str, Any], logits: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        observation = samples["observation"]
        if self.config.identification_coef == 0 or HIDDEN_PARAMS_KEY not in observation:
            return logits.new_zeros(())
        predicted = self.network.identification_head(self.network.embed(observation))
        target = self.target_norm(observation[HIDDEN_PARAMS_KEY])
        return self.config.identification_coef * (predicted - target).square().mean()
