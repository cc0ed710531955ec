"""The ``recgym`` command: demo, envs, scenarios, policies, sweep, report, train and evaluate.

Everything heavy (torch, simulators, the sweep engine) is imported inside the command that
needs it, so ``recgym --help`` answers at once.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recgym.errors import ConfigError, RecGymError


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows each option's default (except where there is none or the help already says it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" not in text
            and action.default not in (None, argparse.SUPPRESS, False, [])
            and (action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE))
        ):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


def _add_threads_option(parser: argparse.ArgumentParser, note: str = "") -> None:
    parser.add_argument(
        "--threads",
        type=int,
        help=f"torch CPU threads of this command{note} (default: 1 with up to 4 cores, else half the cores)",
    )


def _parser() -> argparse.ArgumentParser:
    from recgym.demo import DemoConfig

    defaults = DemoConfig()
    parser = _Parser(prog="recgym", description="Simulated users for recommender-system RL.")
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, e.g. one with your own @register_policy classes (repeatable; also in every "
        "sweep worker, through RECGYM_PLUGINS)",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = commands.add_parser("demo", help="a short sweep (bandits, PPO, baselines) and its HTML report")
    demo.add_argument("--seeds", type=int, default=defaults.seeds, help="seeds per scenario and policy")
    demo.add_argument("--rl-steps", type=int, default=defaults.rl_steps, help="PPO training user-steps per run")
    demo.add_argument("--workers", type=int, default=defaults.workers, help="parallel run processes")
    demo.add_argument("--num-users", type=int, help="users per run (default: each scenario's population)")
    _add_threads_option(demo, "'s main process (each run's process uses 1)")
    demo.add_argument(
        "--out",
        type=Path,
        help="sweep folder, new or empty (default: runs/demo, or runs/demo-N if earlier demos are there)",
    )
    commands.add_parser("envs", help="list registered env ids")
    commands.add_parser("policies", help="list policy names (for sweeps and train) with their parameters")
    commands.add_parser("scenarios", help="list the shipped scenarios and the questions they answer")
    _add_sweep_parser(commands)
    report = commands.add_parser("report", help="write report.html and report.md for a sweep folder")
    report.add_argument("run_dir", type=Path, help="the sweep's --out folder")
    _add_threads_option(report)
    _add_train_parser(commands)
    _add_evaluate_parser(commands)
    return parser


def _add_sweep_parser(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser("sweep", help="run scenarios x policies x seeds (x grids) into a results folder")
    sweep.add_argument(
        "scenarios",
        nargs="*",
        help="shipped scenario names or scenario files (.toml/.json); with --resume, scenarios to add",
    )
    sweep.add_argument(
        "--policies",
        nargs="*",
        help="policy names, `recgym policies` lists them (default: each scenario's own list; on --resume, the "
        "stored list, and new names are added)",
    )
    sweep.add_argument(
        "--seeds",
        type=int,
        help="seeds 0..N-1 (default: 3; on --resume, the stored seeds, and a larger N adds seeds)",
    )
    sweep.add_argument(
        "--grid",
        nargs="*",
        metavar="KEY=V1,V2",
        help="e.g. linucb.alpha=0.5,1,2 or scenario.simulator.params.sensitivity=0.1,0.5 (default: no grid; on "
        "--resume, the stored grid, and new values of its keys are added)",
    )
    sweep.add_argument(
        "--num-users",
        type=int,
        help="users per run in every scenario, replacing each one's population.num_users (default: each "
        "scenario's own)",
    )
    sweep.add_argument("--out", type=Path, required=True, help="results folder (Parquet runs and curves, manifest)")
    sweep.add_argument(
        "--resume",
        action="store_true",
        help="continue the sweep in --out: finished runs are kept; new scenarios, --policies, --seeds and grid "
        "values add runs (default: off)",
    )
    sweep.add_argument("--executor", choices=["local", "ray"], default="local", help="where runs execute")
    sweep.add_argument("--workers", type=int, help="local processes (default: all cores)")
    sweep.add_argument("--address", help="Ray cluster address, e.g. 'auto' or 'ray://host:10001' (default: none)")
    sweep.add_argument(
        "--device",
        help="torch device of each run: cpu, cuda, cuda:N or auto (default: cpu; on --resume, the stored device)",
    )
    sweep.add_argument("--report", action="store_true", help="write report.html and report.md when done (default: off)")
    _add_threads_option(sweep, "'s main process (each run's process uses 1)")


def _add_train_parser(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train an RL policy on a recgym env, with checkpoints and TensorBoard")
    train.add_argument("--algo", default="ppo", help="RL algorithm (`recgym policies` lists them and their fields)")
    train.add_argument("--env", dest="env_id", help="env id (default: the algorithm's)")
    train.add_argument(
        "--total-steps", type=int, help="training budget in user-steps, rounded up to whole iterations (default: 1M)"
    )
    train.add_argument("--num-users", type=int, help="users simulated in parallel (default: the algorithm's, 1024)")
    train.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: auto)")
    train.add_argument(
        "--seed", type=int, help="seeds users, weights and sampling; seeds never share users (default: 0)"
    )
    train.add_argument(
        "--out", type=Path, required=True, help="run folder: checkpoint.pt, tensorboard/, config.json, policy-*.pt"
    )
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    train.add_argument("--set", nargs="*", metavar="FIELD=VALUE", help="algorithm config fields, e.g. gamma=0.95")
    train.add_argument("--env-kwarg", nargs="*", metavar="KEY=VALUE", help="env/simulator options, e.g. horizon_days=7")
    _add_threads_option(train)


def _add_evaluate_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("evaluate", help="score a saved policy against random and myopic greedy")
    evaluate.add_argument(
        "checkpoint", type=Path, help="a run folder, its checkpoint.pt, or a policy file (policy-<steps>-steps.pt)"
    )
    evaluate.add_argument("--num-users", type=int, default=1024, help="fresh users, one whole episode each")
    evaluate.add_argument(
        "--seed", type=int, default=0, help="population of evaluation users: never users of training or other seeds"
    )
    evaluate.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    evaluate.add_argument("--env", dest="env_id", help="evaluate on another env id (default: the training env)")
    evaluate.add_argument(
        "--env-kwarg", nargs="*", metavar="KEY=VALUE", help="override env options, e.g. family=heldout"
    )
    evaluate.add_argument("--no-baselines", action="store_true", help="score only the saved policy")
    evaluate.add_argument("--out", type=Path, help="also write the table to a new file: .json or .md")
    _add_threads_option(evaluate)


def _list_envs(console: Console) -> None:
    import gymnasium as gym

    from recgym.envs.registration import registered_ids

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


def _list_policies(console: Console) -> None:
    import inspect

    from policies.registry import policy_registry
    from recgym.sweep.policies import policy_parameters

    table = Table(
        title="policies (recgym sweep --policies NAME ..., --grid NAME.PARAM=V1,V2; RL ones: recgym train --algo)"
    )
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("what it does", ratio=1)
    table.add_column("parameters (default)", ratio=2)
    for name, entry in policy_registry().items():
        parameters = policy_parameters(name)
        shown = ", ".join(
            key if default is inspect.Parameter.empty else f"{key}={default!r}" for key, default in parameters.items()
        )
        table.add_row(name, entry.kind, entry.description, shown or "none")
    console.print(table)


def _sweep(arguments: argparse.Namespace, console: Console) -> None:
    from recgym.sweep import SweepInterrupted, SweepRequest, make_executor, run_sweep
    from recgym.sweep.request import resume_command

    request = SweepRequest(
        scenarios=arguments.scenarios,
        policies=arguments.policies,
        seeds=arguments.seeds,
        grid=arguments.grid,
        device=arguments.device,
        num_users=arguments.num_users,
    )
    plan, notes = request.plan(arguments.out, resume=arguments.resume)
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    executor = make_executor(arguments.executor, workers=arguments.workers, address=arguments.address)
    try:
        store = run_sweep(plan, arguments.out, executor, resume=arguments.resume, console=console)
    except SweepInterrupted as interrupted:
        command = resume_command(arguments.out, arguments.executor, arguments.workers, arguments.address)
        console.print(
            "[yellow]Interrupted.[/yellow] "
            + escape(
                f"{interrupted.finished} of {interrupted.total} runs are stored in {arguments.out} and kept; the runs "
                f"in flight were stopped. Continue with:\n  {command}"
            ),
            soft_wrap=True,
        )
        raise
    except KeyboardInterrupt:
        console.print(
            f"[yellow]Interrupted[/yellow] before any run started: {escape(str(arguments.out))} was not changed."
        )
        raise
    console.print(
        f"{len(store.finished_ids())} runs in {arguments.out}; `recgym report {arguments.out}` summarises them."
    )
    if arguments.report:
        _report(arguments.out, console)


def _report(run_dir: Path, console: Console) -> None:
    import warnings

    from recgym.report import print_summaries, summarise_store, write_report
    from recgym.sweep import ResultsStore, UnreadableResultWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnreadableResultWarning)
        try:
            html_path, markdown_path = write_report(run_dir)
            summaries = summarise_store(ResultsStore(run_dir))
        finally:  # name damaged files even when nothing readable is left to report
            unreadable = [warning for warning in caught if issubclass(warning.category, UnreadableResultWarning)]
            for message in dict.fromkeys(str(warning.message) for warning in unreadable):  # each file once
                console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)
    for warning in caught:
        if warning not in unreadable:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    print_summaries(summaries, console)
    console.print(f"Report: {html_path} (open it in a browser) and {markdown_path} (all metrics).")


def default_threads(cores: int | None = None) -> int:
    """Torch CPU threads a command uses unless ``--threads`` says otherwise.

    Measured (benchmarks/RESULTS.md, "CPU threads"): on a small machine that is doing other
    work, torch's default of one thread per core makes evaluate and train several times
    slower than one thread, because its threads wait on each other; past a few cores, half of
    them is a safe default that leaves room for the rest of the machine.
    """
    import os

    cores = cores or os.cpu_count() or 1
    return 1 if cores <= 4 else max(1, cores // 2)


def _set_threads(arguments: argparse.Namespace) -> None:
    requested = getattr(arguments, "threads", None)
    if requested is not None and requested < 1:
        raise ConfigError(f"--threads must be a positive integer; got {requested}.")
    import torch

    torch.set_num_threads(requested or default_threads())


def _use_plugins(modules: list[str]) -> None:
    """Add ``modules`` to RECGYM_PLUGINS (inherited by worker processes) and import them now."""
    import os

    if not modules:
        return
    present = [name for name in os.environ.get("RECGYM_PLUGINS", "").split(",") if name]
    os.environ["RECGYM_PLUGINS"] = ",".join(dict.fromkeys([*present, *modules]))
    from recgym.core.registry import import_plugins

    import_plugins()


def _run_command(arguments: argparse.Namespace, console: Console) -> None:
    _use_plugins(arguments.plugin)
    if arguments.command == "envs":
        _list_envs(console)
        return
    if arguments.command == "scenarios":
        _list_scenarios(console)
        return
    if arguments.command == "policies":
        _list_policies(console)
        return
    _set_threads(arguments)
    if arguments.command == "sweep":
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
        from recgym.evaluation import run_evaluate
        from recgym.training import parse_assignments

        run_evaluate(
            arguments.checkpoint,
            console,
            num_users=arguments.num_users,
            seed=arguments.seed,
            device=arguments.device,
            env_id=arguments.env_id,
            env_kwargs=parse_assignments(arguments.env_kwarg, "--env-kwarg"),
            baselines=not arguments.no_baselines,
            out=arguments.out,
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``recgym`` console script: 0 on success, 2 on a user error, 130 on Ctrl-C."""
    arguments = _parser().parse_args(argv)
    console = Console()
    try:
        _run_command(arguments, console)
    except RecGymError as error:
        # Escaped: messages hold brackets ("[episode]", "[B, K]") that rich would read as markup and drop.
        console.print(f"[red]error:[/red] {escape(str(error))}")
        return 2
    except KeyboardInterrupt:
        if arguments.command != "sweep":  # a sweep has already said what it kept and how to resume
            console.print(
                f"[yellow]interrupted:[/yellow] recgym {arguments.command} stopped by Ctrl-C; "
                "what was already written is kept."
            )
        return 128 + signal.SIGINT
    return 0


if __name__ == "__main__":
    sys.exit(main())
