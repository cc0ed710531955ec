"""Sim2Rec: one policy for a whole family of simulators, conditioned on who the user turns out to be.

Trained on ``recgym/Sim2RecFamily-v0``, where every user's simulator parameters (how
long they watch kale, how much clickbait erodes satisfaction, how fast it recovers, how
sensitive returns are) are drawn per episode and hidden. A history encoder reads the
user's recent trajectory (each step's clicked item features, click and log watch time)
and infers a user embedding; the actor-critic reads the current step and that embedding,
so whatever it knows about who the user is comes through the encoder, and the policy
adapts within an episode to the user in front of it (Chen et al., "Sim2Rec", 2023: an
environment-parameter extractor feeding a context-aware policy). The same actor-critic
without the encoder, PPO with ``history_summary=False``, is the unconditioned baseline
it is measured against.

The encoder learns through the policy and value losses and, while training in
simulation, from an identification loss: a linear head on the embedding predicts the
user's true (standardised) parameters, in the PPO loss and in extra supervised passes
over each rollout. That privileged target exists only in the simulator: it travels in the
trainer's training-only channel (``privileged_targets``, the rollout buffer's ``privileged``
samples), never in an observation, so acting reads the observation alone and the policy
deploys unchanged.
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
from policies.rl.storage import minibatches, select
from recgym.core.registry import register_policy
from recgym.core.saved import RemembersArguments
from recgym.errors import ConfigError

HIDDEN_PARAMS_KEY = "hidden_params"
"""Name of the identification targets in the privileged (training-only) channel."""


@dataclasses.dataclass
class Sim2RecConfig(ActorCriticConfig):
    """PPO on a simulator family with a history encoder that infers each user's hidden parameters."""

    env_id: str = "recgym/Sim2RecFamily-v0"
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=lambda: {"family": "train", "history_length": 20})
    history_summary: bool = False
    """The actor-critic reads the current step and the encoder's embedding (Sim2Rec's pi(a | s, z)); True adds
    PPO's pooled history summary as well."""
    embedding_size: int = 8
    """Width of the inferred user embedding the policy conditions on."""
    identification_coef: float = 1.0
    """Weight of the loss that predicts the true hidden parameters from the embedding (0: end-to-end only)."""
    identification_epochs: int = 4
    """Extra supervised passes per rollout that fit only the encoder and its head to the true parameters:
    identification is plain regression, which the few PPO updates of a short budget leave underfit."""
    identification_learning_rate: float = 1e-3
    """Adam step size of those passes."""

    def validate(self) -> None:
        super().validate()
        if self.embedding_size <= 0:
            raise ConfigError(f"Sim2RecConfig.embedding_size must be a positive integer; got {self.embedding_size}.")
        if self.identification_coef < 0:
            raise ConfigError(f"Sim2RecConfig.identification_coef must be >= 0; got {self.identification_coef}.")
        if self.identification_epochs < 0:
            raise ConfigError(f"Sim2RecConfig.identification_epochs must be >= 0; got {self.identification_epochs}.")
        if not self.identification_learning_rate > 0:
            raise ConfigError(
                f"Sim2RecConfig.identification_learning_rate must be positive; got {self.identification_learning_rate}."
            )


class HistoryEncoder(nn.Module):
    """User embedding [B, E] in (-1, 1) from the visible history window, read whole and in order by an MLP.

    Who a user is shows in how their responses move with what they were shown (watch time
    sinking after clickbait for a sensitive user, flat for an insensitive one), an order that
    pooling throws away; the window is short, so an MLP over all of it keeps the order at a
    fraction of a recurrent net's cost. The tanh bounds the embedding, so a user unlike any
    met in training maps to the edge of the familiar region rather than to values the policy
    never saw.
    """

    def __init__(self, feature_size: int, history_length: int, hidden_size: int, embedding_size: int) -> None:
        super().__init__()
        self.step_norm = RunningNorm(feature_size + 2)
        self.net = mlp(history_length * (feature_size + 2), hidden_size, embedding_size)

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
        return torch.tanh(self.net(self.step_norm(self.steps(observation)).flatten(1)))


