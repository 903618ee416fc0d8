"""Deterministic synthetic people, activities and deals for the sandboxes, demo and benchmarks.

One ``Population`` is a set of real-world people; each tool sees a subset of them, written the
way that tool would hold them. People present in both tools have differently written emails
(case, surrounding whitespace) and unicode names, which is what identity resolution must survive.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import phonenumbers
from faker import Faker

LOCALES = ("en_US", "de_DE", "fr_FR", "es_ES", "pl_PL", "sv_SE")
COUNTRIES = {
    "en_US": "US",
    "de_DE": "DE",
    "fr_FR": "FR",
    "es_ES": "ES",
    "pl_PL": "PL",
    "sv_SE": "SE",
}
ACTIVITY_TYPES = ("meeting", "call", "note", "email")
DEFAULT_NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


#: HubSpot Original source values of marketing-originated people, with their weights.
MARKETING_SOURCES = (
    ("ORGANIC_SEARCH", 30),
    ("PAID_SEARCH", 15),
    ("PAID_SOCIAL", 10),
    ("EMAIL_MARKETING", 10),
    ("SOCIAL_MEDIA", 10),
    ("REFERRALS", 10),
    ("DIRECT_TRAFFIC", 10),
    ("OTHER_CAMPAIGNS", 5),
)
CAMPAIGNS = ("C-WEB", "C-WEBINAR", "C-ADS")
_CAMPAIGN_OF = {
    "PAID_SEARCH": "C-ADS",
    "PAID_SOCIAL": "C-ADS",
    "EMAIL_MARKETING": "C-WEBINAR",
    "OTHER_CAMPAIGNS": "C-WEBINAR",
}
#: Share of people that marketing brought in: among people in both tools, and among those only
#: in the first (marketing) tool; people only in the second tool (the CRM) were created by sales.
MARKETING_SHARE_SHARED = 0.7
MARKETING_SHARE_FIRST_ONLY = 0.9


@dataclass(frozen=True, slots=True)
class SeedOrigin:
    """Where a person came from, as a marketing tool's analytics and form tracking record it.

    Sales-created people (and imports) are ``OFFLINE`` with no visit and no conversion.
    """

    source: str = "OFFLINE"  # HubSpot Original source, e.g. ORGANIC_SEARCH, PAID_SEARCH
    campaign: str | None = None  # the source's drill-down: the campaign that brought them
    first_visit: datetime | None = None
    conversions: tuple[tuple[datetime, str], ...] = ()  # (when, event name), oldest first

    @property
    def marketing(self) -> bool:
        return self.source != "OFFLINE"


@dataclass(frozen=True, slots=True)
class SeedPerson:
    key: int  # the real-world person; the same in every tool
    email: str  # as written in this tool (case and whitespace vary between tools)
    first_name: str
    last_name: str
    company: str
    job_title: str
    phone: str
    country: str
    city: str
    created_at: datetime
    updated_at: datetime
    origin: SeedOrigin = SeedOrigin()


@dataclass(frozen=True, slots=True)
class SeedActivity:
    key: int
    person_key: int
    type: str  # one of ACTIVITY_TYPES
    subject: str
    occurred_at: datetime
    done: bool = True


@dataclass(frozen=True, slots=True)
class SeedDeal:
    key: int
    person_key: int
    title: str
    value: float
    currency: str
    status: str  # open | won | lost
    created_at: datetime
    closed_at: datetime | None = None
    lost_reason: str | None = None


@dataclass(slots=True)
class ToolData:
    people: list[SeedPerson] = field(default_factory=list)
    activities: list[SeedActivity] = field(default_factory=list)
    deals: list[SeedDeal] = field(default_factory=list)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _local_part(first: str, last: str) -> str:
    """``first.last`` as an email local part: ASCII letters, digits, single dots and hyphens."""
    raw = f"{_ascii(first)}.{_ascii(last)}"
    cleaned = re.sub(r"[^a-z0-9.-]+", "", raw.replace(" ", "."))
    return re.sub(r"\.{2,}", ".", cleaned).strip(".-") or "someone"


def _phone(country: str, rng: random.Random) -> str:
    """A valid number of the country, written the way a person would (spaces or E.164)."""
    example = phonenumbers.example_number_for_type(
        country, phonenumbers.PhoneNumberType.MOBILE
    ) or phonenumbers.example_number(country)
    assert example is not None
    digits = str(example.national_number)
    for _ in range(20):
        candidate = phonenumbers.parse(
            f"+{example.country_code}{digits[:-4]}{rng.randrange(10_000):04d}"
        )
        if phonenumbers.is_valid_number(candidate):
            example = candidate
            break
    style = (
        phonenumbers.PhoneNumberFormat.INTERNATIONAL
        if rng.random() < 0.5
        else phonenumbers.PhoneNumberFormat.E164
    )
    return phonenumbers.format_number(example, style)


def _origin(
    marketing_share: float, created: datetime, updated: datetime, rng: random.Random
) -> SeedOrigin:
    """A marketing-originated person visits first, converts on a form (which creates the
    contact) and maybe converts again later; anyone else is OFFLINE without analytics."""
    if rng.random() >= marketing_share:
        return SeedOrigin()
    names = [name for name, _ in MARKETING_SOURCES]
    weights = [weight for _, weight in MARKETING_SOURCES]
    source = rng.choices(names, weights)[0]
    campaign = _CAMPAIGN_OF.get(source, "C-WEB")
    conversions = [(created, campaign)]
    span_days = (updated - created).total_seconds() / 86_400
    if span_days > 1 and rng.random() < 0.5:
        later = created + timedelta(days=rng.uniform(1, span_days))
        conversions.append((later, rng.choice(CAMPAIGNS)))
    return SeedOrigin(
        source=source,
        campaign=campaign,
        first_visit=created - timedelta(days=rng.uniform(0.5, 45)),
        conversions=tuple(conversions),
    )


def _vary(email: str, rng: random.Random) -> str:
    """Write the same address the way another tool or a person typing it would."""
    local, domain = email.split("@", 1)
    choice = rng.randrange(4)
    if choice == 0:
        return f"{local.capitalize()}@{domain.upper()}"
    if choice == 1:
        return f"  {email.upper()} "
    if choice == 2:
        return f"{local.title()}@{domain}"
    return f"{email}\t"


@dataclass(slots=True)
class Population:
    """People split across two tools: ``first`` only, ``second`` only, and both."""

    tools: tuple[str, str]
    data: dict[str, ToolData]

    def for_tool(self, tool: str) -> ToolData:
        return self.data[tool]

    @classmethod
    def generate(
        cls,
        tools: Sequence[str] = ("hubspot", "pipedrive"),
        *,
        n_per_tool: int = 2_000,
        overlap: float = 0.5,
        activities_per_person: float = 1.0,
        deal_share: float = 0.1,
        seed: int = 7,
        now: datetime = DEFAULT_NOW,
    ) -> Population:
        if len(tools) != 2:
            raise ValueError("a population spans exactly two tools")
        first, second = tools[0], tools[1]
        rng = random.Random(seed)
        # Its own stream, so that adding origins left every other generated value unchanged.
        origin_rng = random.Random(seed * 7_919 + 1)
        fakers = {loc: Faker(loc) for loc in LOCALES}
        for i, fk in enumerate(fakers.values()):
            fk.seed_instance(seed * 100 + i)
        shared = int(n_per_tool * overlap)
        total = 2 * n_per_tool - shared
        data = {first: ToolData(), second: ToolData()}
        used: set[str] = set()
        activity_key = 0
        deal_key = 0
        for key in range(total):
            loc = LOCALES[rng.randrange(len(LOCALES))]
            fk = fakers[loc]
            first_name, last_name = fk.first_name(), fk.last_name()
            company = fk.company()
            domain = _ascii(company).split(" ")[0].strip(",.-'") or "example"
            base = _local_part(first_name, last_name)
            email = f"{base}@{domain}.example"
            n = 1
            while email in used:
                n += 1
                email = f"{base}{n}@{domain}.example"
            used.add(email)
            created = now - timedelta(days=rng.uniform(30, 720))
            updated = created + timedelta(days=rng.uniform(0, (now - created).days or 1))
            person = SeedPerson(
                key=key,
                email=email,
                first_name=first_name,
                last_name=last_name,
                company=company,
                job_title=fk.job(),
                phone=_phone(COUNTRIES[loc], rng),
                country=COUNTRIES[loc],
                city=fk.city(),
                created_at=created,
                updated_at=updated,
                origin=_origin(
                    MARKETING_SHARE_SHARED
                    if key < shared
                    else MARKETING_SHARE_FIRST_ONLY
                    if key < n_per_tool
                    else 0.0,
                    created,
                    updated,
                    origin_rng,
                ),
            )
            if key < shared:
                homes = [(first, person), (second, replace(person, email=_vary(email, rng)))]
            elif key < n_per_tool:
                homes = [(first, person)]
            else:
                homes = [(second, person)]
            for tool, held in homes:
                data[tool].people.append(held)
                count = int(activities_per_person) + (
                    1 if rng.random() < activities_per_person % 1 else 0
                )
                for _ in range(count):
                    activity_key += 1
                    kind = ACTIVITY_TYPES[rng.randrange(len(ACTIVITY_TYPES))]
                    data[tool].activities.append(
                        SeedActivity(
                            key=activity_key,
                            person_key=key,
                            type=kind,
                            subject=f"{kind.title()}: {fk.catch_phrase()}",
                            occurred_at=created + timedelta(days=rng.uniform(0, 25)),
                        )
                    )
            if key >= shared and key < n_per_tool:
                continue  # deals live in the CRM (the second tool)
            if rng.random() < deal_share:
                deal_key += 1
                status = rng.choice(["open", "open", "won", "lost"])
                deal_created = created + timedelta(days=rng.uniform(1, 20))
                data[second].deals.append(
                    SeedDeal(
                        key=deal_key,
                        person_key=key,
                        title=f"{company} — {rng.choice(['Pilot', 'Annual plan', 'Expansion'])}",
                        value=float(rng.randrange(10, 500) * 100),
                        currency=rng.choice(["EUR", "EUR", "USD"]),
                        status=status,
                        created_at=deal_created,
                        closed_at=None
                        if status == "open"
                        else deal_created + timedelta(days=rng.uniform(5, 60)),
                        lost_reason="Budget" if status == "lost" else None,
                    )
                )
        return cls((first, second), data)
