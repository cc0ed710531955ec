"""The ``recgym`` command: demo, env listing, RL training and evaluation (sweeps and reports come later)."""

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
    _add_train_parser(commands)
    _add_evaluate_parser(commands)
    return parser


def _add_train_parser(commands: argparse._SubParsersAction) -> None:
    from policies.rl.registry import ALGORITHMS

    train = commands.add_parser("train", help="train an RL policy on a recgym env, with checkpoints and TensorBoard")
    train.add_argument("--algo", default="ppo", help=f"one of {', '.join(sorted(ALGORITHMS))}")
    train.add_argument("--env", dest="env_id", help="env id (default: the algorithm's)")
    train.add_argument("--total-steps", type=int, help="training budget in user-steps")
    train.add_argument("--num-users", type=int, help="users simulated in parallel")
    train.add_argument("--device", help="cpu, cuda, cuda:N or auto")
    train.add_argument("--seed", type=int)
    train.add_argument("--out", type=Path, required=True, help="run folder: checkpoint.pt, tensorboard/, config.json")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    train.add_argument("--set", nargs="*", metavar="FIELD=VALUE", help="algorithm config fields, e.g. gamma=0.95")
    train.add_argument("--env-kwarg", nargs="*", metavar="KEY=VALUE", help="env/simulator options, e.g. horizon_days=7")


def _add_evaluate_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("evaluate", help="score a saved policy against random and myopic greedy")
    evaluate.add_argument("checkpoint", type=Path, help="a run folder or its checkpoint.pt")
    evaluate.add_argument("--num-users", type=int, default=1024, help="fresh users, one whole episode each")
    evaluate.add_argument("--seed", type=int, default=1_000_000)
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--env", dest="env_id", help="evaluate on another env id (default: the training env)")
    evaluate.add_argument(
        "--env-kwarg", nargs="*", metavar="KEY=VALUE", help="override env options, e.g. family=heldout"
    )
    evaluate.add_argument("--no-baselines", action="store_true", help="score only the saved policy")


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
        elif arguments.command == "train":
            from recgym.training import TrainRequest, parse_assignments, run_train

            request = TrainRequest(
                algorithm=arguments.algo,
                env_id=arguments.env_id,
                out=arguments.out,
                resume=arguments.resume,
                total_steps=arguments.total_steps,
                num_users=arguments.num_users,
                device=arguments.device,
                seed=arguments.seed,
                env_kwargs=parse_assignments(arguments.env_kwarg, "--env-kwarg"),
                fields=parse_assignments(arguments.set, "--set"),
            )
            run_train(request, console)
        elif arguments.command == "evaluate":
            from recgym.training import parse_assignments, run_evaluate

            run_evaluate(
                arguments.checkpoint,
                console,
                num_users=arguments.num_users,
                seed=arguments.seed,
                device=arguments.device,
                env_id=arguments.env_id,
                env_kwargs=parse_assignments(arguments.env_kwarg, "--env-kwarg"),
                baselines=not arguments.no_baselines,
            )
    except RecGymError as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
