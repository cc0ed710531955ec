"""Counter-based per-user random streams.

Each user carries a 32-bit key (held in an int64 tensor); every random number is a hash
of (key, position). A user's draws therefore depend only on its own key, never on how
many other users share the batch or on the device: a batch of N users replays exactly
as N single-user runs, on CPU and GPU alike. This replaces a shared ``torch.Generator``,
whose draws interleave across users and differ between devices.
"""

from __future__ import annotations

import torch

from recgym.errors import ConfigError

_MASK32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


def mix32(x: torch.Tensor) -> torch.Tensor:
    """Wellons' lowbias32 integer hash: a bijection on [0, 2**32) with strong avalanche.

    The int64 products may wrap; their low 32 bits are exact either way on two's-complement
    hardware (CPU and CUDA), and tests check them against Python integers. After the first op
    the tensor is ours, so the rest runs in place: at [4096, 20] that halves the hash's cost.
    """
    x = x ^ (x >> 16)
    x.mul_(0x7FEB352D).bitwise_and_(_MASK32)
    x.bitwise_xor_(x >> 15)
    x.mul_(0x846CA68B).bitwise_and_(_MASK32)
    return x.bitwise_xor_(x >> 16)


def _mix32_int(x: int) -> int:
    """The same hash on a Python int, for folding constants in without a tensor op."""
    x &= _MASK32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def keys_from_seeds(seeds: torch.Tensor) -> torch.Tensor:
    """Per-user keys [B] from integer seeds [B] (any int64 values)."""
    seeds = seeds.to(torch.int64)
    low = seeds & _MASK32
    high = (seeds >> 32) & _MASK32
    return mix32(mix32(low) ^ mix32(high ^ _GOLDEN))


def fold_in(keys: torch.Tensor, data: int) -> torch.Tensor:
    """A new independent key per user, derived from ``keys`` and a small integer tag."""
    return mix32(keys ^ _mix32_int(data * _GOLDEN + 1))


def random_bits(keys: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform 32-bit integers [B, *shape], one independent stream per user."""
    count = 1
    for size in shape:
        count *= size
    bits = mix32(keys.unsqueeze(-1) ^ _stream_offsets(count, keys.device))
    return bits.view(keys.shape[0], *shape)


_OFFSETS: dict[tuple[int, torch.device], torch.Tensor] = {}


def _stream_offsets(count: int, device: torch.device) -> torch.Tensor:
    """Counter offsets (i * golden ratio) mod 2**32 for i < count, cached per size and device."""
    offsets = _OFFSETS.get((count, device))
    if offsets is None:
        offsets = (torch.arange(count, device=device, dtype=torch.int64) * _GOLDEN) & _MASK32
        _OFFSETS[(count, device)] = offsets
    return offsets


def uniform(keys: torch.Tensor, shape: tuple[int, ...] = ()) -> torch.Tensor:
    """Uniform floats in [0, 1), float32 [B, *shape], with 24 bits of resolution."""
    bits = random_bits(keys, shape if shape else (1,))
    values = bits.bitwise_right_shift_(8).to(torch.float32).mul_(1.0 / (1 << 24))
    return values if shape else values.squeeze(-1)


def normal(keys: torch.Tensor, shape: tuple[int, ...] = ()) -> torch.Tensor:
    """Standard normal floats [B, *shape] by Box-Muller from one stream of paired uniforms."""
    pairs = uniform(keys, (2, *shape))
    return normal_from_uniforms(pairs[:, 0], pairs[:, 1])


def normal_from_uniforms(radius_u: torch.Tensor, angle_u: torch.Tensor) -> torch.Tensor:
    """Box-Muller: a standard normal from two independent uniforms in [0, 1).

    Simulators that need several draws per step take them all from one ``uniform(keys, (n,))``
    call (one hash pass) and turn pairs of columns into normals here: hashing, not
    arithmetic, dominates a step's cost at thousands of users.
    """
    return torch.sqrt(-2.0 * torch.log1p(-radius_u)) * torch.cos(2.0 * torch.pi * angle_u)


def randint(keys: torch.Tensor, high: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform integers in [0, high), int64 [B, *shape] (bias below 2**-32 * high)."""
    return random_bits(keys, shape).mul_(high).bitwise_right_shift_(32)


POPULATION_STRIDE = 1 << 32
"""User seeds per population: ``reset(seed=s)`` seeds user i with ``s + i``, so populations
that start ``POPULATION_STRIDE`` apart never share a user (up to 2**32 users each)."""
SEED_STREAMS = {"train": 0, "evaluate": 1, "ope": 2, "benchmark": 3}
"""Disjoint ranges of user seeds, so the users a policy is scored on are never those it trained on."""


def population_seed(seed: int, stream: str = "train") -> int:
    """The env seed of population ``seed`` in ``stream``: seeds 0, 1, ... draw disjoint sets of users.

    Gymnasium's convention (user i of ``reset(seed=s)`` gets ``s + i``) makes ``reset(seed=0)`` and
    ``reset(seed=1)`` share all but one user; every recgym entry point that takes a ``--seed`` goes
    through this instead.
    """
    if stream not in SEED_STREAMS:
        raise ConfigError(f"Unknown seed stream {stream!r}; use one of {sorted(SEED_STREAMS)}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 24:
        raise ConfigError(f"seed must be an integer in [0, {1 << 24}); got {seed!r}.")
    return (SEED_STREAMS[stream] << 56) + seed * POPULATION_STRIDE


class DeviceGenerators:
    """One ``torch.Generator`` per device, each seeded with ``seed`` when first used there.

    Policies draw tie-breaks and samples on whichever device their observations live on; a
    policy restored from ``state_dict`` continues every device's stream where it stopped.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._by_device: dict[torch.device, torch.Generator] = {}

    def on(self, device: torch.device) -> torch.Generator:
        """The generator for ``device``, created (seeded) on first use."""
        if device not in self._by_device:
            self._by_device[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._by_device[device]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Each used device's generator state, keyed by device name."""
        return {str(device): generator.get_state() for device, generator in self._by_device.items()}

    def load_state_dict(self, states: dict[str, torch.Tensor]) -> None:
        """Restore each device's stream; a CUDA stream is skipped where CUDA is absent (a policy trained on a
        GPU then draws from a freshly seeded stream on the CPU)."""
        for name, state in states.items():
            device = torch.device(name)
            if device.type == "cuda" and not torch.cuda.is_available():
                continue
            self._by_device[device] = torch.Generator(device=device)
            self._by_device[device].set_state(state)
