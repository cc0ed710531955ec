import torch

from recgym.core import random


def test_hash_matches_python_integers_bit_for_bit() -> None:
    # The tensor hash relies on int64 products wrapping; compare with exact arithmetic.
    values = torch.randint(0, 2**32, (20_000,), dtype=torch.int64, generator=torch.Generator().manual_seed(0))
    expected = [random._mix32_int(value) for value in values.tolist()]
    assert random.mix32(values).tolist() == expected


def test_uniform_is_uniform_and_in_range() -> None:
    keys = random.keys_from_seeds(torch.arange(1000))
    values = random.uniform(keys, (100,))
    assert values.min() >= 0.0 and values.max() < 1.0
    assert abs(values.mean().item() - 0.5) < 0.005
    histogram = torch.histc(values, bins=10, min=0.0, max=1.0) / values.numel()
    assert torch.allclose(histogram, torch.full((10,), 0.1), atol=0.005)


def test_each_users_stream_is_independent_of_the_batch() -> None:
    keys = random.keys_from_seeds(torch.arange(50))
    together = random.uniform(keys, (7,))
    alone = torch.cat([random.uniform(keys[i : i + 1], (7,)) for i in range(50)])
    assert torch.equal(together, alone)


def test_fold_in_gives_uncorrelated_streams() -> None:
    keys = random.keys_from_seeds(torch.arange(20_000))
    first = random.uniform(random.fold_in(keys, 1))
    second = random.uniform(random.fold_in(keys, 2))
    correlation = torch.corrcoef(torch.stack([first, second]))[0, 1]
    assert abs(correlation.item()) < 0.03


def test_normal_has_unit_moments() -> None:
    values = random.normal(random.keys_from_seeds(torch.arange(2000)), (50,))
    assert abs(values.mean().item()) < 0.02
    assert abs(values.std().item() - 1.0) < 0.02


def test_randint_covers_range_evenly() -> None:
    draws = random.randint(random.keys_from_seeds(torch.arange(1000)), 7, (70,))
    counts = torch.bincount(draws.flatten(), minlength=7).float() / draws.numel()
    assert draws.min() == 0 and draws.max() == 6
    assert torch.allclose(counts, torch.full((7,), 1 / 7), atol=0.01)
