"""The SlateQ trainer: collect into replay, TD on the consumed item, fit the choice model, Polyak target."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from policies.base import Policy
from policies.rl.normalization import ReturnScaler
from policies.rl.slateq.config import SlateQConfig
from policies.rl.slateq.network import SlateQNetwork
from policies.rl.slateq.policy import SlateQPolicy
from policies.rl.slateq.replay import ReplayBuffer
from policies.rl.slateq.slates import epsilon_greedy
from policies.rl.trainer import Trainer, Transition
from recgym.core.registry import register_policy


@register_policy("slateq", kind="rl", description="SlateQ: item Q-values under a learned choice model")
class SlateQTrainer(Trainer):
    """Collect with epsilon-greedy slates into a replay, then TD-learn Qbar and fit the choice model."""

    algorithm = "slateq"
    config_class = SlateQConfig
    config: SlateQConfig

    def build(self) -> None:
        config = self.config
        self.network = SlateQNetwork(self.env.single_observation_space, config.hidden_size).to(self.device)
        self.target_network = copy.deepcopy(self.network).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.learning_rate, eps=1e-5)
        self.reward_scaler = ReturnScaler(config.num_users, 1, config.gamma).to(self.device)
        self.replay = ReplayBuffer(config.replay_size // config.num_users, config.num_users, self.device)
        self.gradient_steps = 0

    def components(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "target_network": self.target_network,
            "optimizer": self.optimizer,
            "reward_scaler": self.reward_scaler,
            "replay": self.replay,
        }

    def extra_state(self) -> dict[str, Any]:
        return {"gradient_steps": self.gradient_steps}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.gradient_steps = int(state["gradient_steps"])

    def policy(self) -> Policy:
        config = self.config
        return SlateQPolicy(
            self.network,
            self.slate_size,
            config.slate_rule,
            config.learn_null_value,
            epsilon=config.epsilon_end,
            seed=config.seed,
        )

    def epsilon(self) -> float:
        """Exploration probability now: linear from ``epsilon_start`` to ``epsilon_end`` over the decay steps."""
        config = self.config
        progress = min(self.steps / config.epsilon_decay_steps, 1.0)
        return config.epsilon_start + progress * (config.epsilon_end - config.epsilon_start)

    def train_iteration(self) -> dict[str, float]:
        epsilon = self.epsilon()
        self.collect()
        metrics = self.update() if len(self.replay) >= self.config.learning_starts else {}
        return {"epsilon": epsilon, "replay_size": float(len(self.replay))} | metrics

    def reward_scale(self) -> torch.Tensor:
        """Factor [1] applied to sampled rewards: 1 / running std of discounted returns, or 1 without scaling."""
        if not self.config.scale_rewards:
            return torch.ones(1, device=self.device)
        return (self.reward_scaler.stats.var + 1e-8).rsqrt()

    # -- collection ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def collect(self) -> None:
        """``rollout_steps`` epsilon-greedy steps of every user into the replay."""
        config = self.config
        for _ in range(config.rollout_steps):
            observation = self.observation
            self.network.encoder.update_statistics(observation)
            greedy = (
                self.network(observation).problem(config.learn_null_value).solve(config.slate_rule, self.slate_size)
            )
            slate = epsilon_greedy(greedy, self.env.num_candidates, self.epsilon(), self.generator)
            transition = self.env_step(slate)
            self.reward_scaler(transition.reward.unsqueeze(1), transition.done)
            self.replay.add(
                observation=observation,
                slate=slate,
                choice=transition.response.choice,
                reward=transition.reward,
                next_observation=self._next_observation(transition),
                done=transition.done,
                terminated=transition.terminated,
            )

    @staticmethod
    def _next_observation(transition: Transition) -> dict[str, torch.Tensor]:
        """The state each step led to: the episode's last observation where it ended, not the next episode's first."""
        final = transition.final_observation
        if final is None:
            return transition.observation
        done = transition.done
        return {
            key: torch.where(done.view(-1, *([1] * (value.dim() - 1))), final[key], value)
            for key, value in transition.observation.items()
        }

    # -- updates ----------------------------------------------------------------------------------------------
    def update(self) -> dict[str, float]:
        """``updates_per_iteration`` gradient steps on replay samples, each followed by a target update when due."""
        config = self.config
        if self.gradient_steps == 0:
            self.target_network.load_state_dict(self.network.state_dict())
        totals: dict[str, torch.Tensor] = {}
        for _ in range(config.updates_per_iteration):
            batch = self.replay.sample(config.batch_size, config.n_steps, config.gamma, self.generator)
            batch["return"] = batch["return"] * self.reward_scale()
            stats = self._gradient_step(batch)
            self.gradient_steps += 1
            if self.gradient_steps % config.target_update_period == 0:
                self._update_target()
            for name, value in stats.items():
                totals[name] = totals[name] + value if name in totals else value
        # One transfer per iteration, not one per statistic and step (each would wait for the device).
        names, values = list(totals), torch.stack(list(totals.values())) / config.updates_per_iteration
        return dict(zip(names, values.tolist(), strict=True))

    @torch.no_grad()
    def td_target(self, batch: dict[str, Any]) -> torch.Tensor:
        """n-step return + gamma^n Q_target(s', A'), A' the rule's slate at s'; no bootstrap past termination.

        The target network supplies both Qbar and the choice model at s' (one forward pass);
        with ``double_q`` the online network picks A'.
        """
        config = self.config
        next_observation = batch["next_observation"]
        target_problem = self.target_network(next_observation).problem(config.learn_null_value)
        chooser = self.network(next_observation).problem(config.learn_null_value) if config.double_q else target_problem
        next_value = target_problem.value(chooser.solve(config.slate_rule, self.slate_size))
        return batch["return"] + batch["discount"] * next_value

    def _gradient_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """TD loss on what was consumed (the clicked item, or no click) plus the choice model's cross-entropy."""
        config = self.config
        target = self.td_target(batch)
        outputs = self.network(batch["observation"])
        slate, choice = batch["slate"], batch["choice"]
        clicked = choice >= 0
        consumed = torch.where(
            clicked,
            outputs.item_value.gather(1, slate.gather(1, choice.clamp_min(0).unsqueeze(1))).squeeze(1),
            outputs.null_value,
        )
        errors = functional.huber_loss(consumed, target, reduction="none", delta=config.huber_delta)
        weights = torch.ones_like(errors) if config.learn_null_value else clicked.to(errors.dtype)
        td_loss = (errors * weights).sum() / weights.sum().clamp_min(1.0)
        slate_logits = torch.cat([outputs.item_logit.gather(1, slate), outputs.null_logit.unsqueeze(1)], dim=1)
        choice_class = torch.where(clicked, choice, torch.full_like(choice, self.slate_size))
        choice_loss = functional.cross_entropy(slate_logits, choice_class)
        loss = td_loss + config.choice_loss_coef * choice_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.network.parameters(), config.max_grad_norm)
        self.optimizer.step()
        return {
            "td_loss": td_loss.detach(),
            "choice_loss": choice_loss.detach(),
            "q_mean": consumed.detach().mean(),
            "td_target_mean": target.mean(),
            "null_value_mean": outputs.null_value.detach().mean(),
            "predicted_click_rate": 1.0 - torch.softmax(slate_logits.detach(), dim=1)[:, -1].mean(),
            "observed_click_rate": clicked.to(target.dtype).mean(),
        }

    @torch.no_grad()
    def _update_target(self) -> None:
        """Move every floating tensor of the target (weights and input statistics) ``tau`` towards the online net."""
        online = self.network.state_dict()
        for name, tensor in self.target_network.state_dict().items():
            if tensor.is_floating_point():
                tensor.lerp_(online[name], self.config.target_tau)
            else:
                tensor.copy_(online[name])
