"""Reinforcement learning for long-term engagement: trainers over the native vector env.

``make_trainer("ppo", env_id=..., num_users=..., total_steps=...)`` builds a trainer,
``trainer.train()`` runs it, ``trainer.policy()`` gives the learned ``Policy``, and
``load_trainer(out_dir)`` continues from the last checkpoint. ``algorithms()`` lists them.
"""

from policies.rl.config import TrainConfig
from policies.rl.registry import algorithms, config_for, load_trainer, make_trainer, trainer_class
from policies.rl.trainer import Trainer, Transition

__all__ = [
    "TrainConfig",
    "Trainer",
    "Transition",
    "algorithms",
    "config_for",
    "load_trainer",
    "make_trainer",
    "trainer_class",
]
