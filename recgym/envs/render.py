"""Text views of users (``render_mode="ansi"``): recent history, the last slate and the response to it.

Rendering is for reading a few users while debugging, so it copies only the rendered rows to the
CPU, once per call, and never runs on the step path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from recgym.envs.vector_env import EnvState, LastStep, RecVectorEnv

_BEHAVIOURS = ("liked", "shared", "followed", "skipped")
"""Per-position behaviours shown as extra columns when the user did any of them."""


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  " + "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        for line in [header, *rows]
    ]


def _history(items: list[int], topics: list[int], watched: list[float], steps_taken: int) -> str:
    if steps_taken == 0:
        return "empty (new episode)"
    shown = min(steps_taken, len(items))
    entries = [
        f"item {item} (topic {topic}, {minutes:.2f} min)" if item >= 0 else "no click"
        for item, topic, minutes in zip(items[-shown:], topics[-shown:], watched[-shown:], strict=True)
    ]
    older = "... " if steps_taken > len(items) else ""
    return older + ", ".join(entries)


def render_users(
    env: RecVectorEnv, state: EnvState, last_step: LastStep | None, rows: list[int], title: str | None = None
) -> list[str]:
    """One text block per user in ``rows``, each headed by ``title`` (default: the env id)."""
    if not rows:
        return []
    index = torch.tensor(rows, dtype=torch.int64, device=env.device)
    catalog = env.simulator.catalog

    def take(tensor: torch.Tensor) -> list:
        return tensor.index_select(0, index).cpu().tolist()

    history_items = take(state.history_items)
    history_topics = take(catalog.lookup("topic", state.history_items.clamp_min(0)))
    history_watch = take(state.history_watch_time)
    episode_steps = take(state.episode_step)
    candidates = take(state.candidates)
    if last_step is not None:
        response = last_step.response
        slate, items = take(last_step.slate), take(last_step.items)
        topics = take(catalog.lookup("topic", last_step.items))
        clicked, watch_time = take(response.clicked), take(response.watch_time)
        behaviours = {name: take(getattr(response, name)) for name in _BEHAVIOURS}
        left, returned, return_gap = take(response.left), take(response.returned), take(response.return_gap)
        reward, terminated, truncated = take(last_step.reward), take(last_step.terminated), take(last_step.truncated)

    name = title or (env.spec.id if env.spec is not None else type(env.simulator).__name__)
    views = []
    for row, user in enumerate(rows):
        lines = [f"{name} · user {user} · episode step {episode_steps[row]}"]
        if last_step is None:
            lines.append("last slate: none yet (no step since reset)")
        else:
            lines.append(f"last slate · reward {reward[row]:.2f}")
            extra = [behaviour for behaviour in _BEHAVIOURS if any(behaviours[behaviour][row])]
            header = ["position", "candidate", "item", "topic", "clicked", "watch_time", *extra]
            table = [
                [
                    str(position),
                    str(slate[row][position]),
                    str(items[row][position]),
                    str(topics[row][position]),
                    "yes" if clicked[row][position] else "no",
                    f"{watch_time[row][position]:.2f}",
                    *("yes" if behaviours[behaviour][row][position] else "no" for behaviour in extra),
                ]
                for position in range(len(slate[row]))
            ]
            lines += _table(header, table)
            if left[row]:
                lines.append(
                    f"  the session ended; the user returns after {return_gap[row]:.2f}"
                    if returned[row]
                    else "  the session ended and the user left"
                )
            if terminated[row] or truncated[row]:
                how = "terminated" if terminated[row] else "truncated"
                lines.append(f"  the episode ended ({how}); below is the new episode")
        history = _history(history_items[row], history_topics[row], history_watch[row], episode_steps[row])
        lines.append(f"history, oldest first: {history}")
        lines.append(f"candidates now (item ids): {', '.join(str(item) for item in candidates[row])}")
        views.append("\n".join(lines))
    return views
