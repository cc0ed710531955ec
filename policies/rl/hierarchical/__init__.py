"""Hierarchical RL: a high level picks each user's goal, a low level fills the slate within it.

After the novelty-seeking HRL work (Li et al. 2023: a high-level policy models each user's
session-level intent to explore or stay familiar, a low-level policy recommends within it)
and LLM-enhanced hierarchical recommendation (a language model plans the high level from a
text rendering of the user's history). A **goal** is a topic (``goal_kind='topic'``) or a
novelty level (``'novelty'``: 0 = stay with topics the user already consumes, 1 = explore
ones they do not). The high level re-plans a user's goal at every episode start, every new
session (``replan_on_session``) and every ``period`` steps; in between the goal is held.

* **Low level**: ``ActorCriticTrainer`` (PPO) whose context hook carries the goal, one-hot,
  and each candidate's match with it [B, C]; the match also adds ``goal_boost`` (plus a
  learned per-goal gain) to the candidate's logit, so the goal shapes which candidates
  lead the slate. A second reward channel pays the low level for clicks on matching items
  (``intrinsic_weight`` mixes its advantage in).
* **High level** (``planner='learned'``): a categorical policy over goals with an option
  critic Q(s, g) [B, G], trained by PPO on semi-MDP lambda-returns: rewards accumulate over
  the option, the lambda mix happens only where a new option starts, and a rollout that
  ends mid-option bootstraps with Q(s_T, g) of the option still running.
* **LLM planner** (``planner='llm'``): ``LLMGoalPlanner`` asks a language model, once per
  (user, goal), whether the goal suits the user's rendered history, and takes the goal
  with the highest log p(yes) - log p(no); frozen, deterministic, batched.

Every per-user quantity (goal, goal age, the recommender's topic memory) is a [B, ...]
tensor; the only Python loop over users renders history text for the LLM. The topic
memory uses what a recommender logs itself: the items it showed, which were clicked, and
the catalog's public topic of each item.
"""

from policies.rl.hierarchical.config import GOAL_KINDS, PLANNERS, HierarchicalConfig
from policies.rl.hierarchical.controller import Decision, GoalController
from policies.rl.hierarchical.goal_learning import GoalRollout, option_returns
from policies.rl.hierarchical.goals import NOVELTY_GOALS, GoalSchedule, GoalSpace, TopicMemory
from policies.rl.hierarchical.llm_planner import LLMGoalPlanner
from policies.rl.hierarchical.networks import GoalConditionedActorCritic, GoalPolicyNetwork
from policies.rl.hierarchical.policy import HierarchicalPolicy
from policies.rl.hierarchical.trainer import HierarchicalTrainer

__all__ = [
    "GOAL_KINDS",
    "NOVELTY_GOALS",
    "PLANNERS",
    "Decision",
    "GoalConditionedActorCritic",
    "GoalController",
    "GoalPolicyNetwork",
    "GoalRollout",
    "GoalSchedule",
    "GoalSpace",
    "HierarchicalConfig",
    "HierarchicalPolicy",
    "HierarchicalTrainer",
    "LLMGoalPlanner",
    "TopicMemory",
    "option_returns",
]
