"""Does RL beat myopia? Long-term engagement and retention of trained policies, over seeds.

For each experiment, each seed trains every algorithm from scratch (seeded users, weights
and sampling) and evaluates it greedily on fresh users, one whole episode each (sessions
until the simulator's horizon). Baselines act on the same users:

- myopic greedy: recgym's ``MyopicGreedyPolicy`` (the history-profile ranker, what a
  production system without long-term modelling does);
- myopic oracle: top-K of the true expected immediate reward (the best any one-step policy can do);
- random;
- diet per kind (Sim2Rec families): each user's hidden kind served its own fixed diet, which
  reads the hidden parameters: about what identifying every user perfectly is worth.

The table gives, per policy, the mean over seeds of per-user long-term engagement (watch
time over the episode) and return visits, and the paired difference to each myopic
baseline with a 95% t-interval over seeds. Experiments:

- ``lts`` / ``mbr``: PPO and SlateQ on long-term satisfaction and multi-behaviour retention;
- ``constrained`` / ``conflict``: the two-stage constrained policy and PPO on multi-behaviour
  retention (default users, and users whose watch time conflicts with their likes), with the
  auxiliary signals beside the constrained policy's bounds (bound_fraction x its specialists');
- ``hierarchical``: the hierarchical policy (learned goal planner over a goal-conditioned
  PPO) and PPO on the fatigue-and-novelty simulator;
- ``sim2rec``: Sim2Rec, the same actor-critic without its history encoder ("ppo (current
  step)", Sim2Rec's unconditioned baseline) and PPO reading its pooled history summary, all
  trained on the ``train`` long-term-satisfaction family and scored on the disjoint ``heldout``
  family (users who differ in how long they watch kale); plus Sim2Rec without its
  identification loss (the encoder learns from the RL losses alone);
- ``sim2rec_sensitivity`` / ``sim2rec_novelty``: two earlier families where Sim2Rec (then
  reading PPO's history summary too) did not beat PPO, kept to reproduce that record.

Finished runs are stored in ``--results`` (JSON) as they complete, so an interrupted
benchmark resumes where it stopped.

    python benchmarks/rl_long_term.py [--experiments lts mbr constrained sim2rec] [--seeds 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import torch

from policies.base import ScoringPolicy
from policies.baselines import MyopicGreedyPolicy, OracleGreedyPolicy, RandomPolicy
from recgym.core.files import atomic_write_text
from recgym.core.random import population_seed
from recgym.core.rollout import evaluate_policy
from recgym.envs.builder import build_vector_env
from recgym.envs.vector_env import RecVectorEnv
from recgym.rl import make_trainer
from simulators.family import KALE_WATCHER_THRESHOLD
from simulators.multi_behavior import WATCH_LIKE_CONFLICT

LTS = "recgym/LongTermSatisfaction-v0"
MBR = "recgym/MultiBehaviorRetention-v0"
FAMILY = "recgym/Sim2RecFamily-v0"
TRAIN_USERS = 512
PPO_BUDGET = {"num_users": TRAIN_USERS, "total_steps": TRAIN_USERS * 32 * 30}
ALGORITHM_SETTINGS: dict[str, dict[str, Any]] = {
    "ppo": PPO_BUDGET,
    "slateq": {"num_users": TRAIN_USERS, "total_steps": 500_000},
    "constrained": {"num_users": TRAIN_USERS, "total_steps": 300_000, "stage_one_steps": 120_000},
    "sim2rec": PPO_BUDGET,
    "hierarchical": PPO_BUDGET,
    "ppo (current step)": {"algorithm": "ppo", **PPO_BUDGET, "history_summary": False},
    "sim2rec (no identification)": {"algorithm": "sim2rec", **PPO_BUDGET, "identification_coef": 0.0},
}
"""Per policy name: the registered algorithm (``algorithm``, default the name) and its training settings."""
CONFLICT = {"num_items": 500, **WATCH_LIKE_CONFLICT}
FAMILY_TRAIN = {"family": "train", "history_length": 20, "horizon_days": 3.0}
FAMILY_HELDOUT = {"family": "heldout", "history_length": 20, "horizon_days": 3.0}
SENSITIVITY_FAMILIES = {
    # The first long-term-satisfaction families: satisfaction-insensitive vs sensitive users, with
    # the simulator's default clickbait appeal and noise.
    "train": {
        "sensitivity": {"choice": [0.0, 0.5]},
        "memory_discount": {"uniform": [0.5, 0.65]},
        "click_clickbait_weight": {"uniform": [1.0, 2.5]},
        "return_gap_sensitivity": {"uniform": [1.5, 3.0]},
    },
    "heldout": {
        "sensitivity": {"choice": [0.05, 0.8]},
        "memory_discount": {"uniform": [0.35, 0.5]},
        "click_clickbait_weight": {"uniform": [2.5, 3.5]},
        "return_gap_sensitivity": {"uniform": [0.5, 1.5]},
    },
}
EARLIER_SIM2REC = {"sim2rec": {"history_summary": True}}
"""How Sim2Rec ran in the earlier family experiments: its actor-critic also read PPO's history summary."""
NOVELTY_USERS = {"base": "fatigue_novelty", "history_length": 20, "horizon_days": 3.0}
"""Fatigue-and-novelty users with the family's fixed settings (``simulators.family.FAMILY_USERS``)."""
NOVELTY_TRAIN = {**NOVELTY_USERS, "family": "train"}
NOVELTY_HELDOUT = {**NOVELTY_USERS, "family": "heldout"}
EXPERIMENTS: dict[str, dict[str, Any]] = {
    "lts": {"env_id": LTS, "train_kwargs": {}, "eval_kwargs": {}, "algorithms": ["ppo", "slateq"]},
    "mbr": {"env_id": MBR, "train_kwargs": {}, "eval_kwargs": {}, "algorithms": ["ppo", "slateq"]},
    "constrained": {
        "env_id": MBR,
        "train_kwargs": {},
        "eval_kwargs": {},
        "algorithms": ["constrained", "ppo"],
        "extra_measures": ("liked", "shared", "followed"),
    },
    "conflict": {
        "env_id": MBR,
        "train_kwargs": CONFLICT,
        "eval_kwargs": CONFLICT,
        "algorithms": ["constrained", "ppo"],
        "extra_measures": ("liked", "shared", "followed"),
    },
    "hierarchical": {
        "env_id": "recgym/FatigueNovelty-v0",
        "train_kwargs": {},
        "eval_kwargs": {},
        "algorithms": ["hierarchical", "ppo"],
        "compare_to": ("ppo",),
    },
    "sim2rec": {
        "env_id": FAMILY,
        "train_kwargs": FAMILY_TRAIN,
        "eval_kwargs": FAMILY_HELDOUT,
        "algorithms": ["sim2rec", "ppo (current step)", "ppo", "sim2rec (no identification)"],
        "compare_to": ("ppo (current step)", "ppo"),
        "extra_baselines": ("diet per kind",),
    },
    "sim2rec_sensitivity": {
        "env_id": FAMILY,
        "train_kwargs": FAMILY_TRAIN | {"family": SENSITIVITY_FAMILIES["train"]},
        "eval_kwargs": FAMILY_HELDOUT | {"family": SENSITIVITY_FAMILIES["heldout"]},
        "algorithms": ["sim2rec", "ppo"],
        "settings": EARLIER_SIM2REC,
    },
    "sim2rec_novelty": {
        "env_id": FAMILY,
        "train_kwargs": NOVELTY_TRAIN,
        "eval_kwargs": NOVELTY_HELDOUT,
        "algorithms": ["sim2rec", "ppo"],
        "settings": EARLIER_SIM2REC,
    },
}
MEASURES = ("watch_time", "return_visits", "liked", "shared", "followed")
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def per_user_means(env: RecVectorEnv, policy: Any, seed: int) -> dict[str, float]:
    totals = evaluate_policy(env, policy, seed=seed, learn_online=False)
    return {measure: float(getattr(totals, measure).mean()) for measure in MEASURES}


