"""One run of a sweep: one scenario, one policy (with its parameters), one seed, start to finish.

``execute_run`` is a pure function of its ``RunSpec``: it builds the scenario's users,
lets the policy learn (online phase or RL training), scores it greedily on fresh users
for one episode each, optionally estimates its value off-policy, and returns a
``RunResult``. It reads and writes no files, so any executor (a process pool, a Ray
cluster) can run it, and the same spec gives the same result anywhere on CPU.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from recgym.eval.metrics import DEFAULT_METRICS, episode_metrics
from recgym.eval.ope import ESTIMATORS
from recgym.eval.regret import learning_curve
from recgym.sweep.envs import make_scenario_env, scenario_env_kwargs
from recgym.sweep.policies import build_policy, policy_entry
from scenarios.schema import Scenario

TRAIN_SEED_OFFSET = 0
EVAL_SEED_OFFSET = 1_000_000
OPE_SEED_OFFSET = 2_000_000
SEED_STRIDE = 10_000
"""User seeds of seed s start at offset + s * SEED_STRIDE, so seeds never share users."""


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything one run needs; picklable, so it travels to worker processes and Ray tasks."""

    scenario: Scenario
    policy: str
    seed: int
    policy_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Constructor (static/online) or config (RL) overrides from a parameter grid, e.g. {alpha = 0.5}."""
    device: str = "cpu"
    checkpoint_dir: str | None = None
    """Where an RL run keeps its trainer checkpoint (set by the sweep), so a killed sweep resumes training midway."""

    @property
    def run_id(self) -> str:
        """Stable id: scenario, policy, seed and a short hash of the grid point."""
        point = ""
        if self.policy_params:
            digest = hashlib.sha1(json.dumps(self.policy_params, sort_keys=True, default=str).encode()).hexdigest()
            point = f"-{digest[:8]}"
        return f"{self.scenario.name}--{self.policy}{point}--seed{self.seed}"

    @property
    def policy_label(self) -> str:
        """The policy as reports name it: 'linucb' or 'linucb (alpha=0.5)' for a grid point."""
        if not self.policy_params:
            return self.policy
        return (
            f"{self.policy} (" + ", ".join(f"{key}={value}" for key, value in sorted(self.policy_params.items())) + ")"
        )


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What one run measured."""

    run_id: str
    metrics: dict[str, float]
    """Each requested metric (recgym.eval.metrics) of the greedy evaluation episode."""
    curve: dict[str, list[float]]
    """Learning curve: 'user_steps' and 'reward' (mean reward per user-step) per point; 'regret' where known."""
    off_policy: dict[str, float]
    """'truth' and one value per estimator (ESTIMATORS); {} unless the scenario asks."""
    seconds: float
    resumed_from: int = 0
    """User-steps of RL training restored from a checkpoint of an interrupted attempt (0: trained from scratch)."""


def seed_for(offset: int, seed: int) -> int:
    return offset + seed * SEED_STRIDE


def execute_run(spec: RunSpec) -> RunResult:
    """Learn, score and (optionally) estimate off-policy; see the module docstring."""
    started = time.perf_counter()
    torch.set_num_threads(1)  # one run per core: threads would only contend, and results stay bit-stable
    scenario = spec.scenario
    metrics = scenario.metrics or list(DEFAULT_METRICS)
    env = make_scenario_env(scenario, device=spec.device)
    entry = policy_entry(spec.policy)
    resumed_from = 0
    if entry.kind == "rl":
        policy, curve, resumed_from = train_rl_policy(spec)
    else:
        learns = entry.kind == "online"
        # Online learners learn on the training simulator (a transfer scenario's source family) and are
        # scored on the scenario's own; a static policy's curve is only diagnostic, so it runs on the scored env.
        phase_env = env
        if learns and _transfers(scenario):
            phase_env = make_scenario_env(scenario, training=True, device=spec.device)
        policy = build_policy(spec.policy, phase_env, scenario, spec.seed, spec.policy_params)
        curve = online_phase(phase_env, policy, scenario, spec.seed, learn=learns, with_regret="regret" in metrics)
    with torch.no_grad():
        values = episode_metrics(
            env, policy, seed=seed_for(EVAL_SEED_OFFSET, spec.seed), metrics=metrics, learn_online=False
        )
        off_policy = (
            estimate_off_policy(env, policy, scenario, spec.seed, entry.reads_hidden_state)
            if scenario.off_policy
            else {}
        )
    return RunResult(spec.run_id, values, curve, off_policy, time.perf_counter() - started, resumed_from)


