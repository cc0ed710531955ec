"""SlateSpace: MultiDiscrete([C] * K) whose samples and members have distinct positions."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from recgym.errors import ConfigError


class SlateSpace(spaces.MultiDiscrete):
    """Slates of ``slate_size`` distinct positions out of ``num_candidates``, shaped [..., K].

    A subclass of ``MultiDiscrete`` so that every library that handles MultiDiscrete (SB3,
    gymnasium wrappers) accepts it; ``sample`` draws without replacement and ``contains``
    rejects repeated positions, so a sampled action is always a valid slate.
    """

    def __init__(
        self,
        num_candidates: int,
        slate_size: int,
        batch_shape: tuple[int, ...] = (),
        seed: int | np.random.Generator | None = None,
    ) -> None:
        if not 0 < slate_size <= num_candidates:
            raise ConfigError(f"Need 0 < slate_size <= num_candidates; got {slate_size} > {num_candidates}.")
        self.num_candidates = num_candidates
        self.slate_size = slate_size
        self.batch_shape = batch_shape
        super().__init__(np.full((*batch_shape, slate_size), num_candidates, dtype=np.int64), seed=seed)

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        if mask is not None or probability is not None:
            raise NotImplementedError("SlateSpace.sample does not support masks or probabilities.")
        rows = int(np.prod(self.batch_shape)) if self.batch_shape else 1
        order = np.argsort(self.np_random.random((rows, self.num_candidates)), axis=1)[:, : self.slate_size]
        return order.reshape(self.shape).astype(self.dtype)

    def contains(self, x: Any) -> bool:
        if not super().contains(x):
            return False
        sorted_slate = np.sort(np.asarray(x), axis=-1)
        return not bool((sorted_slate[..., 1:] == sorted_slate[..., :-1]).any())

    def __repr__(self) -> str:
        batch = f", batch_shape={self.batch_shape}" if self.batch_shape else ""
        return f"SlateSpace(num_candidates={self.num_candidates}, slate_size={self.slate_size}{batch})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SlateSpace) and (other.num_candidates, other.slate_size, other.batch_shape) == (
            self.num_candidates,
            self.slate_size,
            self.batch_shape,
        )


@batch_space.register(SlateSpace)
def _batch_slate_space(space: SlateSpace, n: int = 1) -> SlateSpace:
    return SlateSpace(space.num_candidates, space.slate_size, (n, *space.batch_shape), seed=space.np_random)