BASELINES = ("myopic greedy", "myopic oracle", "random")


class DietPerKind(ScoringPolicy):
    """The family's yardstick: each user's hidden kind served its own fixed diet (reads the hidden kale_mean).

    Clickbait first for clickbait watchers, kale first for kale watchers; no deployable
    policy can read the kind, so this is about what identifying users perfectly is worth.
    """

    def __init__(self, env: RecVectorEnv, seed: int = 0) -> None:
        super().__init__(env.slate_size, seed)
        self.env = env
        self.column = env.simulator.distribution.names.index("kale_mean")

    def scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        kale_watcher = self.env.state.user.params[:, self.column] > KALE_WATCHER_THRESHOLD
        clickbait = observation["candidate_features"][..., -1]
        return torch.where(kale_watcher.unsqueeze(1), -clickbait, clickbait)


def run_one(experiment: dict[str, Any], name: str, seed: int, eval_users: int, device: str) -> dict[str, Any]:
    """Train (unless a baseline) and evaluate one policy for one seed; per-user means and seconds."""
    started = time.perf_counter()
    env = build_vector_env(experiment["env_id"], eval_users, torch.device(device), experiment["eval_kwargs"])
    eval_seed = population_seed(seed, "evaluate")  # never the training users, nor another seed's
    bounds: dict[str, float] = {}
    if name == "myopic greedy":
        policy: Any = MyopicGreedyPolicy(env.slate_size, seed=seed)
    elif name == "myopic oracle":
        policy = OracleGreedyPolicy(env, seed=seed)
    elif name == "random":
        policy = RandomPolicy(env.slate_size, seed=seed)
    elif name == "diet per kind":
        policy = DietPerKind(env, seed=seed)
    else:
        settings = ALGORITHM_SETTINGS[name] | experiment.get("settings", {}).get(name, {})
        trainer = make_trainer(
            settings.pop("algorithm", name),
            env_id=experiment["env_id"],
            env_kwargs=experiment["train_kwargs"],
            device=device,
            seed=seed,
            **settings,
        )
        trainer.train(progress=False)
        policy = trainer.policy()
        bounds = trainer.bounds() if hasattr(trainer, "bounds") else {}
    with torch.no_grad():
        means = per_user_means(env, policy, eval_seed)
    result = {"means": means, "seconds": time.perf_counter() - started}
    return result | ({"bounds": bounds} if bounds else {})


