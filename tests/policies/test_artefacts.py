"""Policies as files: saved on their own, loaded in a fresh process without trainer, env or replay, same figures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import pandas as pd
import pytest
import torch

from policies.artefacts import env_interface, load_policy, read_policy_file, save_policy
from policies.bandits.linucb import LinUCB
from policies.baselines import MyopicGreedyPolicy, OracleGreedyPolicy
from recgym.cli import main
from recgym.core.random import population_seed
from recgym.core.rollout import evaluate_policy
from recgym.envs.builder import build_vector_env
from recgym.errors import PolicyFileError
from recgym.rl import make_trainer
from recgym.sweep.envs import make_scenario_env
from scenarios.loader import load_scenario
from tests.file_hashes import assert_unchanged, folder_hashes
from tests.sweep.helpers import TINY_SCENARIOS

LTS = "recgym/LongTermSatisfaction-v0"
LTS_KWARGS = {"horizon_days": 2, "num_items": 200}
TRAIN = [
    "train",
    "--algo",
    "ppo",
    "--env",
    LTS,
    "--num-users",
    "16",
    "--device",
    "cpu",
    "--total-steps",
    "256",
    "--set",
    "rollout_steps=8",
    "--env-kwarg",
    "horizon_days=2",
    "num_items=200",
]


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")


def run_in_fresh_process(code: str) -> str:
    """``code`` run by a new Python: nothing of this process (trainer, env, replay) is there."""
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return done.stdout


def tiny_env(num_users: int = 32, **kwargs: Any) -> Any:
    return build_vector_env(LTS, num_users, torch.device("cpu"), LTS_KWARGS | kwargs)


# -- PPO through the command line ------------------------------------------------------------------------------


def test_a_ppo_policy_from_recgym_train_reproduces_its_evaluation_in_a_fresh_process(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    assert main([*TRAIN, "--out", str(run)]) == 0
    saved = run / "policy-256-steps.pt"
    assert saved.is_file() and str(saved) in capsys.readouterr().out
    through_trainer = tmp_path / "through-trainer.json"
    assert main(["evaluate", str(run), "--num-users", "16", "--device", "cpu", "--out", str(through_trainer)]) == 0

    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(saved, alone / "ppo.pt")  # away from its checkpoint and config
    on_its_own = tmp_path / "on-its-own.json"
    evaluate = ["evaluate", str(alone / "ppo.pt"), "--num-users", "16", "--device", "cpu", "--out", str(on_its_own)]
    run_in_fresh_process(f"import sys; from recgym.cli import main; sys.exit(main({evaluate!r}))")

    assert json.loads(on_its_own.read_text()) == json.loads(through_trainer.read_text())
    assert set(json.loads(on_its_own.read_text())["policies"]) == {"ppo", "myopic greedy", "random"}


def test_resuming_to_the_same_step_keeps_the_policy_file_and_saves_a_new_one_for_new_steps(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    assert main([*TRAIN, "--out", str(run), "--set", "rollout_steps=8", "checkpoint_every=1"]) == 0
    before = (run / "policy-256-steps.pt").read_bytes()
    assert main([*TRAIN, "--out", str(run), "--resume"]) == 0
    assert "kept" in capsys.readouterr().out
    assert (run / "policy-256-steps.pt").read_bytes() == before
    assert main([*TRAIN[:-6], "384", *TRAIN[-5:], "--out", str(run), "--resume"]) == 0
    assert (run / "policy-384-steps.pt").is_file()


def test_evaluating_a_policy_file_on_an_env_of_other_shapes_names_the_difference(tmp_path, capsys) -> None:
    policy = make_trainer("ppo", env_id=LTS, env_kwargs=LTS_KWARGS, num_users=8, device="cpu").policy()
    trained_on = {"algorithm": "ppo", "env_id": LTS, "env_kwargs": LTS_KWARGS} | env_interface(tiny_env(8))
    path = policy.save(tmp_path / "ppo.pt", trained_on=trained_on)
    assert main(["evaluate", str(path), "--device", "cpu", "--env-kwarg", "num_candidates=20"]) == 2
    printed = capsys.readouterr().out
    assert "candidate_features: trained on (10, " in printed and "gives (20, " in printed


# -- a bandit after online learning ----------------------------------------------------------------------------


def test_linucb_saved_after_online_learning_acts_and_learns_identically_in_a_fresh_process(tmp_path) -> None:
    env = tiny_env()
    bandit = LinUCB(env.slate_size, alpha=0.5, seed=3)
    evaluate_policy(env, bandit, seed=population_seed(0))  # learns online from a whole episode
    path = bandit.save(tmp_path / "linucb.pt", trained_on=env_interface(env))

    def figures(policy: Any) -> list[float]:
        totals = evaluate_policy(tiny_env(), policy, seed=population_seed(0, "evaluate"))
        return [float(value) for value in totals.watch_time]

    code = f"""
