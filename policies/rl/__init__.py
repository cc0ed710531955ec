"""Reinforcement learning for long-term engagement: trainers over the native vector env.

Trainers are built with their envs one layer up: ``recgym.rl.make_trainer("ppo", env_id=...,
num_users=..., total_steps=...)`` builds one, ``trainer.train()`` runs it, ``trainer.policy()``
gives the learned ``Policy``, and ``recgym.rl.load_trainer(out_dir)`` continues from the last
checkpoint. ``algorithms()`` lists them.
"""

from policies.rl.config import TrainConfig
from policies.rl.registry import algorithms, config_for, trainer_class
from policies.rl.trainer import EnvMaker, Trainer, Transition

__all__ = [
    "EnvMaker",
    "TrainConfig",
    "Trainer",
    "Transition",
    "algorithms",
    "config_for",
    "trainer_class",
]