def already_run(results: dict[str, Any], experiment: dict[str, Any], name: str, seed: int) -> dict[str, Any] | None:
    """The same policy, seed and env settings measured in another experiment (e.g. PPO on MBR), if any."""
    settings = ("env_id", "train_kwargs", "eval_kwargs", "settings")
    for other_name, other in EXPERIMENTS.items():
        same = all(other.get(key) == experiment.get(key) for key in settings)
        found = results.get(other_name, {}).get(name, {}).get(str(seed))
        if same and found is not None:
            return found
    return None


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and 95% t half-width over seeds."""
    count = len(values)
    mean = sum(values) / count
    if count < 2:
        return mean, float("nan")
    std = math.sqrt(sum((value - mean) ** 2 for value in values) / (count - 1))
    return mean, T_975.get(count - 1, 1.96) * std / math.sqrt(count)


def bounds_met(runs: dict[str, Any], by_seed: dict[str, Any], done: list[str], measure: str) -> str:
    """' (bound B, met k/n)': the constrained policy's per-seed bound on ``measure`` and how often it holds."""
    bounded = [seed for seed in done if measure in runs.get("constrained", {}).get(seed, {}).get("bounds", {})]
    if not bounded:
        return ""
    bounds = [runs["constrained"][seed]["bounds"][measure] for seed in bounded]
    met = sum(by_seed[seed]["means"][measure] >= bound for seed, bound in zip(bounded, bounds, strict=True))
    return f" (bound {sum(bounds) / len(bounds):.1f}, met {met}/{len(bounded)})"


def paired_difference(runs: dict[str, Any], policy_name: str, reference: str, done: list[str]) -> str:
    """'policy - reference' watch time per seed, mean ± 95% t half-width ('*' if it excludes zero)."""
    paired = [seed for seed in done if seed in runs.get(reference, {})]
    if policy_name == reference or not paired:
        return ""
    differences = [
        runs[policy_name][seed]["means"]["watch_time"] - runs[reference][seed]["means"]["watch_time"] for seed in paired
    ]
    mean, half = mean_ci(differences)
    excludes_zero = not math.isnan(half) and abs(mean) > half
    return f"{mean:+,.0f} ± {half:,.0f}{' *' if excludes_zero else ''}"


