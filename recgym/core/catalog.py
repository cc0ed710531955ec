"""The item catalog: every item's tensors, generated from a seed or built from data."""

from __future__ import annotations

import dataclasses
import math

import torch

from recgym.core.state import TensorState
from recgym.errors import ConfigError


def recsim_topic_quality_means(num_topics: int) -> torch.Tensor:
    """RecSim's quality means for any topic count (RecSim's own table breaks unless T % 10 == 0).

    The first ``round(0.7 T)`` topics get means evenly spaced in [-3, 0], the rest in [0, 3].
    For T = 20 this is exactly RecSim's table.
    """
    num_trashy = round(0.7 * num_topics)
    trashy = torch.linspace(-3.0, 0.0, num_trashy)
    nutritious = torch.linspace(0.0, 3.0, num_topics - num_trashy)
    return torch.cat([trashy, nutritious])


@dataclasses.dataclass(frozen=True)
class Catalog(TensorState):
    """All items as tensors over the item axis N (its "batch" dimension).

    ``popularity`` is a probability vector used by popularity-biased candidate sampling;
    it is a property of the catalog (think of it as historical views), not of a user.
    """

    embedding: torch.Tensor
    """Item features [N, D]; for generated catalogs, the one-hot topic."""
    topic: torch.Tensor
    """Topic (cluster) index [N], int64 in [0, num_topics)."""
    quality: torch.Tensor
    """Hidden item quality [N]; good items give users back time budget."""
    duration: torch.Tensor
    """Item length in minutes [N]; the most a user can watch."""
    popularity: torch.Tensor
    """Prior popularity [N], non-negative, summing to 1."""
    num_topics: int = 0
    """Number of topics; a static field shared by all items."""

    def __post_init__(self) -> None:
        num_items = self.topic.shape[0] if self.topic.dim() == 1 else -1
        if num_items <= 0:
            raise ConfigError(f"Catalog needs at least one item; got topic of shape {tuple(self.topic.shape)}.")
        for name in ("quality", "duration", "popularity"):
            if tuple(getattr(self, name).shape) != (num_items,):
                raise ConfigError(
                    f"Catalog.{name} must have shape ({num_items},) like topic; got {tuple(getattr(self, name).shape)}."
                )
        if self.embedding.dim() != 2 or self.embedding.shape[0] != num_items:
            raise ConfigError(f"Catalog.embedding must have shape ({num_items}, D); got {tuple(self.embedding.shape)}.")
        if self.num_topics <= 0 or int(self.topic.max()) >= self.num_topics or int(self.topic.min()) < 0:
            raise ConfigError(
                f"Catalog.topic values must lie in [0, num_topics={self.num_topics}); "
                f"got range [{int(self.topic.min())}, {int(self.topic.max())}]."
            )
        if bool((self.duration <= 0).any()):
            raise ConfigError("Catalog.duration must be positive for every item.")
        if bool((self.popularity < 0).any()) or not math.isclose(float(self.popularity.sum()), 1.0, rel_tol=1e-3):
            raise ConfigError("Catalog.popularity must be non-negative and sum to 1.")

    def lookup(self, field: str, items: torch.Tensor) -> torch.Tensor:
        """``field`` of item ids of any shape [...] -> [..., *field_shape].

        ``index_select`` on flat ids: several times faster than advanced indexing on CPU.
        """
        values = getattr(self, field)
        return values.index_select(0, items.reshape(-1)).view(*items.shape, *values.shape[1:])

    @property
    def num_items(self) -> int:
        return int(self.topic.shape[0])

    @property
    def feature_dim(self) -> int:
        return int(self.embedding.shape[1])

    @classmethod
    def generate(
        cls,
        num_items: int = 10_000,
        num_topics: int = 20,
        seed: int = 0,
        topic_quality_means: torch.Tensor | None = None,
        quality_std: float = 0.1,
        duration: float = 4.0,
        popularity_exponent: float = 1.0,
        device: torch.device | str = "cpu",
    ) -> Catalog:
        """A RecSim-style catalog: uniform topics, one-hot features, quality ~ N(mean[topic], std).

        Generation runs on the CPU with a seeded ``torch.Generator`` and is then moved to
        ``device``, so one seed yields the same catalog on every device. Popularity follows
        Zipf's law (weight 1 / rank**exponent) over a random ranking of the items.
        """
        if num_items <= 0:
            raise ConfigError(f"num_items must be positive; got {num_items}.")
        if num_topics <= 0:
            raise ConfigError(f"num_topics must be positive; got {num_topics}.")
        if quality_std < 0 or duration <= 0 or popularity_exponent < 0:
            raise ConfigError(
                "quality_std and popularity_exponent must be >= 0 and duration > 0; "
                f"got quality_std={quality_std}, duration={duration}, popularity_exponent={popularity_exponent}."
            )
        means = recsim_topic_quality_means(num_topics) if topic_quality_means is None else topic_quality_means
        means = torch.as_tensor(means, dtype=torch.float32).cpu()
        if tuple(means.shape) != (num_topics,):
            raise ConfigError(f"topic_quality_means must have {num_topics} entries; got shape {tuple(means.shape)}.")
        generator = torch.Generator().manual_seed(seed)
        topic = torch.randint(num_topics, (num_items,), generator=generator)
        quality = means[topic] + quality_std * torch.randn(num_items, generator=generator)
        ranks = torch.randperm(num_items, generator=generator).to(torch.float32) + 1.0
        popularity = ranks.pow(-popularity_exponent)
        catalog = cls(
            embedding=torch.nn.functional.one_hot(topic, num_topics).to(torch.float32),
            topic=topic,
            quality=quality,
            duration=torch.full((num_items,), float(duration)),
            popularity=popularity / popularity.sum(),
            num_topics=num_topics,
        )
        return catalog.to(device)
