"""Titles and descriptions for catalog items, so a language model can read a slate.

Generated catalogs know only a topic, a quality and a length per item; templates turn those
into text ("Acclaimed deep dive: home cooking (12 min)"). The topic names double as the
vocabulary of persona interests, so a persona who "loves cooking" and an item about cooking
meet on the same word. Real catalogs pass their own titles with ``ItemTexts(titles, ...)``.
"""

from __future__ import annotations

import dataclasses

import torch

from recgym.core.catalog import Catalog
from recgym.errors import ConfigError

DEFAULT_TOPIC_NAMES = (
    "cooking", "travel", "science", "football", "music", "comedy", "gaming", "fashion", "history", "fitness",
    "movies", "technology", "pets", "cars", "art", "finance", "nature", "politics", "dance", "parenting",
)  # fmt: skip
"""Twenty everyday video topics; catalogs with more topics get numbered extras."""

_FORMATS = ("quick tips", "deep dive", "vlog", "tutorial", "highlights", "review", "story", "challenge")
_QUALITY_WORDS = ("Low-effort", "Amateur", "Decent", "Well-made", "Acclaimed")


def topic_names_for(num_topics: int, names: tuple[str, ...] | list[str] | None = None) -> list[str]:
    """``num_topics`` distinct topic names: the given ones, else the defaults (numbered beyond twenty)."""
    if names is not None:
        names = list(names)
        if len(names) != num_topics:
            raise ConfigError(f"Got {len(names)} topic names for a catalog with {num_topics} topics.")
        if len(set(names)) != len(names):
            raise ConfigError("Topic names must be distinct: personas and items are matched by them.")
        return names
    defaults = list(DEFAULT_TOPIC_NAMES)
    return [defaults[index] if index < len(defaults) else f"topic {index}" for index in range(num_topics)]


@dataclasses.dataclass(frozen=True)
class ItemTexts:
    """One title per catalog item, and the topic names they use."""

    titles: list[str]
    topic_names: list[str]

    @classmethod
    def generate(cls, catalog: Catalog, topic_names: list[str] | None = None, seed: int = 0) -> ItemTexts:
        """Template titles from each item's topic, quality (in five bands) and length; seeded format choice."""
        names = topic_names_for(catalog.num_topics, topic_names)
        generator = torch.Generator().manual_seed(seed)
        formats = torch.randint(len(_FORMATS), (catalog.num_items,), generator=generator).tolist()
        quality = catalog.quality.cpu()
        # Quality bands by rank, so every catalog uses all five words whatever its quality scale.
        ranks = quality.argsort().argsort().to(torch.float64) / max(1, catalog.num_items - 1)
        bands = (ranks * (len(_QUALITY_WORDS) - 1)).round().long().tolist()
        minutes = catalog.duration.cpu().round().long().clamp_min(1).tolist()
        topics = catalog.topic.cpu().tolist()
        titles = [
            f"{_QUALITY_WORDS[band]} {_FORMATS[form]}: {names[topic]} ({length} min)"
            for band, form, topic, length in zip(bands, formats, topics, minutes, strict=True)
        ]
        return cls(titles=titles, topic_names=names)

    def slate_text(self, items: list[int]) -> str:
        """The numbered list a persona reads: '1. <title>' per item, in slate order."""
        return "\n".join(f"{position}. {self.titles[item]}" for position, item in enumerate(items, start=1))