def report(results: dict[str, Any], experiment_names: list[str], seeds: int) -> str:
    """A Markdown table per experiment: policy means and paired differences to the baselines."""
    lines = []
    for experiment_name in experiment_names:
        runs = results.get(experiment_name, {})
        experiment = EXPERIMENTS[experiment_name]
        extra = experiment.get("extra_measures", ())
        references = [*experiment.get("compare_to", ()), "myopic greedy", "myopic oracle"]
        lines += [
            f"### {experiment_name}: {experiment['env_id']} {experiment['eval_kwargs']}",
            "",
            "| policy | engagement | return visits | "
            + "".join(f"{measure} | " for measure in extra)
            + "".join(f"vs {reference} | " for reference in references)
            + "seeds |",
            "|---|---:|---:|" + "---:|" * (len(extra) + len(references)) + "---:|",
        ]
        for policy_name, by_seed in runs.items():
            done = [str(seed) for seed in range(seeds) if str(seed) in by_seed]
            engagement = mean_ci([by_seed[seed]["means"]["watch_time"] for seed in done])
            visits = mean_ci([by_seed[seed]["means"]["return_visits"] for seed in done])
            cells = [f"{engagement[0]:,.0f} ± {engagement[1]:,.0f}", f"{visits[0]:.1f} ± {visits[1]:.1f}"]
            for measure in extra:
                value = mean_ci([by_seed[seed]["means"][measure] for seed in done])
                cells.append(f"{value[0]:.1f} ± {value[1]:.1f}{bounds_met(runs, by_seed, done, measure)}")
            cells.extend(paired_difference(runs, policy_name, reference, done) for reference in references)
            lines.append(f"| {policy_name} | " + " | ".join(cells) + f" | {len(done)} |")
        lines.append("")
    lines.append("Engagement: watch time per user over one episode; ± is the 95% t-interval over seeds;")
    lines.append("'vs X' is this policy minus X, paired by seed; * marks an interval that excludes zero.")
    lines.append("Bounds (constrained experiments): the constrained policy's per-episode floor on each signal,")
    lines.append("bound_fraction x its specialist's.")
    return "\n".join(lines)


SEEDING = "population_seed"
"""How users are seeded (training: ``population_seed(seed, "train")`` in the trainer; evaluation:
``population_seed(seed, "evaluate")``). Stored in the results file, so runs seeded another way are never
mixed with these: files from before 2026-12-04 (gymnasium's ``s + i`` for training) carry no marker."""


def load_results(path: Path) -> dict[str, Any]:
    """The finished runs stored at ``path`` (empty if none); refuses a file whose runs were seeded otherwise."""
    if not path.is_file():
        return {"seeding": SEEDING}
    results = json.loads(path.read_text())
    if results.get("seeding") != SEEDING:
        raise SystemExit(
            f"{path} holds runs seeded as {results.get('seeding', 'before population seeds (2026-12-04)')!r}, not "
            f"{SEEDING!r}; new runs would be mixed with them. Pass --results NEW.json to start a new file (the old "
            "one is kept)."
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--eval-users", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--algorithms", nargs="+", help="train only these (baselines always run); default: all")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/rl_long_term.json"))
    arguments = parser.parse_args()
    print(
        f"device {arguments.device} ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {arguments.seeds} seeds; {arguments.eval_users} evaluation users; "
        f"training settings {ALGORITHM_SETTINGS}"
    )
    results = load_results(arguments.results)
    for seed in range(arguments.seeds):
        for experiment_name in arguments.experiments:
            experiment = EXPERIMENTS[experiment_name]
            trained = [name for name in experiment["algorithms"] if name in (arguments.algorithms or [name])]
            for name in [*trained, *BASELINES, *experiment.get("extra_baselines", ())]:
                by_seed = results.setdefault(experiment_name, {}).setdefault(name, {})
                if str(seed) in by_seed:
                    continue
                by_seed[str(seed)] = already_run(results, experiment, name, seed) or run_one(
                    experiment, name, seed, arguments.eval_users, arguments.device
                )
                atomic_write_text(arguments.results, json.dumps(results, indent=1))
                means = by_seed[str(seed)]["means"]
                print(
                    f"seed {seed} {experiment_name} {name}: engagement {means['watch_time']:,.0f}, "
                    f"return visits {means['return_visits']:.1f} ({by_seed[str(seed)]['seconds']:.0f} s)",
                    flush=True,
                )
    print(report(results, arguments.experiments, arguments.seeds))


if __name__ == "__main__":
    main()
