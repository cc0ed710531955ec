"""ScoreToSlate / ScoreToSlateVector: scores of the wrong shape, or NaN, are typed errors naming the fix."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from recgym.errors import InvalidSlateError
from recgym.wrappers import ScoreToSlate, ScoreToSlateVector
from tests.conftest import ENV_ID, make_vector_env


def test_single_env_scores_of_the_wrong_shape_or_nan_are_named() -> None:
    env = ScoreToSlate(gym.make(ENV_ID, num_items=300))
    env.reset(seed=0)
    with pytest.raises(InvalidSlateError, match=r"shape \(10,\); got shape \(5,\)"):
        env.step(np.zeros(5, dtype=np.float32))
    scores = np.zeros(10, dtype=np.float32)
    scores[[2, 7]] = np.nan
    with pytest.raises(InvalidSlateError, match=r"NaN for candidate position\(s\) \[2, 7\].*nan_to_num"):
        env.step(scores)
    with pytest.raises(InvalidSlateError, match="numeric scores"):
        env.step(["high"] * 10)


def test_vector_env_scores_of_the_wrong_shape_or_nan_are_named() -> None:
    env = ScoreToSlateVector(make_vector_env(num_envs=4))
    env.reset(seed=0)
    with pytest.raises(InvalidSlateError, match=r"shape \(4, 10\); got shape \(4, 5\)"):
        env.step(torch.zeros(4, 5))
    with pytest.raises(InvalidSlateError, match=r"shape \(4, 10\); got shape \(10,\)"):
        env.step(np.zeros(10))
    scores = torch.rand(4, 10, generator=torch.Generator().manual_seed(0))
    scores[1, 3] = float("nan")
    scores[3] = float("nan")
    with pytest.raises(InvalidSlateError, match=r"NaN for user\(s\) 1, 3"):
        env.step(scores)
    with pytest.raises(InvalidSlateError, match=r"NaN for user\(s\) 1, 3"):
        env.actions(scores)
    episode_step = env.unwrapped.state.episode_step.clone()
    env.step(torch.nan_to_num(scores, nan=-1e9))  # the fix the message gives works
    assert torch.equal(env.unwrapped.state.episode_step, episode_step + 1)


def test_integer_scores_still_rank() -> None:
    env = ScoreToSlateVector(make_vector_env(num_envs=2))
    env.reset(seed=0)
    assert env.actions(torch.arange(10).expand(2, 10)).tolist() == [[9, 8], [9, 8]]


class _HostReads:
    """Counts reads of tensor values on the host (bool(), item(), tolist(), cpu(), numpy()): each is a sync on a GPU."""

    NAMES = ("__bool__", "item", "tolist", "cpu", "numpy")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for name in self.NAMES:
            original = getattr(torch.Tensor, name)

            def counted(tensor, *args, _original=original, **kwargs):
                self.count += 1
                return _original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)


def test_the_nan_check_adds_no_host_read_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = make_vector_env(num_envs=8)
    wrapped = ScoreToSlateVector(make_vector_env(num_envs=8))
    plain.reset(seed=0)
    wrapped.reset(seed=0)
    scores = torch.rand(8, 10, generator=torch.Generator().manual_seed(1))
    slate = wrapped.actions(scores)
    reads = _HostReads(monkeypatch)
    plain.step(slate)
    plain_reads, reads.count = reads.count, 0
    wrapped.step(scores)
    assert reads.count == plain_reads


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_nan_check_adds_no_cuda_sync_per_step() -> None:
    import warnings

    plain = make_vector_env(num_envs=64, device="cuda")
    wrapped = ScoreToSlateVector(make_vector_env(num_envs=64, device="cuda"))
    plain.reset(seed=0)
    wrapped.reset(seed=0)
    scores = torch.rand(64, 10, device="cuda", generator=torch.Generator("cuda").manual_seed(1))
    slate = wrapped.actions(scores)

    def syncs(step) -> int:
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                step()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(warning.message) for warning in caught)

    assert syncs(lambda: wrapped.step(scores)) == syncs(lambda: plain.step(slate))
