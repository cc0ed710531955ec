"""Error messages survive terminals that read [lowercase words] as markup (rich, as the CLI prints errors)."""

import gymnasium as gym
import pytest
import torch
from rich.text import Text

from recgym.core.slate import validate_slate
from recgym.errors import RecGymError
from tests.conftest import ENV_ID


def _message(action) -> str:
    with pytest.raises(RecGymError) as error:
        action()
    return str(error.value)


@pytest.mark.parametrize(
    "action",
    [
        lambda: validate_slate(torch.zeros(64, 3, dtype=torch.int64), 64, 10, 2),
        lambda: validate_slate(torch.tensor([[1, 1]]), 1, 10, 2),
        lambda: gym.make(ENV_ID, num_topcs=3),
        lambda: gym.make(ENV_ID, num_topics="ten"),
        lambda: gym.make(ENV_ID, num_items=300, render_mode="human"),
    ],
)
def test_messages_print_unchanged_through_rich_markup(action) -> None:
    message = _message(action)
    assert Text.from_markup(message).plain == message
    assert "  " not in message and " ;" not in message


def test_the_slate_shape_message_reads_whole() -> None:
    message = _message(lambda: validate_slate(torch.zeros(64, 3, dtype=torch.int64), 64, 10, 2))
    assert "shape (64, 2), one row of 2 positions per user; got (64, 3)." in message
