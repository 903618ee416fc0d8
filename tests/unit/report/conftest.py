"""The hand-computed fixture, loaded once per test as facts plus the options its file carries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from smarketing_sync.report.facts import Facts, facts_from_file
from smarketing_sync.report.kpis.months import months_between
from smarketing_sync.report.options import ReportOptions, settings_from_config

FIXTURE = Path(__file__).with_name("fixture_handcomputed.json")


def fixture_options(facts: Facts, **changes: object) -> ReportOptions:
    report, sla = settings_from_config(facts.config)
    span = facts.config["range"]
    options = ReportOptions.from_settings(
        report, sla, months=months_between(span["from"], span["to"]), as_of=facts.as_of
    )
    for key, value in changes.items():
        setattr(options, key, value)
    return options


@pytest.fixture
def facts() -> Facts:
    return facts_from_file(FIXTURE)


@pytest.fixture
def options(facts: Facts) -> ReportOptions:
    return fixture_options(facts)


OptionsFactory = Callable[..., ReportOptions]


@pytest.fixture
def make_options(facts: Facts) -> OptionsFactory:
    """Options of the fixture with some changed, e.g. ``make_options(margin=None)``."""
    return lambda **changes: fixture_options(facts, **changes)
