"""The facts file: round trip, as_of roll-back, and errors that name the file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smarketing_sync.errors import ConfigError
from smarketing_sync.report.facts import Facts, facts_from_file, facts_to_json


def test_round_trip_through_the_file_format(facts: Facts, tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts_to_json(facts)))
    again = facts_from_file(path)
    assert facts_to_json(again) == facts_to_json(facts)


def test_a_deal_won_after_as_of_is_open_at_as_of(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps({
        "as_of": "2025-02-01T00:00:00Z",
        "people": [{"id": 1, "stages": [["lead", "2025-01-02T10:00:00Z"]]}],
        "deals": [{"id": "d", "person": 1, "status": "won", "amount": 5, "currency": "EUR",
                   "created_at": "2025-01-05T10:00:00Z", "won_at": "2025-02-03T10:00:00Z"}],
        "handoffs": [{"id": 1, "person": 1, "handed_over_at": "2025-01-03T10:00:00Z",
                      "decision": "accepted", "decided_at": "2025-02-02T10:00:00Z"}],
    }))  # fmt: skip
    facts = facts_from_file(path)
    assert (facts.deals[0].status, facts.deals[0].won_at) == ("open", None)
    assert (facts.handoffs[0].decision, facts.handoffs[0].decided_at) == (None, None)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"people": []}', r"\[as_of\]: missing"),
        ('{"as_of": "2025-01-01"}', r"\[as_of\]: not a time with a zone"),
        (
            '{"as_of": "2025-01-01T00:00:00Z", "people": [{"id": 1, "source": "web"}]}',
            r"\[people\[0\]\.source\]: unknown source",
        ),
        (
            '{"as_of": "2025-01-01T00:00:00Z", "handoffs": [{"id": 1, "person": 7, '
            '"handed_over_at": "2024-12-01T00:00:00Z"}]}',
            r"\[handoffs\[0\]\.person\]: names no person of the file",
        ),
        ("[1, 2]", "top level must be an object"),
        ("{", "not valid JSON"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        facts_from_file(path)
    assert str(path) in str(caught.value)
