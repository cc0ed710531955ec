"""PPO training throughput in user-steps/s: recgym's native trainer against Stable-Baselines3 PPO.

Both train on the same env and machine. A user-step is one user shown one slate, counted
over whole training iterations (collection and gradient updates). The native trainer keeps
every tensor on the env's device; SB3 crosses to numpy each step through ``SB3VecEnv``
(``MultiInputPolicy``, independent MultiDiscrete positions repaired to distinct slates).
Prints the configuration and one row per trainer and population size; record results in
benchmarks/RESULTS.md with the machine.

    python benchmarks/rl_throughput.py [--env recgym/LongTermSatisfaction-v0] [--users 1024 4096]
        [--sb3-users 1024] [--device cpu|cuda] [--iterations 5]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from stable_baselines3 import PPO

from recgym.core.device import resolve_device
from recgym.envs.builder import build_vector_env
from recgym.rl import make_trainer
from recgym.wrappers.sb3 import SB3VecEnv

ROLLOUT_STEPS = 32


def native_ppo(env_id: str, num_users: int, device: str, iterations: int) -> float:
    """User-steps/s of ``iterations`` PPO iterations after one warm-up iteration."""
    trainer = make_trainer(
        "ppo", env_id=env_id, num_users=num_users, device=device, rollout_steps=ROLLOUT_STEPS, total_steps=1 << 40
    )
    trainer.train_iteration()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    started, steps_before = time.perf_counter(), trainer.steps
    for _ in range(iterations):
        trainer.train_iteration()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    return (trainer.steps - steps_before) / (time.perf_counter() - started)


def sb3_ppo(env_id: str, num_users: int, device: str, iterations: int) -> float:
    """User-steps/s of SB3 PPO with the same rollout length, epochs and minibatch count."""
    env = build_vector_env(env_id, num_users, torch.device("cpu"), {})
    rollout = ROLLOUT_STEPS * num_users
    model = PPO(
        "MultiInputPolicy",
        SB3VecEnv(env),
        n_steps=ROLLOUT_STEPS,
        batch_size=rollout // 4,
        n_epochs=4,
        device=device,
        seed=0,
        verbose=0,
    )
    model.learn(rollout)  # warm-up iteration
    started = time.perf_counter()
    model.learn(rollout * iterations, reset_num_timesteps=False)
    return rollout * iterations / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="recgym/LongTermSatisfaction-v0")
    parser.add_argument("--users", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--sb3-users", type=int, nargs="+", default=[1024])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iterations", type=int, default=5)
    arguments = parser.parse_args()
    device = str(resolve_device(arguments.device))
    name = torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor() or platform.machine()
    print(
        f"env {arguments.env}; device {device} ({name}); torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"PPO: {ROLLOUT_STEPS} steps per rollout, 4 epochs x 4 minibatches; {arguments.iterations} timed iterations"
    )
    print(f"{'trainer':<12} {'users':>7} {'user-steps/s':>14}")
    native: dict[int, float] = {}
    for num_users in arguments.users:
        native[num_users] = native_ppo(arguments.env, num_users, device, arguments.iterations)
        print(f"{'recgym PPO':<12} {num_users:>7} {native[num_users]:>14,.0f}", flush=True)
    for num_users in arguments.sb3_users:
        rate = sb3_ppo(arguments.env, num_users, device, arguments.iterations)
        best_native = max(native.values())
        print(
            f"{'SB3 PPO':<12} {num_users:>7} {rate:>14,.0f}   (native best is {best_native / rate:,.1f}x)", flush=True
        )


if __name__ == "__main__":
    main()
