"""Frozen dataclasses of batched tensors: the one container for user and env state.

A subclass is a ``@dataclass(frozen=True)`` whose fields are tensors shaped ``[B, ...]``
(or nested ``TensorState``). Autoreset, device moves and sub-batch updates are then one
generic operation each instead of per-simulator code.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self

import torch


@dataclasses.dataclass(frozen=True)
class TensorState:
    """Base class: a frozen dataclass whose fields all share the leading batch dimension."""

    def _map(self, fn: Any, *others: TensorState) -> Self:
        updates = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            other_values = [getattr(other, field.name) for other in others]
            if isinstance(value, TensorState):
                updates[field.name] = value._map(fn, *other_values)
            elif isinstance(value, torch.Tensor):
                updates[field.name] = fn(value, *other_values)
            # other fields (ints, strings) are static and shared by every row
        return dataclasses.replace(self, **updates)

    def _first_tensor(self) -> torch.Tensor:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, TensorState):
                return value._first_tensor()
            if isinstance(value, torch.Tensor):
                return value
        raise ValueError(f"{type(self).__name__} has no tensor fields")

    @property
    def batch_size(self) -> int:
        """Number of rows (users, or items for a catalog)."""
        return int(self._first_tensor().shape[0])

    @property
    def device(self) -> torch.device:
        """Device of the first tensor field."""
        return self._first_tensor().device

    def where(self, mask: torch.Tensor, other: Self) -> Self:
        """Rows of ``other`` where ``mask [B]`` is true, rows of ``self`` elsewhere."""

        def select(mine: torch.Tensor, theirs: torch.Tensor) -> torch.Tensor:
            row_mask = mask.view(-1, *([1] * (mine.dim() - 1)))
            return torch.where(row_mask, theirs, mine)

        return self._map(select, other)

    def to(self, device: torch.device | str) -> Self:
        """The same state on ``device``."""
        return self._map(lambda tensor: tensor.to(device))

    def index(self, rows: torch.Tensor) -> Self:
        """The sub-batch of ``rows`` (a LongTensor of row indices)."""
        return self._map(lambda tensor: tensor.index_select(0, rows))

    def index_put(self, rows: torch.Tensor, other: Self) -> Self:
        """A copy with ``rows`` replaced by the rows of ``other`` (len(rows) rows)."""
        return self._map(lambda mine, theirs: mine.index_copy(0, rows, theirs), other)

    def replace(self, **changes: Any) -> Self:
        """A copy with the named fields replaced."""
        return dataclasses.replace(self, **changes)
