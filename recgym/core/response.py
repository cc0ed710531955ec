"""What users did with the slates they were shown, for a whole batch."""

from __future__ import annotations

import dataclasses

import torch

from recgym.core.state import TensorState


@dataclasses.dataclass(frozen=True)
class Response(TensorState):
    """Per-position [B, K] and per-user [B] reactions to one step's slates.

    Simulators that do not model a behaviour leave it all-false (or zero), so rewards,
    metrics and policies read one schema whatever the simulator.
    """

    clicked: torch.Tensor
    """Whether each slate item was clicked, bool [B, K]."""
    watch_time: torch.Tensor
    """Minutes spent on each slate item, float [B, K]."""
    liked: torch.Tensor
    """bool [B, K]."""
    shared: torch.Tensor
    """bool [B, K]."""
    followed: torch.Tensor
    """Followed the item's creator, bool [B, K]."""
    skipped: torch.Tensor
    """Explicitly skipped (seen and rejected), bool [B, K]."""
    left: torch.Tensor
    """The session ended after this step, bool [B]."""
    return_gap: torch.Tensor
    """Time until the user's next session, float [B]; 0 where no session ended."""
    choice: torch.Tensor
    """Slate position that was clicked, int64 [B], or -1 for no click (the first click if several)."""
    returned: torch.Tensor
    """The session ended and the user will come back within the episode, bool [B]."""

    @classmethod
    def from_choice(
        cls,
        choice: torch.Tensor,
        slate_size: int,
        watch_time: torch.Tensor,
        left: torch.Tensor,
        return_gap: torch.Tensor | None = None,
        returned: torch.Tensor | None = None,
    ) -> Response:
        """A single-choice response: the clicked position gets ``watch_time [B]``, the rest nothing.

        ``return_gap [B]`` defaults to zero and ``returned [B]`` to false (simulators without sessions).
        """
        positions = torch.arange(slate_size, device=choice.device)
        clicked = positions.unsqueeze(0) == choice.unsqueeze(1)
        no_behaviour = torch.zeros_like(clicked)
        return cls(
            clicked=clicked,
            watch_time=clicked * watch_time.unsqueeze(1),
            liked=no_behaviour,
            shared=no_behaviour,
            followed=no_behaviour,
            skipped=no_behaviour,
            left=left,
            return_gap=torch.zeros_like(watch_time) if return_gap is None else return_gap,
            choice=choice,
            returned=torch.zeros_like(left) if returned is None else returned,
        )
