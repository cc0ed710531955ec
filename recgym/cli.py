"""The ``recgym`` command: demo, envs, scenarios, sweep, report, train and evaluate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from recgym.envs.registration import registered_ids
from recgym.errors import ConfigError, RecGymError


def _parser() -> argparse.ArgumentParser:
    from recgym.demo import DemoConfig

    defaults = DemoConfig()
    parser = argparse.ArgumentParser(prog="recgym", description="Simulated users for recommender-system RL.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="a short sweep (bandits, PPO, baselines) and its HTML report")
    demo.add_argument("--seeds", type=int, default=defaults.seeds, help="seeds per scenario and policy")
    demo.add_argument("--rl-steps", type=int, default=defaults.rl_steps, help="PPO training user-steps per run")
    demo.add_argument("--workers", type=int, default=defaults.workers, help="parallel run processes")
    demo.add_argument("--num-users", type=int, help="users per run (default: each scenario's population)")
    demo.add_argument("--out", type=Path, default=defaults.out, help="sweep folder (replaced if it holds a demo)")
    commands.add_parser("envs", help="list registered env ids")
    commands.add_parser("scenarios", help="list the shipped scenarios and the questions they answer")
    _add_sweep_parser(commands)
    report = commands.add_parser("report", help="write report.html and report.md for a sweep folder")
    report.add_argument("run_dir", type=Path, help="the sweep's --out folder")
    _add_train_parser(commands)
    _add_evaluate_parser(commands)
    return parser


def _add_sweep_parser(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser("sweep", help="run scenarios x policies x seeds (x grids) into a results folder")
    sweep.add_argument("scenarios", nargs="*", help="shipped scenario names or scenario files (.toml/.json)")
    sweep.add_argument("--policies", nargs="*", default=[], help="policy names (default: each scenario's own list)")
    sweep.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    sweep.add_argument("--grid", nargs="*", default=[], metavar="KEY=V1,V2", help="e.g. linucb.alpha=0.5,1,2")
    sweep.add_argument("--out", type=Path, required=True, help="results folder (Parquet runs and curves, manifest)")
    sweep.add_argument("--resume", action="store_true", help="continue the sweep in --out; finished runs are kept")
    sweep.add_argument("--executor", choices=["local", "ray"], default="local")
    sweep.add_argument("--workers", type=int, help="local processes (default: all cores)")
    sweep.add_argument("--address", help="Ray cluster address, e.g. 'auto' or 'ray://host:10001'")
    sweep.add_argument("--device", default="cpu", help="torch device of each run")
    sweep.add_argument("--report", action="store_true", help="write report.html and report.md when done")


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


def _list_scenarios(console: Console) -> None:
    from scenarios import list_scenarios

    table = Table(title="shipped scenarios (recgym sweep NAME ...; a .toml file of your own works the same)")
    table.add_column("name", no_wrap=True)
    table.add_column("simulator", no_wrap=True)
    table.add_column("question", ratio=1)
    for scenario in list_scenarios():
        simulator = scenario.simulator.env.removeprefix("recgym/").removesuffix("-v0")
        table.add_row(scenario.name, simulator, scenario.question)
    console.print(table)


def _sweep(arguments: argparse.Namespace, console: Console) -> None:
    from recgym.sweep import SweepPlan, make_executor, parse_grid, run_sweep
    from scenarios import load_scenario

    if arguments.resume:
        plan = None
    else:
        if not arguments.scenarios:
            raise ConfigError("Name at least one scenario (`recgym scenarios` lists them) or a scenario file.")
        plan = SweepPlan(
            scenarios=[load_scenario(name) for name in arguments.scenarios],
            policies=arguments.policies,
            seeds=list(range(arguments.seeds)),
            grid=parse_grid(arguments.grid),
            device=arguments.device,
        )
    executor = make_executor(arguments.executor, workers=arguments.workers, address=arguments.address)
    store = run_sweep(plan, arguments.out, executor, resume=arguments.resume, console=console)
    console.print(
        f"{len(store.finished_ids())} runs in {arguments.out}; `recgym report {arguments.out}` summarises them."
    )
    if arguments.report:
        _report(arguments.out, console)


def _report(run_dir: Path, console: Console) -> None:
    from recgym.report import print_summaries, summarise_store, write_report
    from recgym.sweep import ResultsStore

    html_path, markdown_path = write_report(run_dir)
    print_summaries(summarise_store(ResultsStore(run_dir)), console)
    console.print(f"Report: {html_path} (open it in a browser) and {markdown_path} (all metrics).")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``recgym`` console script."""
    arguments = _parser().parse_args(argv)
    console = Console()
    try:
        if arguments.command == "envs":
            _list_envs(console)
        elif arguments.command == "scenarios":
            _list_scenarios(console)
        elif arguments.command == "sweep":
            _sweep(arguments, console)
        elif arguments.command == "report":
            _report(arguments.run_dir, console)
        elif arguments.command == "demo":
            from recgym.demo import DemoConfig, run_demo

            config = DemoConfig(
                seeds=arguments.seeds,
                rl_steps=arguments.rl_steps,
                workers=arguments.workers,
                num_users=arguments.num_users,
                out=arguments.out,
            )
            run_demo(config, console)
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
