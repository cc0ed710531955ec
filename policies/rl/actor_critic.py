"""Actor-critic with a slate head: PPO and A2C on the native vector env.

The actor scores every candidate (``SlateActorCritic``) and the slate is a Plackett-Luce
sample over those scores, so log-probabilities are exact for ordered slates without
replacement. Advantages are GAE over each user's own episode (episodes end at different
steps for different users, sessions within an episode carry on), with a bootstrap from
the final observation when an episode is truncated rather than terminated. PPO clips the
probability ratio over several epochs of minibatches; A2C takes one full-batch gradient
step per rollout. Other algorithms (constrained, hierarchical, Sim2Rec) reuse this
trainer through the hooks marked below.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from policies.base import Policy
from policies.rl.config import TrainConfig
from policies.rl.networks import SlateActorCritic
from policies.rl.normalization import ReturnScaler
from policies.rl.policy import ScoredSlatePolicy
from policies.rl.slate_distribution import sample_slate, slate_log_prob_and_entropy
from policies.rl.storage import RolloutBuffer, generalized_advantages, minibatches, select
from policies.rl.trainer import Trainer, Transition
from recgym.core.registry import register_policy
from recgym.errors import ConfigError

_VARIANTS = ("ppo", "a2c")


@dataclasses.dataclass
class ActorCriticConfig(TrainConfig):
    """PPO by default; ``variant='a2c'`` (or ``A2CConfig``) for advantage actor-critic."""

    variant: str = "ppo"
    """'ppo' (clipped ratio, several epochs) or 'a2c' (one plain policy-gradient step per rollout)."""
    gae_lambda: float = 0.95
    """GAE's lambda: 1 is the Monte-Carlo return, 0 one-step TD."""
    clip_range: float = 0.2
    """PPO's ratio clip; unused by A2C."""
    epochs: int = 4
    """Passes over each rollout (A2C: 1)."""
    num_minibatches: int = 4
    """Minibatches per epoch (A2C: 1, the whole rollout)."""
    entropy_coef: float = 0.01
    """Weight of the slate entropy bonus, which keeps exploring."""
    value_coef: float = 0.5
    """Weight of the critic's squared error."""
    normalize_advantages: bool = True
    """Standardise advantages within each minibatch."""
    scale_rewards: bool = True
    """Divide rewards by the running std of discounted returns (watch time runs to hundreds)."""
    history_summary: bool = True
    """The networks read a summary of the history window (profile, click rate, watch time). False: the current
    step alone, a policy unconditioned on who the user has shown themselves to be (Sim2Rec's baseline)."""

    def validate(self) -> None:
        super().validate()
        if self.variant not in _VARIANTS:
            raise ConfigError(f"ActorCriticConfig.variant must be one of {_VARIANTS}; got {self.variant!r}.")
        if not 0.0 <= self.gae_lambda <= 1.0:
            raise ConfigError(f"gae_lambda must lie in [0, 1]; got {self.gae_lambda}.")
        if not self.clip_range > 0:
            raise ConfigError(f"clip_range must be positive; got {self.clip_range}.")
        for name in ("epochs", "num_minibatches"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a positive integer; got {getattr(self, name)}.")
        if self.num_minibatches > self.num_users * self.rollout_steps:
            raise ConfigError(
                f"num_minibatches={self.num_minibatches} exceeds the rollout's "
                f"{self.num_users * self.rollout_steps} samples (num_users x rollout_steps)."
            )
        for name in ("entropy_coef", "value_coef"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0; got {getattr(self, name)}.")


@dataclasses.dataclass
class PPOConfig(ActorCriticConfig):
    """Proximal policy optimisation (Schulman et al. 2017) with a slate head."""


@dataclasses.dataclass
class A2CConfig(ActorCriticConfig):
    """Synchronous advantage actor-critic (Mnih et al. 2016) with a slate head."""

    variant: str = "a2c"
    rollout_steps: int = 16
    gae_lambda: float = 1.0
    epochs: int = 1
    num_minibatches: int = 1
    learning_rate: float = 3e-3


class ActorCriticTrainer(Trainer):
    """PPO or A2C; subclasses change the reward channels, context, advantage mix or extra losses."""

    config: ActorCriticConfig

    # -- hooks for algorithms built on this one --------------------------------------------
    def num_reward_channels(self) -> int:
        """How many reward signals the critic predicts (one value head each)."""
        return 1

    def reward_vector(self, transition: Transition) -> torch.Tensor:
        """This step's rewards, [B, R]; the env's reward by default."""
        return transition.reward.unsqueeze(1)

    def context_size(self) -> int:
        """Width of the per-user context the actor-critic conditions on (0: none)."""
        return 0

    def current_context(self, observation: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The context [B, D] for this step (called once per collected step, before acting)."""
        return None

    def after_step(self, transition: Transition) -> None:
        """Called after every collected env step (e.g. to advance a high-level policy)."""

    def policy_advantage(self, advantages: torch.Tensor) -> torch.Tensor:
        """One advantage per sample [N] from the per-channel advantages [N, R]; channel 0 by default."""
        return advantages[:, 0]

    def privileged_targets(self) -> dict[str, torch.Tensor] | None:
        """Training-only truths about the current users [B, ...] (the simulator's, never an observation).

        Stored beside each step in the buffer's ``privileged`` channel and seen only by
        ``extra_loss``; the network and the deployed policy never receive them.
        """
        return None

    def extra_loss(self, samples: dict[str, Any], logits: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """An additional differentiable loss on a minibatch (KL to reference policies, auxiliary heads)."""
        return logits.new_zeros(())

    def build_network(self) -> nn.Module:
        """The module mapping (observation, context) to (logits [B, C], values [B, R])."""
        return SlateActorCritic(
            self.env.single_observation_space,
            self.config.hidden_size,
            num_values=self.num_reward_channels(),
            context_size=self.context_size(),
            history_summary=self.config.history_summary,
        )

    # -- Trainer hooks -----------------------------------------------------------------------
    def build(self) -> None:
        config = self.config
        self.network = self.build_network().to(self.device)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.learning_rate, eps=1e-5)
        self.reward_scaler = ReturnScaler(config.num_users, self.num_reward_channels(), config.gamma).to(self.device)
        self.buffer = RolloutBuffer(config.rollout_steps, config.num_users, self.num_reward_channels(), self.device)

    def components(self) -> dict[str, Any]:
        return {"network": self.network, "optimizer": self.optimizer, "reward_scaler": self.reward_scaler}

    def policy(self) -> Policy:
        return ScoredSlatePolicy(self.network, self.slate_size, seed=self.config.seed)

    def train_iteration(self) -> dict[str, float]:
        if self.iterations == 0:
            self.network.encoder.update_statistics(self.observation)
        last_values = self.collect()
        metrics = self.update(last_values)
        self.network.encoder.update_statistics(
            {key: value.flatten(0, 1) for key, value in self.buffer.observations.items()}
        )
        return metrics

    # -- collection and update ------------------------------------------------------------------
    @torch.no_grad()
    def collect(self) -> torch.Tensor:
        """Fill the buffer with ``rollout_steps`` steps of every user; return the last values [B, R]."""
        config, buffer = self.config, self.buffer
        buffer.reset()
        for _ in range(config.rollout_steps):
            observation = self.observation
            privileged = self.privileged_targets()
            context = self.current_context(observation)
            logits, values = self.network(observation, context)
            slate = sample_slate(logits, self.slate_size, self.generator)
            log_prob, _ = slate_log_prob_and_entropy(logits, slate)
            transition = self.env_step(slate)
            rewards = self.reward_vector(transition)
            if config.scale_rewards:
                rewards = self.reward_scaler(rewards, transition.done)
            rewards = self._bootstrap_truncated(rewards, transition, context)
            self.after_step(transition)
            buffer.add(observation, slate, log_prob, values, rewards, transition.done, context, privileged)
        return self.network(self.observation, self.current_context(self.observation))[1]

    def _bootstrap_truncated(
        self, rewards: torch.Tensor, transition: Transition, context: torch.Tensor | None
    ) -> torch.Tensor:
        """Add gamma * V(final observation) for users cut off by the time limit (not by their own end)."""
        cut = transition.truncated & ~transition.terminated
        rows = cut.nonzero().squeeze(1)
        if rows.numel() == 0 or transition.final_observation is None:
            return rewards
        final = {key: value.index_select(0, rows) for key, value in transition.final_observation.items()}
        final_context = None if context is None else context.index_select(0, rows)
        final_values = self.network(final, final_context)[1]
        return rewards.index_add(0, rows, self.config.gamma * final_values)

    def update(self, last_values: torch.Tensor) -> dict[str, float]:
        """PPO epochs (or one A2C step) over the buffer; returns loss and diagnostics."""
        config, buffer = self.config, self.buffer
        advantages, returns = generalized_advantages(
            buffer.rewards, buffer.values, last_values, buffer.dones, config.gamma, config.gae_lambda
        )
        samples = buffer.flat(advantages, returns)
        num_samples = config.rollout_steps * config.num_users
        steps = [
            self._gradient_step(select(samples, rows))
            for _ in range(config.epochs)
            for rows in minibatches(num_samples, config.num_minibatches, self.generator, self.device)
        ]
        # One device-to-host copy per update, not one per statistic per minibatch.
        names = list(steps[0])
        means = torch.stack([torch.stack([step[name] for name in names]) for step in steps]).mean(dim=0)
        predicted, target = samples["value"], samples["return"]
        explained = 1.0 - (target - predicted).var() / target.var().clamp_min(1e-8)
        values = torch.cat([means, explained.reshape(1)]).tolist()
        return dict(zip([*names, "explained_variance"], values, strict=True))

    def _gradient_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        config = self.config
        logits, values = self.network(batch["observation"], batch.get("context"))
        log_prob, entropy = slate_log_prob_and_entropy(logits, batch["slate"])
        advantage = self.policy_advantage(batch["advantage"])
        if config.normalize_advantages and advantage.numel() > 1:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        log_ratio = log_prob - batch["log_prob"]
        ratio = log_ratio.exp()
        if config.variant == "ppo":
            clipped = ratio.clamp(1.0 - config.clip_range, 1.0 + config.clip_range)
            policy_loss = -torch.minimum(ratio * advantage, clipped * advantage).mean()
        else:
            policy_loss = -(log_prob * advantage).mean()
        value_loss = 0.5 * (values - batch["return"]).square().mean()
        extra = self.extra_loss(batch, logits, values)
        loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy.mean() + extra
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.network.parameters(), config.max_grad_norm)
        self.optimizer.step()
        with torch.no_grad():
            return {
                "loss": loss.detach(),
                "policy_loss": policy_loss.detach(),
                "value_loss": value_loss.detach(),
                "entropy": entropy.mean().detach(),
                "extra_loss": extra.detach().reshape(()),
                "approx_kl": ((ratio - 1.0) - log_ratio).mean(),
                "clip_fraction": ((ratio - 1.0).abs() > config.clip_range).float().mean(),
            }


@register_policy("ppo", kind="rl", description="PPO with a Plackett-Luce slate head")
class PPOTrainer(ActorCriticTrainer):
    algorithm = "ppo"
    config_class = PPOConfig


@register_policy("a2c", kind="rl", description="A2C with a Plackett-Luce slate head")
class A2CTrainer(ActorCriticTrainer):
    algorithm = "a2c"
    config_class = A2CConfig
