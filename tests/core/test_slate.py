import numpy as np
import pytest
import torch

from recgym.core.candidates import duplicate_mask
from recgym.core.slate import as_slate_tensor, repair_duplicates, top_k_slate, validate_slate
from recgym.errors import InvalidSlateError


def test_valid_slate_passes() -> None:
    slate = torch.tensor([[0, 3], [2, 1]])
    assert validate_slate(slate, 2, 4, 2) is slate


def test_duplicates_name_the_offending_users() -> None:
    slate = torch.tensor([[0, 1], [2, 2], [3, 0], [1, 1]])
    with pytest.raises(InvalidSlateError, match=r"duplicates for user\(s\) 1, 3"):
        validate_slate(slate, 4, 5, 2)


def test_out_of_range_names_users() -> None:
    with pytest.raises(InvalidSlateError, match=r"out of range for user\(s\) 0, 2"):
        validate_slate(torch.tensor([[5, 0], [1, 2], [-1, 0]]), 3, 5, 2)


def test_wrong_shape_is_rejected() -> None:
    with pytest.raises(InvalidSlateError, match=r"shape \(2, 2\)"):
        validate_slate(torch.tensor([[0, 1, 2], [0, 1, 2]]), 2, 5, 2)


def test_float_dtype_is_rejected_with_fix() -> None:
    with pytest.raises(InvalidSlateError, match="ScoreToSlate"):
        as_slate_tensor(np.array([[0.0, 1.0]]), torch.device("cpu"))


def test_repair_keeps_first_occurrences_and_fills_lowest_unused() -> None:
    slate = torch.tensor([[2, 2, 2], [0, 1, 2], [3, 0, 3]])
    repaired = repair_duplicates(slate, 4)
    assert repaired.tolist() == [[2, 0, 1], [0, 1, 2], [3, 0, 1]]
    assert not duplicate_mask(repaired).any()


@pytest.mark.parametrize("width", [5, 40])
def test_duplicate_mask_marks_later_occurrences(width: int) -> None:
    rows = torch.randint(0, width, (200, width), generator=torch.Generator().manual_seed(1))
    mask = duplicate_mask(rows)
    for row, row_mask in zip(rows.tolist(), mask.tolist(), strict=True):
        seen: set[int] = set()
        for value, flagged in zip(row, row_mask, strict=True):
            assert flagged == (value in seen)
            seen.add(value)


def test_top_k_slate_orders_best_first() -> None:
    assert top_k_slate(torch.tensor([[0.1, 0.9, 0.5]]), 2).tolist() == [[1, 2]]
