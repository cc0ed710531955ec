"""Off-policy evaluation: log a behaviour's slates, estimate another policy's value from the log, check against truth.

A simulator knows what a real log never does: the value the target would actually have
earned. ``collect_log`` rolls a behaviour ``SlateDistribution`` out and records what an
offline evaluator gets (contexts, slates, exact propensities, rewards); ``on_policy_value``
runs the target itself on the same users and contexts and averages the oracle's expected
reward, so every estimator's bias can be measured, not guessed.

Estimators (each returns an ``OffPolicyEstimate`` with a normal 95% CI, over users where known):

- ``ips``: full-slate inverse propensity scoring, mean of w r with w = pi_e(slate) / pi_b(slate).
  Unbiased whenever pi_b > 0 wherever pi_e > 0; variance grows with the number of slates.
- ``snips``: self-normalised IPS, sum(w r) / sum(w). Slightly biased (O(1/N)), far less variance.
- ``direct_method``: plug a reward model q into the target's position marginals. Low variance;
  biased exactly as much as q is wrong. q is position-free, so the DM value is exact only
  when a slate's value is the sum of its items' values (slate_size 1 or no position effect).
- ``doubly_robust``: DM plus IPS of the model's residual. Unbiased if the propensities are
  exact (whatever q), and lower variance than IPS when q is good.
- ``independent_ips``: Li et al. (2018) item-position IPS, sum over positions of
  pi_e(item at k) / pi_b(item at k) * r_k. Unbiased when each position's reward depends only on
  the item at that position (position-based click models such as LinearClick), with a variance
  that grows with K instead of with the number of slates.

Rows of one user are correlated (the same hidden user, a history that carries over), so
a log may say who each row belongs to (``groups``; ``collect_log`` records the user): the
intervals then treat users, not rows, as independent (a cluster-robust variance), which
widens them on logs with many steps per user. Without ``groups`` rows are independent.

Example::

    behaviour = EpsilonMixture(RandomPolicy(1), epsilon=1.0)
    log = collect_log(env, behaviour, num_steps=20, seed=0)
    truth = on_policy_value(env, target, num_steps=20, seed=0)
    evaluate_off_policy(log, target, truth=truth)   # DataFrame: estimate, CI, truth, bias
"""

from recgym.eval.ope.accuracy import Estimator, EstimatorAccuracy, estimator_accuracy
from recgym.eval.ope.collection import collect_log, on_policy_value
from recgym.eval.ope.estimators import (
    ESTIMATORS,
    EstimatorSpec,
    OffPolicyEstimate,
    direct_method,
    doubly_robust,
    estimator,
    evaluate_off_policy,
    importance_weights,
    independent_ips,
    ips,
    snips,
)
from recgym.eval.ope.logged import POSITION_REWARDS, LoggedBandit
from recgym.eval.ope.reward_models import ConstantRewardModel, LinearRewardModel, OracleRewardModel, RewardModel

__all__ = [
    "ESTIMATORS",
    "POSITION_REWARDS",
    "ConstantRewardModel",
    "Estimator",
    "EstimatorAccuracy",
    "EstimatorSpec",
    "LinearRewardModel",
    "LoggedBandit",
    "OffPolicyEstimate",
    "OracleRewardModel",
    "RewardModel",
    "collect_log",
    "direct_method",
    "doubly_robust",
    "estimator",
    "estimator_accuracy",
    "evaluate_off_policy",
    "importance_weights",
    "independent_ips",
    "ips",
    "on_policy_value",
    "snips",
]