def _transfers(scenario: Scenario) -> bool:
    """Whether the scenario trains on other simulator parameters than it scores on."""
    return bool(scenario.training.simulator_params)


def online_phase(
    env: Any, policy: Any, scenario: Scenario, seed: int, learn: bool, with_regret: bool
) -> dict[str, list[float]]:
    """Run (and, for online learners, teach) ``policy`` for ``training.online_steps`` steps; its learning curve."""
    steps = scenario.training.online_steps
    if steps == 0:
        return {"user_steps": [], "reward": []}
    curve = learning_curve(
        env, policy, steps, seed=seed_for(TRAIN_SEED_OFFSET, seed), explore=True, learn=learn, oracle=with_regret
    )
    user_steps = [float((step + 1) * env.num_envs) for step in range(steps)]
    result = {"user_steps": user_steps, "reward": curve.reward.tolist()}
    if with_regret:
        result["regret"] = curve.regret.tolist()
    return result


RL_CHECKPOINT_EVERY = 5
"""Training iterations between an RL run's checkpoints inside a sweep."""


def rl_config_fields(spec: RunSpec) -> dict[str, Any]:
    """The trainer config of an RL run: the scenario's training env and budget, the seed, then the grid point."""
    scenario = spec.scenario
    return {
        "env_id": scenario.simulator.env,
        "env_kwargs": scenario_env_kwargs(scenario, training=True),
        "num_users": scenario.training.rl_users,
        "total_steps": scenario.training.rl_steps,
        "seed": seed_for(TRAIN_SEED_OFFSET, spec.seed),
        "device": spec.device,
        "checkpoint_every": RL_CHECKPOINT_EVERY if spec.checkpoint_dir is not None else 0,
        "out_dir": Path(spec.checkpoint_dir) if spec.checkpoint_dir else None,
    } | spec.policy_params


def train_rl_policy(spec: RunSpec) -> tuple[Any, dict[str, list[float]], int]:
    """Train ``spec.policy`` on the scenario's training env: the greedy policy, its training curve, and the
    user-steps restored from ``spec.checkpoint_dir`` (a checkpointed run resumes bit for bit)."""
    from policies.rl.trainer import CHECKPOINT_NAME
    from recgym.rl import load_trainer, make_trainer

    checkpoint_dir = Path(spec.checkpoint_dir) if spec.checkpoint_dir else None
    if checkpoint_dir is not None and (checkpoint_dir / CHECKPOINT_NAME).is_file():
        trainer = load_trainer(checkpoint_dir, device=spec.device)
    else:
        trainer = make_trainer(spec.policy, **rl_config_fields(spec))
    resumed_from = trainer.steps
    history = trainer.train(progress=False)
    points = [row for row in history if "episode_return" in row and row.get("episode_length", 0) > 0]
    curve = {
        "user_steps": [row["steps"] for row in points],
        "reward": [row["episode_return"] / row["episode_length"] for row in points],
    }
    return trainer.policy(), curve, resumed_from


def estimate_off_policy(
    env: Any, policy: Any, scenario: Scenario, seed: int, reads_hidden_state: bool
) -> dict[str, float]:
    """The policy's per-step value from a log of the scenario's logging policy, beside its true value.

    Policies that read hidden state (the oracle) have no propensities from observations alone,
    and an estimator the log cannot support (SNIPS with no logged slate the target would show)
    yields NaN: the report shows 'n/a' rather than the sweep failing.
    """
    from policies.stochastic import Deterministic, EpsilonMixture
    from recgym.errors import RecGymError
    from recgym.eval.ope import collect_log, evaluate_off_policy, on_policy_value

    settings = scenario.off_policy
    assert settings is not None
    missing = dict.fromkeys(("truth", *ESTIMATORS), math.nan)
    if reads_hidden_state:
        return missing
    ope_seed = seed_for(OPE_SEED_OFFSET, seed)
    logger = build_policy(settings.logging_policy, env, scenario, seed, {})
    behaviour = EpsilonMixture(logger, settings.epsilon, seed=seed)
    position_reward = "watch_time" if scenario.reward == "watch_time" else "clicked"
    log = collect_log(
        env, behaviour, settings.steps, seed=ope_seed, position_reward=position_reward, record_oracle=False
    )
    target = Deterministic(policy)
    truth = on_policy_value(env, target, settings.steps, seed=ope_seed)
    try:
        table = evaluate_off_policy(log, target, truth=truth)
    except RecGymError:
        return missing | {"truth": truth.mean}
    estimates = {str(row["estimator"]): float(row["estimate"]) for row in table.to_dict("records")}
    return {"truth": truth.mean} | {name: estimates.get(name, math.nan) for name in ESTIMATORS}