class Sim2RecActorCritic(RemembersArguments, nn.Module):
    """A ``SlateActorCritic`` whose context is the history encoder's user embedding."""

    def __init__(
        self,
        observation_space: spaces.Dict,
        hidden_size: int,
        embedding_size: int,
        num_hidden_params: int,
        history_summary: bool = False,
    ) -> None:
        super().__init__()
        history_length, feature_size = (int(size) for size in observation_space["history_features"].shape)
        self.history_encoder = HistoryEncoder(feature_size, history_length, hidden_size, embedding_size)
        self.actor_critic = SlateActorCritic(
            observation_space, hidden_size, context_size=embedding_size, history_summary=history_summary
        )
        self.encoder = self.actor_critic.encoder  # the input statistics the trainer updates
        self.identification_head = nn.Linear(embedding_size, max(num_hidden_params, 1))

    def embed(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.history_encoder(observation)

    def forward(
        self, observation: dict[str, torch.Tensor], context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.actor_critic(observation, self.embed(observation))


@register_policy("sim2rec", kind="rl", description="PPO conditioned on an inferred user embedding (Sim2Rec)")
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
        network = Sim2RecActorCritic(
            self.env.single_observation_space,
            self.config.hidden_size,
            self.config.embedding_size,
            len(names),
            self.config.history_summary,
        )
        identifier = [*network.history_encoder.parameters(), *network.identification_head.parameters()]
        self.identification_optimizer = torch.optim.Adam(
            identifier, lr=self.config.identification_learning_rate, eps=1e-5
        )
        return network

    def components(self) -> dict[str, Any]:
        return super().components() | {
            "target_norm": self.target_norm,
            "identification_optimizer": self.identification_optimizer,
        }

    def privileged_targets(self) -> dict[str, torch.Tensor] | None:
        """Each current user's true parameters: the identification target, known only in simulation."""
        if not self._hidden_param_names():
            return None
        return {HIDDEN_PARAMS_KEY: self.env.state.user.params}

    def train_iteration(self) -> dict[str, float]:
        metrics = super().train_iteration()
        if self._hidden_param_names():
            samples = {
                "observation": {key: value.flatten(0, 1) for key, value in self.buffer.observations.items()},
                "privileged": {key: value.flatten(0, 1) for key, value in self.buffer.privileged.items()},
            }
            self.target_norm.update(samples["privileged"][HIDDEN_PARAMS_KEY])
            self.network.history_encoder.step_norm.update(self.network.history_encoder.steps(samples["observation"]))
            if self.config.identification_coef > 0 and self.config.identification_epochs > 0:
                metrics["identification_r2"] = self._fit_identification(samples)
        return metrics

    def _identification_error(self, samples: dict[str, Any]) -> torch.Tensor:
        """Mean squared error of the predicted standardised parameters: 1 - R^2, averaged over parameters."""
        predicted = self.network.identification_head(self.network.embed(samples["observation"]))
        return (predicted - self.target_norm(samples["privileged"][HIDDEN_PARAMS_KEY])).square().mean()

    def _fit_identification(self, samples: dict[str, Any]) -> float:
        """``identification_epochs`` passes of encoder and head over the rollout; the last pass's training R^2."""
        config = self.config
        num_samples = config.rollout_steps * config.num_users
        errors = []
        for _ in range(config.identification_epochs):
            errors = []
            for rows in minibatches(num_samples, config.num_minibatches, self.generator, self.device):
                error = self._identification_error(select(samples, rows))
                self.identification_optimizer.zero_grad(set_to_none=True)
                error.backward()
                nn.utils.clip_grad_norm_(self.identification_optimizer.param_groups[0]["params"], config.max_grad_norm)
                self.identification_optimizer.step()
                errors.append(error.detach())
        return 1.0 - float(torch.stack(errors).mean())

    def extra_loss(self, samples: dict[str, Any], logits: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        if self.config.identification_coef == 0 or "privileged" not in samples:
            return logits.new_zeros(())
        return self.config.identification_coef * self._identification_error(samples)
