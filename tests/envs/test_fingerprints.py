"""Every registered env replays its committed golden trajectory bit for bit (tests/envs/fingerprints.py)."""

from __future__ import annotations

import json

import pytest

import recgym
from tests.envs.fingerprints import GOLDEN, trajectory_fingerprint


def test_every_registered_env_has_a_golden_fingerprint() -> None:
    golden = json.loads(GOLDEN.read_text())
    assert sorted(golden) == recgym.registered_ids(), (
        "A new or removed env id: add its fingerprint with `python -m tests.envs.fingerprints --write`."
    )


@pytest.mark.parametrize("env_id", recgym.registered_ids())
def test_seeded_trajectory_is_bit_identical_to_the_golden_one(env_id: str) -> None:
    golden = json.loads(GOLDEN.read_text())
    assert trajectory_fingerprint(env_id) == golden[env_id], (
        f"{env_id}'s seeded trajectory changed. If the change is intended (a simulator's maths changed), say why "
        "in the commit and run `python -m tests.envs.fingerprints --write`."
    )
