"""Golden fingerprints of every registered env: a hash of a seeded 64-user, 200-step trajectory.

Committed before the redesign of issue 17 so that "env trajectories bit-identical" can be
checked, not asserted from memory. A trajectory is stepped with random valid slates from a
seeded CPU generator; the hash covers every observation tensor, the reward, the done flags and
every field of the step's ``Response``, in a fixed order and as raw bytes.

    python -m tests.envs.fingerprints            # print today's hashes against the committed ones
    python -m tests.envs.fingerprints --write    # commit new ones (only with the reason in the message)
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from pathlib import Path

import gymnasium as gym
import torch

import recgym
from tests.conftest import env_test_kwargs

GOLDEN = Path(__file__).with_name("fingerprints.json")
NUM_USERS = 64
NUM_STEPS = 200
SEED = 2026
NUM_ITEMS = 1_000


def _update(digest: hashlib._Hash, tensor: torch.Tensor) -> None:
    digest.update(str(tuple(tensor.shape)).encode() + str(tensor.dtype).encode())
    digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())


def trajectory_fingerprint(env_id: str) -> str:
    """SHA-256 of ``env_id``'s trajectory: 64 users, 200 steps, seeded users and random valid slates."""
    env = gym.make_vec(
        env_id,
        num_envs=NUM_USERS,
        vectorization_mode="vector_entry_point",
        device="cpu",
        **env_test_kwargs(env_id, num_items=NUM_ITEMS),
    ).unwrapped
    num_candidates = int(env.single_action_space.nvec[0])
    generator = torch.Generator().manual_seed(SEED)
    digest = hashlib.sha256()
    observation, _ = env.reset(seed=SEED)
    for _ in range(NUM_STEPS):
        for name in sorted(observation):
            _update(digest, observation[name])
        slate = torch.rand(NUM_USERS, num_candidates, generator=generator).argsort(dim=1)[:, : env.slate_size]
        observation, reward, terminated, truncated, info = env.step(slate)
        for tensor in (torch.as_tensor(reward), terminated, truncated):
            _update(digest, tensor)
        response = info["response"]
        for field in dataclasses.fields(response):
            value = getattr(response, field.name)
            if isinstance(value, torch.Tensor):
                _update(digest, value)
    return digest.hexdigest()


def all_fingerprints() -> dict[str, str]:
    return {env_id: trajectory_fingerprint(env_id) for env_id in recgym.registered_ids()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write today's hashes to {GOLDEN.name}")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    today = all_fingerprints()
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    for env_id, digest in today.items():
        print(f"{env_id}: {digest} ({'same' if golden.get(env_id) == digest else 'DIFFERS'})")
    if arguments.write:
        GOLDEN.write_text(json.dumps(today, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