import json, torch
from recgym import load_policy
from recgym.core.random import population_seed
from recgym.envs.builder import build_vector_env
from recgym.core.rollout import evaluate_policy
env = build_vector_env({LTS!r}, 32, torch.device("cpu"), {LTS_KWARGS!r})
totals = evaluate_policy(env, load_policy({str(path)!r}), seed=population_seed(0, "evaluate"))
print(json.dumps([float(value) for value in totals.watch_time]))
"""
    fresh = json.loads(run_in_fresh_process(code))
    assert fresh == figures(bandit)  # both keep learning on the way: the model and the tie-break streams match


# -- the other native policies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "fields"),
    [
        ("slateq", {"total_steps": 64, "learning_starts": 0, "batch_size": 16}),
        (
            "sim2rec",
            {
                "env_id": "recgym/Sim2RecFamily-v0",
                "env_kwargs": {"family": "train", "history_length": 12, "horizon_days": 2.0, "num_items": 200},
                "rollout_steps": 4,
                "total_steps": 32,
            },
        ),
        ("constrained", {"rollout_steps": 4, "stage_one_steps": 96, "total_steps": 160, "reference_users": 8}),
    ],
)
def test_trained_policies_round_trip_to_identical_slates(tmp_path, algorithm, fields) -> None:
    settings = {"env_id": LTS, "env_kwargs": LTS_KWARGS, "num_users": 8, "device": "cpu"} | fields
    trainer = make_trainer(algorithm, **settings)
    trainer.train(progress=False)
    policy = trainer.policy()
    loaded = load_policy(save_policy(policy, tmp_path / f"{algorithm}.pt"))
    observation = trainer.env.observe(trainer.env.state)
    assert torch.equal(loaded.act(observation, explore=False), policy.act(observation, explore=False))
    assert torch.equal(loaded.act(observation, explore=True), policy.act(observation, explore=True))


def test_a_bandit_with_catalog_features_keeps_them() -> None:
    features = torch.randn(50, 4)
    bandit = LinUCB(2, item_features=features, seed=1)
    assert torch.equal(bandit.constructor_arguments["item_features"], features)


# -- files that are not a policy, and arguments that cannot be saved ------------------------------------------


def test_saving_never_overwrites_a_file(tmp_path) -> None:
    path = tmp_path / "policy.pt"
    path.write_text("someone else's")
    with pytest.raises(PolicyFileError, match="never overwrites"):
        MyopicGreedyPolicy(2).save(path)
    assert path.read_text() == "someone else's"


def test_arguments_that_cannot_be_saved_are_named(tmp_path) -> None:
    with pytest.raises(PolicyFileError, match=r"policy\.env = RecVectorEnv cannot be saved"):
        OracleGreedyPolicy(tiny_env(4)).save(tmp_path / "oracle.pt")
    with pytest.raises(PolicyFileError, match=r"policy\.context = function cannot be saved.*by name"):
        LinUCB(2, context=lambda observation: observation["candidate_features"]).save(tmp_path / "linucb.pt")
    assert not list(tmp_path.iterdir())


def _foreign_payload(class_path: str) -> dict[str, Any]:
    return {"format": "recgym-policy", "version": 1, "policy": {"__object__": class_path, "arguments": {}, "state": {}}}


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ("missing", "No policy file"),
        ("truncated", "not a readable recgym policy file"),
        ("checkpoint", "not a readable recgym policy file.*trainer checkpoint"),
        ("plain torch", "not a recgym policy"),
        ("future version", "format version 99"),
        ("foreign class", "names class os:system, outside recgym's packages"),
        ("unknown class", "names class policies.baselines:Vanished, which this recgym does not have"),
        ("not saveable", "names policies.artefacts:SavedPolicy, which is not a saveable recgym class"),
    ],
)
def test_files_that_are_not_policies_are_refused_by_name(tmp_path, contents, message) -> None:
    path = tmp_path / "policy.pt"
    good = MyopicGreedyPolicy(2).save(tmp_path / "good.pt").read_bytes()
    if contents == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif contents == "checkpoint":
        path = make_trainer("ppo", env_kwargs=LTS_KWARGS, num_users=4, device="cpu").save(tmp_path / "checkpoint.pt")
    elif contents == "plain torch":
        torch.save({"weights": torch.zeros(2)}, path)
    elif contents == "future version":
        torch.save(_foreign_payload("policies.baselines:RandomPolicy") | {"version": 99}, path)
    elif contents != "missing":
        class_path = {
            "foreign class": "os:system",
            "unknown class": "policies.baselines:Vanished",
            "not saveable": "policies.artefacts:SavedPolicy",
        }[contents]
        torch.save(_foreign_payload(class_path), path)
    before = folder_hashes(tmp_path)
    with pytest.raises(PolicyFileError, match=message):
        read_policy_file(path)
    assert_unchanged(before, tmp_path)


# -- sweeps load them by name ---------------------------------------------------------------------------------


def test_a_sweep_runs_a_saved_policy_file_by_name(tmp_path, capsys) -> None:
    scenario = TINY_SCENARIOS[0]
    env = make_scenario_env(load_scenario(scenario), num_users=4)
    path = MyopicGreedyPolicy(env.slate_size, seed=0).save(tmp_path / "greedy.pt", trained_on=env_interface(env))
    out = tmp_path / "sweep"
    arguments = ["sweep", scenario, "--policies", "saved", "myopic_greedy", "--grid", f"saved.path={path}"]
    assert main([*arguments, "--seeds", "1", "--workers", "1", "--out", str(out)]) == 0, capsys.readouterr().out
    runs = pd.read_parquet(out / "runs").set_index("policy")
    assert runs.loc["saved", "engagement"] == runs.loc["myopic_greedy", "engagement"]
