"""Personas and item texts: ground-truth traits, their words, and clear errors for bad persona files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from recgym.core.catalog import Catalog
from recgym.errors import ConfigError
from simulators.llm.item_text import ItemTexts, topic_names_for
from simulators.llm.persona import PersonaFileError, PersonaPopulation

TOPICS = topic_names_for(20)


def test_generated_population_is_seeded_and_its_words_follow_its_traits() -> None:
    first, again = PersonaPopulation.generate(16, TOPICS, seed=3), PersonaPopulation.generate(16, TOPICS, seed=3)
    assert first.descriptions() == again.descriptions()
    assert torch.equal(first.interests, again.interests)
    for index in range(len(first)):
        text = first.describe(index)
        loved = [TOPICS[t] for t in range(len(TOPICS)) if first.interests[index, t] >= 0.5]
        disliked = [TOPICS[t] for t in range(len(TOPICS)) if first.interests[index, t] <= -0.3]
        before_dislikes, _, after_dislikes = text.partition("You dislike")
        assert all(topic in before_dislikes for topic in loved)
        assert all(topic in after_dislikes for topic in disliked)


def test_shuffled_control_keeps_descriptions_but_moves_the_ground_truth() -> None:
    population = PersonaPopulation.generate(12, TOPICS, seed=0)
    control = population.shuffled(seed=1)
    assert sorted(control.names) == sorted(population.names)
    assert not torch.equal(control.interests, population.interests)
    moved = population.names.index(control.names[0])
    assert torch.equal(control.interests[0], population.interests[moved])


def _write(tmp_path: Path, records: object) -> Path:
    path = tmp_path / "personas.json"
    path.write_text(json.dumps(records))
    return path


def _record(**changes: object) -> dict[str, object]:
    record = {
        "name": "Maya",
        "interests": {"cooking": 0.9, "football": -0.6},
        "novelty_seeking": 0.3,
        "patience": 0.5,
        "activity": 0.7,
        "quality_sensitivity": 0.4,
    }
    return record | changes


def test_persona_file_loads_traits_and_describes_them(tmp_path: Path) -> None:
    population = PersonaPopulation.from_file(_write(tmp_path, [_record()]), TOPICS)
    assert population.interests[0, TOPICS.index("cooking")] == pytest.approx(0.9)
    assert population.interests[0, TOPICS.index("travel")] == 0.0
    text = population.describe(0)
    assert "You love cooking" in text and "You dislike football" in text


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"name": "Maya", "interests": {}}], r"Persona 0 .* missing field\(s\) \['novelty_seeking'"),
        ([_record(interests={"knitting": 1.0})], r"unknown topic\(s\) \['knitting'\]"),
        ([_record(patience=1.5)], r"patience is 1.5"),
        ([_record(interests={"cooking": 2.0})], r"interest in 'cooking' is 2.0"),
        ([], "non-empty JSON list"),
    ],
)
def test_bad_persona_files_name_the_problem(tmp_path: Path, records: object, message: str) -> None:
    with pytest.raises(PersonaFileError, match=message):
        PersonaPopulation.from_file(_write(tmp_path, records), TOPICS)


BAD_FIELD_CASES = (
    "misspelt-field", "unknown-field", "boolean-trait", "boolean-interest", "string-trait", "null-trait",
    "list-of-interests", "null-interests", "string-interest", "not-an-object", "null-name",
)  # fmt: skip


def _without(field: str, **changes: object) -> dict[str, object]:
    record = _record(**changes)
    del record[field]
    return record


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        # Misspelt and unknown fields were ignored (the trait then missing, or silently dropped).
        (
            _without("patience", pattience=0.5),
            r"Persona 1 in \S+personas.json has an unknown field 'pattience'; did you mean 'patience'\?",
        ),
        (
            _record(hobby="chess"),
            r"Persona 1 in .* unknown field 'hobby'; remove it\. A persona has exactly the fields",
        ),
        # Booleans were read as 1.0 and 0.0.
        (
            _record(patience=True),
            r"Persona 1 \(Maya\) in .*: patience is true \(a boolean\); write a number in \[0, 1\]",
        ),
        (
            _record(interests={"cooking": False}),
            r"Persona 1 \(Maya\) in .*: interest in 'cooking' is false \(a boolean\); write a number in \[-1, 1\]",
        ),
        # These crashed with a bare ValueError, TypeError or AttributeError.
        (_record(activity="high"), r'Persona 1 \(Maya\) in .*: activity is "high" \(a string\); .*"activity": 0.7'),
        (_record(activity=None), r"Persona 1 \(Maya\) in .*: activity is null; write a number in \[0, 1\]"),
        (
            _record(interests=["cooking", "travel"]),
            r'interests is \["cooking", "travel"\] \(a list\); write an object from topic to a number in \[-1, 1\]',
        ),
        (_record(interests=None), r"Persona 1 \(Maya\) in .*: interests is null; write an object"),
        (_record(interests={"cooking": "lots"}), r'interest in \'cooking\' is "lots" \(a string\); .*"cooking": 0.9'),
        ("Maya", r'Persona 1 in .* is "Maya" \(a string\); each persona is an object with the fields'),
        (_record(name=None), r'Persona 1 in .*: name is null; write a string, e.g. "name": "Maya"'),
    ],
    ids=BAD_FIELD_CASES,
)
def test_persona_fields_of_the_wrong_name_or_type_are_refused_with_the_fix(
    tmp_path: Path, bad: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        PersonaPopulation.from_file(_write(tmp_path, [_record(), bad]), TOPICS)
    assert isinstance(raised.value, PersonaFileError)


def test_missing_or_broken_persona_file_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(PersonaFileError, match="does not exist"):
        PersonaPopulation.from_file(tmp_path / "nope.json", TOPICS)
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(PersonaFileError, match="not valid JSON"):
        PersonaPopulation.from_file(broken, TOPICS)


def test_item_titles_name_their_topic_and_slates_are_numbered() -> None:
    catalog = Catalog.generate(num_items=200, num_topics=20, seed=1)
    texts = ItemTexts.generate(catalog, seed=2)
    assert all(TOPICS[int(topic)] in title for topic, title in zip(catalog.topic, texts.titles, strict=True))
    assert texts.titles == ItemTexts.generate(catalog, seed=2).titles
    assert texts.slate_text([3, 7]).splitlines() == [f"1. {texts.titles[3]}", f"2. {texts.titles[7]}"]


def test_topic_names_must_match_the_catalog() -> None:
    assert topic_names_for(22)[-1] == "topic 21"
    with pytest.raises(ConfigError, match="3 topic names"):
        topic_names_for(4, ["a", "b", "c"])
    with pytest.raises(ConfigError, match="distinct"):
        topic_names_for(2, ["a", "a"])
