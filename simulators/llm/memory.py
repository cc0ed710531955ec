"""What a persona remembers: a window of recent feeds and its own reactions, plus a running summary.

Memory is tensors, like every other user state: the last ``M`` steps as the watched item (or
-1 for a feed the user skipped) and the rating given (0 for none), and a count of watched
items per topic. Only when a prompt is built do these become words, e.g.

    Earlier in this session: you watched "Decent vlog: travel (4 min)" and rated it 4/5; you
    skipped a whole feed. So far you have mostly watched travel and cooking.

The summary is how memory outlives the window without the prompt growing with the session.
"""

from __future__ import annotations

import torch

SKIPPED = -1
"""Memory item of a step whose feed the user skipped."""
EMPTY = -2
"""Memory item of a slot not yet filled (the session is younger than the window)."""


def empty_memory(num_users: int, window: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Items [B, M] all EMPTY and ratings [B, M] all 0."""
    items = torch.full((num_users, window), EMPTY, dtype=torch.int64, device=device)
    return items, torch.zeros(num_users, window, dtype=torch.int64, device=device)


def remember(
    items: torch.Tensor, ratings: torch.Tensor, watched: torch.Tensor, rating: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Push this step (watched item [B] or SKIPPED, rating [B]) into the window, dropping the oldest."""
    if items.shape[1] == 0:
        return items, ratings
    return (
        torch.cat([items[:, 1:], watched.unsqueeze(1)], dim=1),
        torch.cat([ratings[:, 1:], rating.unsqueeze(1)], dim=1),
    )


def describe_memory(
    items: list[int], ratings: list[int], titles: list[str], topic_counts: list[float], topic_names: list[str]
) -> str:
    """One user's memory in words (oldest first); empty for a user who has seen nothing yet."""
    events = []
    for item, rating in zip(items, ratings, strict=True):
        if item == EMPTY:
            continue
        if item == SKIPPED:
            events.append("you skipped a whole feed")
        elif rating > 0:
            events.append(f'you watched "{titles[item]}" and rated it {rating}/5')
        else:
            events.append(f'you watched "{titles[item]}"')
    sentences = []
    if events:
        sentences.append("Earlier in this session: " + "; ".join(events) + ".")
    watched_topics = sorted((count, name) for count, name in zip(topic_counts, topic_names, strict=True) if count > 0)
    watched_in_window = sum(item >= 0 for item in items)
    if watched_topics and sum(count for count, _ in watched_topics) > watched_in_window:
        top = [name for _, name in reversed(watched_topics[-2:])]
        sentences.append(f"So far you have mostly watched {' and '.join(top)}.")
    return " ".join(sentences)
