"""The scoring model as data: fit rules, engagement rules, bands and lifecycle rules.

Everything here is immutable and built by ``scoring.load`` from a validated TOML file, so the
computation never has to re-check a rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from smarketing_sync.flow.survivorship import is_blank

#: Every activity type a rule may name. The connectors deliver meeting, call, note, email, task
#: and other today; the marketing types (opens, clicks, forms, page views) and the negative
#: signals are valid targets so a model can be written before a connector delivers them.
ACTIVITY_TYPES: frozenset[str] = frozenset(
    {
        "email",
        "email_open",
        "email_click",
        "email_reply",
        "form_submission",
        "page_view",
        "webinar",
        "meeting",
        "call",
        "note",
        "task",
        "other",
        "unsubscribe",
        "hard_bounce",
        "spam_report",
    }
)

#: Where the score stage keeps a customer's pushable computed values (``score.value``,
#: ``score.band``, ``score.reason``, ``stage``) inside ``customers.golden``: resolve only
#: rewrites the fields it has claims for, and push planning reads golden already.
GOLDEN_KEY = "_computed"

#: Values computed from customer fields that fit rules may read besides the fields themselves.
DERIVED_FIELDS: frozenset[str] = frozenset({"email_domain"})

#: The forward path of the lifecycle; a stage's rank is its index.
STAGES: tuple[str, ...] = ("subscriber", "lead", "mql", "sql", "opportunity", "customer")
#: Detours off the forward path.
DETOURS: tuple[str, ...] = ("disqualified", "recycled")
RANK: Mapping[str, int] = {stage: i for i, stage in enumerate(STAGES)}

Operator = Literal["equals", "in", "contains", "regex", "range", "empty"]
OPERATORS: tuple[Operator, ...] = ("equals", "in", "contains", "regex", "range", "empty")


def derived_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Customer values plus the derived ones (``email_domain``) that rules may test."""
    out = dict(values)
    email = values.get("email")
    if isinstance(email, str) and "@" in email:
        out["email_domain"] = email.rsplit("@", 1)[1].strip().lower()
    return out


def text_key(value: Any) -> str:
    """How text is compared everywhere rules test values: no surrounding blanks, no case."""
    return str(value).strip().casefold()


def as_number(value: Any) -> float | None:
    """A number, or a text that reads as one ("1,200" too); None otherwise (bools too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            return None
    return None


def _same(value: Any, expected: Any) -> bool:
    if isinstance(expected, bool):
        return value is expected or (
            isinstance(value, str) and text_key(value) == str(expected).lower()
        )
    if isinstance(expected, int | float):
        return as_number(value) == float(expected)
    return text_key(value) == text_key(expected)


@dataclass(frozen=True, slots=True)
class Condition:
    """One test on one customer field. Text comparisons ignore case and surrounding blanks."""

    field: str
    op: Operator
    # equals: a scalar; in / contains: a tuple; regex: a compiled pattern;
    # range: (min or None, max or None), both inclusive; empty: True / False
    arg: Any
    # in / equals with text only: the normalized texts, so a test is one set lookup (the full
    # rescore runs every fit rule on every customer); contains: the normalized parts.
    texts: frozenset[str] | tuple[str, ...] | None = None

    @classmethod
    def build(cls, field: str, op: Operator, arg: Any) -> Condition:
        texts: frozenset[str] | tuple[str, ...] | None = None
        items = arg if op == "in" else (arg,)
        if op in ("in", "equals") and all(isinstance(i, str) for i in items):
            texts = frozenset(text_key(i) for i in items)
        elif op == "contains":
            texts = tuple(text_key(part) for part in arg)
        return cls(field, op, arg, texts)

    def matches(self, values: Mapping[str, Any]) -> bool:
        value = values.get(self.field)
        if self.op == "empty":
            return is_blank(value) is self.arg
        if is_blank(value):
            return False
        if self.op == "contains":
            text = text_key(value)
            return any(part in text for part in self.texts or ())
        if self.texts is not None:  # in / equals on text
            return text_key(value) in self.texts
        if self.op == "equals":
            return _same(value, self.arg)
        if self.op == "in":
            return any(_same(value, item) for item in self.arg)
        if self.op == "regex":
            return self.arg.search(str(value)) is not None
        number = as_number(value)
        if number is None:
            return False
        low, high = self.arg
        return (low is None or number >= low) and (high is None or number <= high)

    def describe(self) -> str:
        if self.op == "empty":
            return f"{self.field} is {'empty' if self.arg else 'not empty'}"
        if self.op == "regex":
            return f"{self.field} matches /{self.arg.pattern}/"
        if self.op == "range":
            low, high = (("" if bound is None else f"{bound:g}") for bound in self.arg)
            return f"{self.field} in {low}..{high}"
        if self.op in ("in", "contains"):
            return f"{self.field} {self.op} {', '.join(map(str, self.arg))}"
        return f"{self.field} equals {self.arg}"


@dataclass(frozen=True, slots=True)
class FitRule:
    name: str
    label: str
    condition: Condition
    points: float
    disqualify: bool  # a match disqualifies the person instead of adding points


@dataclass(frozen=True, slots=True)
class EngagementRule:
    type: str
    label: str
    points: float  # per activity, before decay; negative for negative signals
    half_life_days: float  # 0: the contribution does not decay
    cap: float | None  # most points (by magnitude) the type adds per period
    cap_period_days: float


@dataclass(frozen=True, slots=True)
class Inactivity:
    """Points (negative) added when nothing engaging happened for ``after_days``."""

    after_days: float
    points: float
    label: str


@dataclass(frozen=True, slots=True)
class Band:
    """A rectangle in fit × engagement; lower bounds inclusive, upper bounds exclusive."""

    name: str
    fit_min: float
    fit_max: float
    engagement_min: float
    engagement_max: float

    def contains(self, fit: float, engagement: float) -> bool:
        return (
            self.fit_min <= fit < self.fit_max
            and self.engagement_min <= engagement < self.engagement_max
        )

    def overlaps(self, other: Band) -> bool:
        return (
            self.fit_min < other.fit_max
            and other.fit_min < self.fit_max
            and self.engagement_min < other.engagement_max
            and other.engagement_min < self.engagement_max
        )


@dataclass(frozen=True, slots=True)
class RecycleRule:
    """Sends a person from one of ``from_stages`` to ``recycled``."""

    name: str
    label: str
    from_stages: tuple[str, ...]
    condition: Condition | None  # a customer-field fact, e.g. lead status "unqualified"
    inactive_days: float | None  # no engaging activity for this long


@dataclass(frozen=True, slots=True)
class Lifecycle:
    subscriber: Condition | None  # people matching it (and not engaged) start as subscribers
    mql_min_score: float
    mql_min_fit: float
    sql: Condition | None  # sales accepted the lead (a CRM fact mapped onto a customer field)
    recycle: tuple[RecycleRule, ...]


@dataclass(frozen=True, slots=True)
class ScoringModel:
    path: Path
    version: str  # derived from the rules: any rule change gives a new version
    fit: tuple[FitRule, ...]
    engagement: Mapping[str, EngagementRule]
    inactivity: Inactivity | None
    max_score: float
    bands: tuple[Band, ...]
    default_band: str
    lifecycle: Lifecycle

    def band(self, fit: float, engagement: float) -> str:
        for band in self.bands:
            if band.contains(fit, engagement):
                return band.name
        return self.default_band

    def engaging(self, activity_type: str) -> bool:
        """Does an activity of this type count as engagement (inactivity, re-qualification)?"""
        rule = self.engagement.get(activity_type)
        return rule is not None and rule.points > 0


def compile_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)
