"""A policy of one's own: one decorator in one module, and sweeps, grids, the report and the CLI know it."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from policies.base import ScoringPolicy
from recgym.cli import main
from recgym.core.registry import register_policy
from tests.sweep.helpers import TINY_SCENARIOS

NAME = "test_first_candidates"


@register_policy(NAME, kind="static", description="the first K candidates in order (a test's own policy)")
class FirstCandidates(ScoringPolicy):
    """Shows candidates 0..K-1, or the last K with ``reverse``: easy to tell from random."""

    def __init__(self, slate_size: int, seed: int = 0, reverse: bool = False) -> None:
        super().__init__(slate_size, seed)
        self.reverse = reverse

    def scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        count = observation["candidate_features"].shape[1]
        order = torch.arange(count, 0, -1, dtype=torch.float32, device=observation["candidate_features"].device)
        scores = order.flip(0) if self.reverse else order
        return scores.expand(observation["candidate_features"].shape[0], count)


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_decorated_policy_runs_by_name_through_a_sweep_grid_and_report(tmp_path, capsys, workers) -> None:
    out = tmp_path / "sweep"
    arguments = [
        "--plugin",
        __name__,  # how worker processes (spawned) learn of it too
        "sweep",
        TINY_SCENARIOS[0],
        "--policies",
        "random",
        NAME,
        "--grid",
        f"{NAME}.reverse=false,true",
        "--seeds",
        "1",
        "--workers",
        workers,
        "--out",
        str(out),
        "--report",
    ]
    assert main(arguments) == 0, capsys.readouterr().out
    runs = pd.read_parquet(out / "runs")
    assert sorted(runs["policy"]) == sorted(["random", NAME, NAME])
    assert NAME in (out / "report.html").read_text() and NAME in (out / "report.md").read_text()


def test_the_cli_lists_it_and_refuses_its_misspelt_name_and_parameters(tmp_path, capsys) -> None:
    assert main(["policies"]) == 0
    printed = capsys.readouterr().out
    assert NAME in printed and "reverse=False" in printed
    out = str(tmp_path / "sweep")
    assert main(["sweep", TINY_SCENARIOS[0], "--policies", "test_first_candidate", "--out", out]) == 2
    assert f"Did you mean {NAME!r}?" in capsys.readouterr().out
    assert main(["sweep", TINY_SCENARIOS[0], "--policies", NAME, "--grid", f"{NAME}.revers=true", "--out", out]) == 2
    assert "did you mean 'reverse'?" in capsys.readouterr().out


def test_a_second_class_cannot_take_a_registered_name() -> None:
    from recgym.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"{NAME!r} is taken by .*FirstCandidates"):

        @register_policy(NAME, kind="static", description="another")
        class Impostor(ScoringPolicy):
            pass
