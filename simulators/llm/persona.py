"""Personas: structured traits kept as ground truth, rendered to the natural language a model reads.

A population is a batch of traits (interests over the catalog's topics, novelty seeking,
patience, activity, quality sensitivity) plus a name each. The traits stay tensors, so
fidelity can be measured (does a persona who loves cooking pick cooking videos?) and a
control can shuffle descriptions against traits. Populations come from a seed or a JSON file:

    [{"name": "Maya", "interests": {"cooking": 0.9, "football": -0.6}, "novelty_seeking": 0.3,
      "patience": 0.5, "activity": 0.7, "quality_sensitivity": 0.4}, ...]

Topics a file leaves out get interest 0 (indifferent).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path

import torch

from recgym.errors import ConfigError

TRAITS = ("novelty_seeking", "patience", "activity", "quality_sensitivity")
"""Scalar traits, each in [0, 1]."""
REQUIRED_FIELDS = ("name", "interests", *TRAITS)

_NAMES = (
    "Maya", "Leo", "Aisha", "Tom", "Sofia", "Kenji", "Ines", "Omar", "Lena", "Ravi", "Chloe", "Mateo",
    "Nadia", "Jonas", "Priya", "Hugo", "Zara", "Felix", "Amara", "Viktor", "Mei", "Diego", "Elif", "Sam",
)  # fmt: skip

_TRAIT_PHRASES = {
    "novelty_seeking": (
        "You stick to what you know.",
        "You sometimes try something new.",
        "You love discovering new things.",
    ),
    "patience": (
        "You are impatient and leave quickly when bored.",
        "You give a feed a fair chance.",
        "You are patient and browse for a long time.",
    ),
    "activity": ("You rarely click on anything.", "You click now and then.", "You click on a lot of videos."),
    "quality_sensitivity": (
        "You do not care much about production quality.",
        "You notice quality.",
        "You only enjoy well-made, acclaimed videos.",
    ),
}
"""Low, middle and high third of each trait, in words."""


class PersonaFileError(ConfigError):
    """A persona file is missing fields, names unknown topics, or holds values out of range."""


@dataclasses.dataclass(frozen=True)
class PersonaPopulation:
    """P personas: names, interests [P, T] in [-1, 1] over ``topic_names``, and scalar traits [P] in [0, 1]."""

    names: list[str]
    topic_names: list[str]
    interests: torch.Tensor
    novelty_seeking: torch.Tensor
    patience: torch.Tensor
    activity: torch.Tensor
    quality_sensitivity: torch.Tensor

    def __post_init__(self) -> None:
        count = len(self.names)
        if tuple(self.interests.shape) != (count, len(self.topic_names)):
            raise ConfigError(
                f"interests must be [{count} personas, {len(self.topic_names)} topics]; "
                f"got {tuple(self.interests.shape)}."
            )
        if bool((self.interests.abs() > 1).any()):
            raise ConfigError("Interests must lie in [-1, 1].")
        for trait in TRAITS:
            values = getattr(self, trait)
            if tuple(values.shape) != (count,) or bool(((values < 0) | (values > 1)).any()):
                raise ConfigError(f"{trait} must be {count} values in [0, 1]; got shape {tuple(values.shape)}.")

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def generate(cls, num_personas: int, topic_names: list[str], seed: int = 0) -> PersonaPopulation:
        """A seeded population: a few strong likes and dislikes per persona, uniform traits."""
        if num_personas <= 0:
            raise ConfigError(f"num_personas must be positive; got {num_personas}.")
        generator = torch.Generator().manual_seed(seed)
        num_topics = len(topic_names)
        # Mostly indifferent, with sparse strong feelings: what makes a persona recognisable in text.
        base = 0.2 * (2 * torch.rand(num_personas, num_topics, generator=generator) - 1)
        strong = torch.rand(num_personas, num_topics, generator=generator) < min(1.0, 3.0 / num_topics)
        sign = torch.where(torch.rand(num_personas, num_topics, generator=generator) < 0.6, 1.0, -1.0)
        magnitude = 0.6 + 0.4 * torch.rand(num_personas, num_topics, generator=generator)
        interests = torch.where(strong, sign * magnitude, base)
        traits = {trait: torch.rand(num_personas, generator=generator) for trait in TRAITS}
        picks = torch.randint(len(_NAMES), (num_personas,), generator=generator).tolist()
        names = [f"{_NAMES[pick]} #{index}" for index, pick in enumerate(picks)]
        return cls(names=names, topic_names=list(topic_names), interests=interests, **traits)

    @classmethod
    def from_file(cls, path: str | Path, topic_names: list[str]) -> PersonaPopulation:
        """Load personas from a JSON list (see the module docstring); every problem is named with its persona.

        Each persona must have exactly the fields of ``REQUIRED_FIELDS`` (a misspelt one gets a
        did-you-mean), a string name, an object of interests and numbers (not booleans) in range.
        """
        path = Path(path)
        try:
            records = json.loads(path.read_text())
        except FileNotFoundError as error:
            raise PersonaFileError(f"Persona file {path} does not exist.") from error
        except json.JSONDecodeError as error:
            raise PersonaFileError(f"Persona file {path} is not valid JSON: {error}.") from error
        if not isinstance(records, list) or not records:
            raise PersonaFileError(
                f"Persona file {path} must hold a non-empty JSON list of persona objects; got {_shown(records)}."
            )
        topic_index = {name: index for index, name in enumerate(topic_names)}
        interests = torch.zeros(len(records), len(topic_names))
        traits: dict[str, list[float]] = {trait: [] for trait in TRAITS}
        names = []
        for row, record in enumerate(records):
            _check_fields(path, row, record)
            where = f"Persona {row} ({record['name']}) in {path}"
            names.append(record["name"])
            if not isinstance(record["interests"], dict):
                raise PersonaFileError(
                    f"{where}: interests is {_shown(record['interests'])}; write an object from topic to a number "
                    'in [-1, 1] (-1: dislikes, 1: loves), e.g. "interests": {"cooking": 0.9, "football": -0.6}.'
                )
            unknown = sorted(set(record["interests"]) - set(topic_index))
            if unknown:
                raise PersonaFileError(
                    f"Persona {row} ({record['name']}) names unknown topic(s) {unknown}; topics are {topic_names}."
                )
            for topic, value in record["interests"].items():
                if not _is_number(value):
                    raise PersonaFileError(
                        f"{where}: interest in {topic!r} is {_shown(value)}; write a number in [-1, 1] "
                        f'(-1: dislikes, 1: loves), e.g. "{topic}": 0.9.'
                    )
                if not -1.0 <= value <= 1.0:
                    raise PersonaFileError(
                        f"{where}: interest in {topic!r} is {value}; interests lie in [-1, 1] (-1: dislikes, 1: loves)."
                    )
                interests[row, topic_index[topic]] = float(value)
            for trait in TRAITS:
                value = record[trait]
                if not _is_number(value):
                    raise PersonaFileError(
                        f'{where}: {trait} is {_shown(value)}; write a number in [0, 1], e.g. "{trait}": 0.7.'
                    )
                if not 0.0 <= value <= 1.0:
                    raise PersonaFileError(f"{where}: {trait} is {value}; traits lie in [0, 1] (0: low, 1: high).")
                traits[trait].append(float(value))
        return cls(
            names=names,
            topic_names=list(topic_names),
            interests=interests,
            **{trait: torch.tensor(values) for trait, values in traits.items()},
        )

    def _tastes(self, index: int) -> tuple[list[str], list[str], list[str]]:
        """Topics persona ``index`` loves, likes and dislikes, strongest first."""
        interests = self.interests[index]
        order = interests.argsort(descending=True).tolist()
        loves = [self.topic_names[t] for t in order if interests[t] >= 0.5]
        likes = [self.topic_names[t] for t in order if 0.2 <= interests[t] < 0.5]
        dislikes = [self.topic_names[t] for t in reversed(order) if interests[t] <= -0.3]
        return loves, likes, dislikes

    def likes_text(self, index: int) -> str:
        """Only what persona ``index`` enjoys, for encoders that cannot read negation (sentence embeddings)."""
        loves, likes, _ = self._tastes(index)
        return f"Videos about {_join(loves + likes)}." if loves or likes else ""

    def dislikes_text(self, index: int) -> str:
        """Only what persona ``index`` dislikes ('' if nothing)."""
        _, _, dislikes = self._tastes(index)
        return f"Videos about {_join(dislikes)}." if dislikes else ""

    def describe(self, index: int) -> str:
        """Persona ``index`` in the second person, as the model reads it."""
        loves, likes, dislikes = self._tastes(index)
        sentences = [f"You are {self.names[index]}, scrolling a video app."]
        if loves:
            sentences.append(f"You love {_join(loves)}.")
        if likes:
            sentences.append(f"You also like {_join(likes)}.")
        if dislikes:
            sentences.append(f"You dislike {_join(dislikes)}.")
        for trait in TRAITS:
            level = min(2, int(float(getattr(self, trait)[index]) * 3))
            sentences.append(_TRAIT_PHRASES[trait][level])
        return " ".join(sentences)

    def descriptions(self) -> list[str]:
        return [self.describe(index) for index in range(len(self))]

    def shuffled(self, seed: int) -> PersonaPopulation:
        """The same descriptions assigned to other personas' ground truth: the fidelity control."""
        permutation = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        return dataclasses.replace(
            self,
            interests=self.interests[permutation],
            **{trait: getattr(self, trait)[permutation] for trait in TRAITS},
            names=[self.names[index] for index in permutation.tolist()],
        )


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _check_fields(path: Path, row: int, record: object) -> None:
    """Persona ``row`` is an object with exactly ``REQUIRED_FIELDS`` and a non-empty string name."""
    if not isinstance(record, dict):
        raise PersonaFileError(
            f"Persona {row} in {path} is {_shown(record)}; each persona is an object with the fields "
            f"{list(REQUIRED_FIELDS)}."
        )
    for field in record:
        if field not in REQUIRED_FIELDS:
            close = difflib.get_close_matches(str(field), REQUIRED_FIELDS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "remove it."
            raise PersonaFileError(
                f"Persona {row} in {path} has an unknown field {field!r}; {hint} "
                f"A persona has exactly the fields {list(REQUIRED_FIELDS)}."
            )
    missing = [field for field in REQUIRED_FIELDS if field not in record]
    if missing:
        raise PersonaFileError(
            f"Persona {row} in {path} is missing field(s) {missing}; each needs {list(REQUIRED_FIELDS)}."
        )
    name = record["name"]
    if not isinstance(name, str) or not name.strip():
        raise PersonaFileError(f'Persona {row} in {path}: name is {_shown(name)}; write a string, e.g. "name": "Maya".')


def _is_number(value: object) -> bool:
    """A JSON number: int or float, and not a boolean (``true`` is an int in Python)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value: object) -> str:
    """``value`` as the JSON the user wrote, with its kind: '"high" (a string)', 'true (a boolean)', 'null'."""
    kinds = {bool: "a boolean", str: "a string", list: "a list", dict: "an object", int: "a number", float: "a number"}
    text = json.dumps(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return text if value is None else f"{text} ({kinds.get(type(value), type(value).__name__)})"
