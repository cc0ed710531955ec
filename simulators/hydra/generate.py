"""Generation and log IO: ``generate_log`` draws a synthetic (user, item, timestamp) log from a ``HydraModel``
by successive sampling without repeats, and ``write_parquet``, ``read_log`` and ``open_bandit_log``
write and read logs (Parquet, CSV, RecBole .inter, Open Bandit campaign files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recgym.errors import ConfigError
from simulators.hydra.model import HydraModel

_DRAW_ROUNDS = 6
"""Rounds of draw-with-replacement-and-deduplicate before the leftover users are sampled exactly."""
_CHUNK_ELEMENTS = 1 << 22
"""Largest [users, items] block built at once by exact (Gumbel top-k) sampling."""
_LOG_SECONDS = 30 * 24 * 3600
"""Span of generated timestamps: 30 days, in seconds."""


def generate_log(model: HydraModel, seed: int = 0) -> pd.DataFrame:
    """A synthetic log: user, item (int64), timestamp (seconds), one row per unique pair.

    ``community`` holds the user's true community (ground truth for tests; ``fit`` ignores it).

    Each user draws a community and an activity (capped at the catalog size) and adopts that many
    distinct items by successive sampling without replacement from P(item | community). Draws are
    made with replacement in a few rounds, keeping the first distinct items in draw order (exactly
    successive sampling); users still short after the rounds are sampled exactly by Gumbel top-k.
    """
    rng = np.random.default_rng(seed)
    num_users, num_items = model.num_users, model.num_items
    user_community = rng.choice(model.num_communities, size=num_users, p=model.community_weights)
    activity = np.clip(np.rint(model.activity.sample(rng, num_users)), 1, num_items).astype(np.int64)
    community_probabilities = np.exp(model.adoption_log_probabilities(np.arange(model.num_communities)))

    # Heavy users would need many rounds of mostly repeated draws: sample them exactly at once.
    exact = activity * 4 > num_items
    codes = np.zeros(0, dtype=np.int64)
    shortfall = np.where(exact, 0, activity)
    for round_index in range(_DRAW_ROUNDS):
        short = np.flatnonzero(shortfall > 0)
        if short.size == 0:
            break
        draws = np.ceil(shortfall[short] * (1.3 if round_index == 0 else 2.0)).astype(np.int64) + 2
        new_users, new_items = [], []
        for community in range(model.num_communities):
            members = short[user_community[short] == community]
            if members.size == 0:
                continue
            counts = draws[user_community[short] == community]
            new_users.append(np.repeat(members, counts))
            new_items.append(rng.choice(num_items, size=int(counts.sum()), p=community_probabilities[community]))
        codes = np.concatenate([codes, np.concatenate(new_users) * num_items + np.concatenate(new_items)])
        codes = _first_distinct_per_user(codes, activity, num_items)
        shortfall = activity - np.bincount(codes // num_items, minlength=num_users)
        shortfall[exact] = 0
    leftover = np.flatnonzero(exact | (shortfall > 0))
    codes = codes[~np.isin(codes // num_items, leftover)]
    exact_codes = _gumbel_top_k(model, leftover, user_community[leftover], activity[leftover], rng)
    codes = np.concatenate([codes, exact_codes])

    users, items = codes // num_items, codes % num_items
    timestamp = rng.integers(0, _LOG_SECONDS, size=codes.shape[0])
    log = pd.DataFrame({"user": users, "item": items, "timestamp": timestamp, "community": user_community[users]})
    return log.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)


def _first_distinct_per_user(codes: np.ndarray, activity: np.ndarray, num_items: int) -> np.ndarray:
    """Pair codes (user * N + item) deduplicated in draw order, at most ``activity[user]`` per user."""
    _, first = np.unique(codes, return_index=True)
    codes = codes[np.sort(first)]
    users = codes // num_items
    order = np.argsort(users, kind="stable")
    sorted_users = users[order]
    group_start = np.searchsorted(sorted_users, sorted_users, side="left")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0]) - group_start
    return codes[rank < activity[users]]


def _gumbel_top_k(
    model: HydraModel, users: np.ndarray, community: np.ndarray, activity: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Exact sampling without replacement (Gumbel top-k) for ``users``, in blocks of rows."""
    num_items = model.num_items
    block = max(1, _CHUNK_ELEMENTS // num_items)
    codes = []
    for start in range(0, users.shape[0], block):
        rows = slice(start, start + block)
        keys = model.adoption_log_probabilities(community[rows]) + rng.gumbel(size=(len(users[rows]), num_items))
        ranked = np.argsort(-keys, axis=1, kind="stable")
        keep = np.arange(num_items)[None, :] < activity[rows, None]
        codes.append((users[rows, None] * num_items + ranked)[keep])
    return np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)


def write_parquet(log: pd.DataFrame, path: str | Path) -> None:
    """Write a log as Parquet (``log.to_parquet`` via pyarrow, without the index)."""
    log.to_parquet(path, index=False)


def read_log(path: str | Path) -> pd.DataFrame:
    """A log from Parquet, CSV or tab-separated text (.tsv, RecBole .inter).

    RecBole-style headers ("user_id:token") lose their ":type" suffix, and user_id / item_id
    become user / item when those columns are absent.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Log file {str(path)!r} does not exist; give a CSV or Parquet file with user,item columns.")
    if path.suffix == ".parquet":
        log = pd.read_parquet(path)
    else:
        log = pd.read_csv(path, sep="\t" if path.suffix in (".tsv", ".inter") else ",")
    log = log.rename(columns=lambda name: str(name).split(":")[0])
    for column in ("user", "item"):
        if column not in log.columns and f"{column}_id" in log.columns:
            log = log.rename(columns={f"{column}_id": column})
    return log


def open_bandit_log(csv_path: str | Path) -> pd.DataFrame:
    """A (user, item, timestamp) log from an Open Bandit Dataset campaign file.

    The dataset has no user id; a user is a distinct combination of the hashed features
    user_feature_0..3, and every impression is an interaction (clicks are too rare to fit to).
    """
    raw = pd.read_csv(csv_path, index_col=0)
    features = [f"user_feature_{index}" for index in range(4)]
    missing = sorted({*features, "item_id", "timestamp"} - set(raw.columns))
    if missing:
        raise ConfigError(f"{csv_path} lacks Open Bandit columns {missing}; pass a {{campaign}}.csv file.")
    return pd.DataFrame(
        {
            "user": raw.groupby(features, sort=True).ngroup().to_numpy(),
            "item": raw["item_id"].to_numpy(),
            "timestamp": pd.to_datetime(raw["timestamp"]).astype("int64").to_numpy() // 10**9,
        }
    )
