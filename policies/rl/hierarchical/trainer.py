"""The hierarchical trainer: goal-conditioned PPO low level plus a learned or LLM high level."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from policies.rl.actor_critic import ActorCriticTrainer
from policies.rl.hierarchical.config import HierarchicalConfig
from policies.rl.hierarchical.controller import Decision, GoalController
from policies.rl.hierarchical.goal_learning import GoalRollout, option_returns
from policies.rl.hierarchical.goals import GoalSchedule, GoalSpace, TopicMemory
from policies.rl.hierarchical.llm_planner import LLMGoalPlanner
from policies.rl.hierarchical.networks import GoalConditionedActorCritic, GoalPolicyNetwork
from policies.rl.hierarchical.policy import HierarchicalPolicy
from policies.rl.normalization import ReturnScaler
from policies.rl.storage import minibatches
from policies.rl.trainer import EnvMaker, Transition
from recgym.core.registry import register_policy
from recgym.errors import ConfigError
from recgym.llm.backends.base import LLMBackend


@register_policy("hierarchical", kind="rl", description="goal planner over a goal-conditioned PPO")
class HierarchicalTrainer(ActorCriticTrainer):
    """Goal-conditioned PPO low level plus a semi-MDP PPO (or frozen LLM) high level over goals.

    Example: ``make_trainer("hierarchical", env_id="recgym/FatigueNovelty-v0", goal_kind="novelty")``,
    then ``train()`` and ``policy()`` as for PPO.
    ``backend`` gives the LLM planner a backend directly (an OpenAI-compatible server, say)
    instead of loading ``config.llm_model``.
    """

    algorithm = "hierarchical"
    config_class = HierarchicalConfig
    config: HierarchicalConfig

    def __init__(self, config: HierarchicalConfig, make_env: EnvMaker, backend: LLMBackend | None = None) -> None:
        self._backend = backend
        super().__init__(config, make_env)

    # -- building -----------------------------------------------------------------------------------------
    def build(self) -> None:
        config = self.config
        item_topics = self.env.item_topics
        if item_topics is None:
            raise ConfigError(f"{config.env_id} has no catalog with item topics; hierarchical goals need them.")
        topics, num_topics = item_topics
        has_sessions = "session" in self.env.single_observation_space.spaces
        if config.period == 0 and not has_sessions:
            raise ConfigError(
                f"HierarchicalConfig.period=0 re-plans only at session starts, but {config.env_id} has no sessions; "
                "set period > 0."
            )
        self.item_topics = topics.to(self.device)
        self.goal_space = GoalSpace(config.goal_kind, num_topics)
        self.schedule = GoalSchedule(config.period, config.replan_on_session and has_sessions)
        super().build()
        feature_size = GoalController.feature_size(self.network.encoder.user_input_size, num_topics)
        self.planner: GoalPolicyNetwork | LLMGoalPlanner
        if config.planner == "learned":
            num_goals = self.goal_space.num_goals
            self.planner = GoalPolicyNetwork(feature_size, config.hidden_size, num_goals).to(self.device)
            self.high_optimizer = torch.optim.Adam(self.planner.parameters(), lr=config.high_learning_rate, eps=1e-5)
            self.high_reward_scaler = ReturnScaler(config.num_users, 1, config.high_gamma).to(self.device)
            self.goal_rollout = GoalRollout(config.rollout_steps, config.num_users, feature_size, self.device)
        else:
            self.planner = LLMGoalPlanner(self._llm_backend(), self.goal_space.descriptions())
        self.controller = self.make_controller(config.num_users, self.device)
        self.decision: Decision | None = None
        self._decisions = torch.zeros((), device=self.device)
        self._intrinsic = torch.zeros(config.num_users, device=self.device)

    def _llm_backend(self) -> LLMBackend:
        if self._backend is not None:
            return self._backend
        if not self.config.llm_model:
            raise ConfigError(
                "HierarchicalConfig.planner='llm' needs llm_model (a local transformers model directory) "
                "or a backend passed to HierarchicalTrainer(config, make_env, backend=...)."
            )
        from recgym.llm.backends.transformers_backend import TransformersBackend

        return TransformersBackend.from_pretrained(self.config.llm_model, self.device, self.config.llm_batch_size)

    def make_controller(self, num_users: int, device: torch.device) -> GoalController:
        """Fresh per-user goal state for ``num_users`` users (the trainer's, or a deployed policy's)."""
        config = self.config
        memory = TopicMemory(num_users, self.goal_space.num_topics, config.memory_rate, config.exposure_decay, device)
        topics = self.item_topics.to(device)
        return GoalController(
            self.goal_space, self.schedule, topics, self.network.encoder.user_inputs, self.planner, memory
        )

    def build_network(self) -> nn.Module:
        return GoalConditionedActorCritic(
            self.env.single_observation_space,
            self.config.hidden_size,
            self.num_reward_channels(),
            self.goal_space.num_goals,
            self.config.goal_boost,
            self.config.history_summary,
        )

    @property
    def learns_goals(self) -> bool:
        return self.config.planner == "learned"

    # -- low-level hooks --------------------------------------------------------------------------------
    def num_reward_channels(self) -> int:
        return 2  # the env's reward, and clicks on goal-matching items

    def context_size(self) -> int:
        return self.goal_space.num_goals + self.env.num_candidates

    def current_context(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.controller.context(observation)

    def reward_vector(self, transition: Transition) -> torch.Tensor:
        return torch.stack([transition.reward, self._intrinsic], dim=1)

    def policy_advantage(self, advantages: torch.Tensor) -> torch.Tensor:
        return advantages[:, 0] + self.config.intrinsic_weight * advantages[:, 1]

    def env_step(self, slate: torch.Tensor) -> Transition:
        """Step, then pay the intrinsic reward and fold the step into the users' topic memory."""
        observation = self.observation
        shown_match = self.controller.candidate_match(observation).gather(1, slate)
        shown_items = observation["candidate_ids"].gather(1, slate)
        transition = super().env_step(slate)
        self._intrinsic = (transition.response.clicked.to(shown_match.dtype) * shown_match).sum(dim=1)
        self.controller.record(shown_items, transition.response)
        self.controller.advance()
        return transition

    def after_step(self, transition: Transition) -> None:
        """Close the high level's step, then re-plan the users that are due for the next one."""
        assert self.decision is not None
        if self.learns_goals:
            reward = transition.reward.unsqueeze(1)
            if self.config.scale_rewards:
                reward = self.high_reward_scaler(reward, transition.done)
            self.goal_rollout.add_outcome(reward[:, 0], transition.done)
        self.decision = self.controller.plan(transition.observation, self.generator, explore=True)
        if self.learns_goals:
            self.goal_rollout.add_state(self.decision, self.controller.goal)
        self._decisions += self.decision.due.sum()

    # -- the loop ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def collect(self) -> torch.Tensor:
        if self.decision is None:
            self.decision = self.controller.plan(self.observation, self.generator, explore=True)
        self._decisions = torch.zeros((), device=self.device)
        if self.learns_goals:
            self.goal_rollout.reset()
            self.goal_rollout.add_state(self.decision, self.controller.goal)
        return super().collect()

    def train_iteration(self) -> dict[str, float]:
        metrics = super().train_iteration()
        user_steps = self.config.num_users * self.config.rollout_steps
        metrics["decisions_per_user_step"] = float(self._decisions) / user_steps
        if self.goal_space.kind == "novelty":
            metrics["explore_share"] = float((self.controller.goal == 1).float().mean())
        if self.learns_goals:
            metrics.update(self.update_goal_policy())
        return metrics

    def update_goal_policy(self) -> dict[str, float]:
        """PPO on the high level over the rollout's options; returns 'high_*' metrics."""
        config, rollout, network = self.config, self.goal_rollout, self.planner
        assert isinstance(network, GoalPolicyNetwork)
        with torch.no_grad():
            logits, option_values = network(rollout.features)
            fresh = (torch.softmax(logits, dim=-1) * option_values).sum(dim=-1)
            held = option_values.gather(-1, rollout.goals.unsqueeze(-1)).squeeze(-1)
        returns = option_returns(
            rollout.rewards, rollout.dones, rollout.decided, fresh, held, config.high_gamma, config.high_gae_lambda
        )
        decided = rollout.decided[:-1]
        advantages = returns - fresh[:-1]
        if config.normalize_advantages and int(decided.sum()) > 1:
            chosen = advantages[decided]
            advantages = (advantages - chosen.mean()) / (chosen.std() + 1e-8)
        samples = {
            "features": rollout.features[:-1].flatten(0, 1),
            "goal": rollout.goals[:-1].flatten(),
            "decided": decided.flatten().to(torch.float32),
            "log_prob": rollout.log_probs[:-1].flatten(),
            "advantage": advantages.flatten(),
            "return": returns.flatten(),
        }
        totals: dict[str, float] = {}
        updates = 0
        for _ in range(config.high_epochs):
            for rows in minibatches(samples["goal"].shape[0], config.num_minibatches, self.generator, self.device):
                stats = self._goal_gradient_step({key: value.index_select(0, rows) for key, value in samples.items()})
                for name, value in stats.items():
                    totals[name] = totals.get(name, 0.0) + value
                updates += 1
        network.norm.update(rollout.features.flatten(0, 1))
        metrics = {f"high_{name}": value / updates for name, value in totals.items()}
        metrics["high_decisions"] = float(decided.sum())
        return metrics

    def _goal_gradient_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        config, network = self.config, self.planner
        assert isinstance(network, GoalPolicyNetwork)
        logits, option_values = network(batch["features"])
        log_softmax = torch.log_softmax(logits, dim=1)
        goal = batch["goal"].unsqueeze(1)
        log_prob = log_softmax.gather(1, goal).squeeze(1)
        entropy = -(log_softmax.exp() * log_softmax).sum(dim=1)
        mask = batch["decided"]
        count = mask.sum().clamp_min(1.0)
        ratio = (log_prob - batch["log_prob"]).exp()
        clipped = ratio.clamp(1.0 - config.clip_range, 1.0 + config.clip_range)
        surrogate = torch.minimum(ratio * batch["advantage"], clipped * batch["advantage"])
        policy_loss = -(surrogate * mask).sum() / count
        entropy_mean = (entropy * mask).sum() / count
        value_loss = 0.5 * (option_values.gather(1, goal).squeeze(1) - batch["return"]).square().mean()
        loss = policy_loss + config.value_coef * value_loss - config.high_entropy_coef * entropy_mean
        self.high_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(network.parameters(), config.max_grad_norm)
        self.high_optimizer.step()
        stats = {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy_mean}
        return {name: float(value.detach()) for name, value in stats.items()}

    # -- deployment and checkpoints ----------------------------------------------------------------------
    def policy(self) -> HierarchicalPolicy:
        return HierarchicalPolicy(self.network, self.make_controller, self.slate_size, seed=self.config.seed)

    def components(self) -> dict[str, Any]:
        components = super().components()
        if self.learns_goals:
            components |= {
                "goal_policy": self.planner,
                "goal_optimizer": self.high_optimizer,
                "goal_reward_scaler": self.high_reward_scaler,
            }
        return components

    def extra_state(self) -> dict[str, Any]:
        decision = None if self.decision is None else dataclasses.asdict(self.decision)
        return {"controller": self.controller.state_dict(), "decision": decision}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        decision = state["decision"]
        if decision is not None:
            moved = {key: None if value is None else value.to(self.device) for key, value in decision.items()}
            self.decision = Decision(**moved)
