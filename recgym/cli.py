"""The ``recgym`` command: demo and env listing (training, sweeps and reports come later)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from recgym.envs.registration import registered_ids
from recgym.errors import RecGymError


def _parser() -> argparse.ArgumentParser:
    from recgym.demo import DemoConfig

    defaults = DemoConfig()
    parser = argparse.ArgumentParser(prog="recgym", description="Simulated users for recommender-system RL.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train and evaluate policies on simulated users; write a report")
    demo.add_argument("--num-users", type=int, default=defaults.num_users, help="users evaluated per policy")
    demo.add_argument("--train-steps", type=int, default=defaults.train_steps, help="PPO training user-steps")
    demo.add_argument("--train-users", type=int, default=defaults.train_users, help="parallel users in training")
    demo.add_argument("--device", default=defaults.device, help="cpu, cuda, or auto")
    demo.add_argument("--seed", type=int, default=defaults.seed)
    demo.add_argument("--out", type=Path, default=defaults.out, help="report folder")
    commands.add_parser("envs", help="list registered env ids")
    return parser


def _list_envs(console: Console) -> None:
    import gymnasium as gym

    env_ids = registered_ids()
    table = Table(title="registered recgym environments")
    table.add_column("id", no_wrap=True, min_width=max(map(len, env_ids)))
    table.add_column("simulator", overflow="fold")
    table.add_column("max episode steps", justify="right")
    for env_id in env_ids:
        spec = gym.spec(env_id)
        table.add_row(env_id, str(spec.kwargs.get("simulator", spec.entry_point)), str(spec.max_episode_steps))
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``recgym`` console script."""
    arguments = _parser().parse_args(argv)
    console = Console()
    try:
        if arguments.command == "envs":
            _list_envs(console)
        elif arguments.command == "demo":
            from recgym.demo import DemoConfig, run_demo

            run_demo(
                DemoConfig(
                    num_users=arguments.num_users,
                    train_steps=arguments.train_steps,
                    train_users=arguments.train_users,
                    device=arguments.device,
                    seed=arguments.seed,
                    out=arguments.out,
                ),
                console,
            )
    except RecGymError as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
