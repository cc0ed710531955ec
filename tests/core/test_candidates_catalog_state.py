import dataclasses

import pytest
import torch

from recgym.core import random
from recgym.core.candidates import PopularityCandidates, UniformCandidates, duplicate_mask
from recgym.core.catalog import Catalog, recsim_topic_quality_means
from recgym.core.state import TensorState
from recgym.errors import ConfigError


def _keys(count: int) -> torch.Tensor:
    return random.keys_from_seeds(torch.arange(count))


def test_uniform_candidates_are_distinct_in_range_and_even() -> None:
    items = UniformCandidates(50).sample(_keys(4000), 10)
    assert items.shape == (4000, 10)
    assert not duplicate_mask(items).any()
    assert items.min() >= 0 and items.max() < 50
    frequency = torch.bincount(items.flatten(), minlength=50).float() / items.numel()
    assert torch.allclose(frequency, torch.full((50,), 0.02), atol=0.003)


def test_candidates_can_fill_the_whole_catalog() -> None:
    items = UniformCandidates(6).sample(_keys(100), 6)
    assert torch.equal(items.sort(dim=1).values, torch.arange(6).expand(100, 6))


def test_popularity_candidates_follow_popularity() -> None:
    popularity = torch.tensor([8.0, 4.0, 2.0, 1.0] + [0.1] * 96)
    items = PopularityCandidates(popularity).sample(_keys(5000), 3)
    assert not duplicate_mask(items).any()
    counts = torch.bincount(items.flatten(), minlength=100)
    assert counts[0] > counts[1] > counts[2] > counts[3] > counts[4:].float().mean()


def test_samplers_reject_impossible_requests() -> None:
    with pytest.raises(ConfigError, match="num_candidates"):
        UniformCandidates(5).sample(_keys(2), 6)
    with pytest.raises(ConfigError, match="positive popularity"):
        PopularityCandidates(torch.tensor([1.0, 0.0, 0.0])).sample(_keys(2), 2)
    with pytest.raises(ConfigError):
        PopularityCandidates(torch.tensor([-1.0, 2.0]))


def test_catalog_generation_is_seeded_and_recsim_like() -> None:
    first, second = Catalog.generate(2000, 20, seed=5), Catalog.generate(2000, 20, seed=5)
    assert torch.equal(first.quality, second.quality) and torch.equal(first.topic, second.topic)
    assert not torch.equal(first.topic, Catalog.generate(2000, 20, seed=6).topic)
    means = recsim_topic_quality_means(20)
    assert torch.allclose(means[:14], torch.linspace(-3, 0, 14)) and torch.allclose(means[14:], torch.linspace(0, 3, 6))
    by_topic = torch.stack([first.quality[first.topic == topic].mean() for topic in range(20)])
    assert torch.allclose(by_topic, means, atol=0.05)
    assert torch.equal(first.embedding.argmax(dim=1), first.topic)
    assert torch.isclose(first.popularity.sum(), torch.tensor(1.0))


def test_recsim_quality_table_works_for_any_topic_count() -> None:
    # RecSim's own table is short for T = 7 or 25; ours always has T entries.
    for topics in (1, 7, 25):
        assert recsim_topic_quality_means(topics).shape == (topics,)


def test_catalog_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="num_items"):
        Catalog.generate(num_items=0)
    with pytest.raises(ConfigError, match="duration"):
        Catalog.generate(num_items=10, duration=0.0)
    catalog = Catalog.generate(num_items=10, num_topics=3)
    with pytest.raises(ConfigError, match="quality"):
        dataclasses.replace(catalog, quality=torch.zeros(9))


@dataclasses.dataclass(frozen=True)
class _Inner(TensorState):
    values: torch.Tensor


@dataclasses.dataclass(frozen=True)
class _Outer(TensorState):
    inner: _Inner
    flags: torch.Tensor


def test_tensor_state_where_index_and_to() -> None:
    state = _Outer(_Inner(torch.arange(8.0).view(4, 2)), torch.zeros(4, dtype=torch.bool))
    other = _Outer(_Inner(-torch.ones(4, 2)), torch.ones(4, dtype=torch.bool))
    mixed = state.where(torch.tensor([True, False, True, False]), other)
    assert mixed.inner.values[:, 0].tolist() == [-1.0, 2.0, -1.0, 6.0]
    assert mixed.flags.tolist() == [True, False, True, False]
    rows = torch.tensor([3, 0])
    assert state.index(rows).inner.values[:, 0].tolist() == [6.0, 0.0]
    replaced = state.index_put(rows, other.index(rows))
    assert replaced.inner.values[:, 0].tolist() == [-1.0, 2.0, 4.0, -1.0]
    assert state.inner.values[0, 0] == 0.0  # frozen: the original is untouched
    assert state.to("cpu").batch_size == 4 and state.device.type == "cpu"
