"""Per-user parameter distributions: right ranges, right moments, reproducible, clear errors."""

import math

import pytest
import torch

from recgym.core import random
from recgym.core.param_distribution import Choice, LogUniform, Normal, ParamDistribution, Uniform, parse_distribution
from recgym.errors import ConfigError
from simulators.long_term_satisfaction import LongTermSatisfactionParams

KEYS = random.keys_from_seeds(torch.arange(40000))


def test_each_distribution_has_its_range_and_moments() -> None:
    uniform = Uniform(0.2, 0.6).sample(KEYS)
    assert uniform.min() >= 0.2 and uniform.max() < 0.6 and uniform.mean().item() == pytest.approx(0.4, abs=0.005)
    log_uniform = LogUniform(0.01, 1.0).sample(KEYS)
    assert torch.log10(log_uniform).mean().item() == pytest.approx(-1.0, abs=0.02)
    normal = Normal(1.0, 0.5, low=0.5, high=2.0).sample(KEYS)
    assert normal.min() == 0.5 and normal.max() <= 2.0
    assert (normal == 0.5).float().mean().item() == pytest.approx(0.1587, abs=0.01)  # P(N < mean - 1 std)
    choice = Choice((1.0, 3.0, 7.0)).sample(KEYS)
    assert set(choice.unique().tolist()) == {1.0, 3.0, 7.0}
    assert (choice == 3.0).float().mean().item() == pytest.approx(1 / 3, abs=0.01)


def test_spec_parsing_and_per_field_streams() -> None:
    spec = {"sensitivity": {"uniform": [0.1, 0.5]}, "memory_discount": 0.6, "choc_mean": {"choice": [4, 6]}}
    family = ParamDistribution(spec)
    draws = family.sample(KEYS[:1000])
    assert draws.shape == (1000, 3) and family.names == ("choc_mean", "memory_discount", "sensitivity")
    assert torch.all(draws[:, 1] == 0.6)
    assert torch.equal(draws, family.sample(KEYS[:1000]))
    # Adding a field leaves the other fields' draws unchanged.
    wider = ParamDistribution({**spec, "kale_mean": {"uniform": [3, 4]}}).sample(KEYS[:1000])
    assert torch.equal(wider[:, [0, 2, 3]], draws)
    params = family.apply(LongTermSatisfactionParams(), draws)
    assert isinstance(params.sensitivity, torch.Tensor) and params.kale_mean == 4.0
    family.check_against(LongTermSatisfactionParams())
    assert family.to_spec()["sensitivity"] == {"low": 0.1, "high": 0.5}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"sensitivity": {"gamma": [1, 2]}}, "unknown or malformed"),
        ({"sensitivity": {"uniform": [0.5, 0.1]}}, "low <= high"),
        ({"sensitivity": {"uniform": [0.1, 0.5], "normal": [0, 1]}}, "exactly one"),
        ({"sensitivity": {"uniform": ["a", "b"]}}, "non-numeric"),
        ({"sensitivity": "wide"}, "cannot read"),
        ({"log_scale": {"uniform": [0.1, 0.5]}}, "does not have"),
        ({"sensitivity": {"normal": [0.3, 0.2]}}, "can draw invalid"),
        ({"memory_discount": {"uniform": [0.5, 1.0]}}, "memory_discount"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ParamDistribution(spec).check_against(LongTermSatisfactionParams())


def test_empty_and_fixed_specs() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        ParamDistribution({})
    assert parse_distribution("x", 2).bounds() == (2.0, 2.0)
    assert Normal(1.0, 0.0).bounds() == (1.0, 1.0)
    assert math.isinf(Normal(1.0, 1.0).bounds()[1])


def test_declared_bounds_name_the_field_and_the_range_for_floats_and_per_user_tensors() -> None:
    import dataclasses

    from recgym.core.simulator import POSITIVE, UNIT_OPEN_LOW, ParamLike, SimParams, bounded

    @dataclasses.dataclass(frozen=True)
    class Params(SimParams):
        rate: ParamLike = bounded(0.5, UNIT_OPEN_LOW)
        scale: ParamLike = bounded(1.0, POSITIVE)
        free: ParamLike = -3.0

    Params().check()
    Params(rate=torch.tensor([0.2, 1.0])).check()
    with pytest.raises(ConfigError, match=r"Params.rate must lie in \(0, 1\]; got 0.0"):
        Params(rate=0.0).check()
    with pytest.raises(ConfigError, match=r"Params.scale must be positive; got tensor\(\[ 1., -1.\]\)"):
        Params(scale=torch.tensor([1.0, -1.0])).check()
