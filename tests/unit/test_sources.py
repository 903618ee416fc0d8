"""Person sources (KPIS §1.5): each rule, decided once and never overwritten."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smarketing_sync.flow.sources import crm_connector, decide_sources
from smarketing_sync.sdk.declarations import Capability
from smarketing_sync.settings import Settings
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import (
    activities,
    claims,
    customers,
    links,
    person_sources,
    stage_history,
)
from smarketing_sync.store.state import next_rev

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'store.db'}", now=lambda: T0 + 30 * DAY)
    yield s
    s.dispose()


@pytest.fixture
def settings() -> Settings:
    return Settings(sources={"crm": "pipedrive"})


_ext = iter(range(1, 1_000_000))


def person(
    store: Store,
    *,
    lead_at: datetime | None = T0,
    created: dict[str, datetime] | None = None,
    tools: tuple[str, ...] = ("hubspot",),
    **golden: Any,
) -> int:
    with store.begin() as conn:
        key = conn.execute(
            customers.insert().values(
                email=None, golden=golden, provenance={}, rev=next_rev(conn),
                created_at=T0, updated_at=T0,
            )
        ).inserted_primary_key  # fmt: skip
        assert key is not None
        cid = int(key[0])
        if lead_at is not None:
            for stage, at in (("lead", lead_at), ("mql", lead_at + 5 * DAY)):
                conn.execute(
                    stage_history.insert().values(
                        customer_id=cid, stage=stage, previous=None, entered_at=at,
                        cause="test", rule="test", score=0, model_version="1",
                    )
                )  # fmt: skip
        for tool in tools:
            conn.execute(
                links.insert().values(connector=tool, external_id=str(cid), customer_id=cid)
            )
        for tool, at in (created or {}).items():
            conn.execute(
                claims.insert().values(
                    customer_id=cid, field="record_created_at", connector=tool,
                    value=at.isoformat(), changed_at=at, observed_at=at,
                )
            )  # fmt: skip
    return cid


def activity(store: Store, cid: int, kind: str, at: datetime, **fields: Any) -> None:
    with store.begin() as conn:
        conn.execute(
            activities.insert().values(
                connector="hubspot", external_id=str(next(_ext)), customer_id=cid,
                contact_ids=[], type=kind, occurred_at=at, updated_at=at, fields=fields,
                deleted=False,
            )
        )  # fmt: skip


def sources(store: Store) -> dict[int, dict[str, Any]]:
    with store.read() as conn:
        return {r.customer_id: r._asdict() for r in conn.execute(sa.select(person_sources))}


def test_origin_field_decides_first_case_insensitive(store: Store, settings: Settings) -> None:
    web = person(store, lead_source="ORGANIC_SEARCH", first_seen="2026-02-01T08:00:00+00:00")
    offline = person(store, lead_source="OFFLINE")
    pipedrive = person(store, lead_source="outbound", tools=("pipedrive",))
    # An origin value listed nowhere falls through to the touch rule.
    unlisted = person(store, lead_source="Trade fair flyer")
    activity(store, unlisted, "form_submission", T0 - DAY, campaign="C-WEB")
    assert decide_sources(store, settings) == 4
    got = sources(store)
    assert (got[web]["source"], got[web]["rule"]) == ("marketing", "origin_field")
    assert got[web]["detail"] == "lead_source = ORGANIC_SEARCH"
    assert got[web]["first_seen"] == datetime(2026, 2, 1, 8, tzinfo=UTC)
    assert got[web]["lead_at"] == T0
    assert (got[offline]["source"], got[offline]["rule"]) == ("sales", "origin_field")
    assert (got[pipedrive]["source"], got[pipedrive]["rule"]) == ("sales", "origin_field")
    assert (got[unlisted]["source"], got[unlisted]["rule"]) == ("marketing", "first_touch")
    assert "C-WEB" in got[unlisted]["detail"]


def test_configured_fields_are_tried_in_order(store: Store) -> None:
    settings = Settings(
        sources={"fields": ["channel_code", "lead_source"], "marketing": ["MKT"], "sales": ["S"]}
    )
    cid = person(store, channel_code="mkt", lead_source="S")
    decide_sources(store, settings)
    assert sources(store)[cid]["source"] == "marketing"
    assert sources(store)[cid]["detail"] == "channel_code = mkt"


def test_first_touch_at_or_before_lead_creation_makes_marketing(
    store: Store, settings: Settings
) -> None:
    cid = person(store, created={"hubspot": T0})
    activity(store, cid, "page_view", T0 - 3 * DAY, campaign="C-ADS", channel="PAID_SEARCH")
    activity(store, cid, "call", T0 + DAY)
    decide_sources(store, settings)
    row = sources(store)[cid]
    assert (row["source"], row["rule"]) == ("marketing", "first_touch")
    assert row["detail"].startswith("page_view (C-ADS, PAID_SEARCH) at 2026-02-26")


def test_a_touch_only_after_lead_creation_does_not_make_marketing(
    store: Store, settings: Settings
) -> None:
    cid = person(store, created={"hubspot": T0}, tools=("hubspot",))
    activity(store, cid, "form_submission", T0 + DAY)
    decide_sources(store, settings)
    assert (sources(store)[cid]["source"], sources(store)[cid]["rule"]) == ("unknown", "none")


def test_a_sales_activity_before_the_first_touch_is_not_a_marketing_origin(
    store: Store, settings: Settings
) -> None:
    cid = person(store, created={"hubspot": T0})
    activity(store, cid, "call", T0 - 2 * DAY)
    activity(store, cid, "page_view", T0 - DAY)
    decide_sources(store, settings)
    assert sources(store)[cid]["source"] == "unknown"


def test_created_in_the_crm_first_makes_sales(store: Store, settings: Settings) -> None:
    cid = person(
        store,
        created={"pipedrive": T0 - 40 * DAY, "hubspot": T0 - 39 * DAY},
        tools=("pipedrive", "hubspot"),
    )
    decide_sources(store, settings)
    row = sources(store)[cid]
    assert (row["source"], row["rule"]) == ("sales", "crm_created")
    assert row["detail"] == f"created in pipedrive at {(T0 - 40 * DAY).isoformat()}"


def test_created_in_the_marketing_tool_first_is_not_sales(store: Store, settings: Settings) -> None:
    cid = person(
        store, created={"hubspot": T0 - 40 * DAY, "pipedrive": T0 - 39 * DAY}, tools=("hubspot",)
    )
    decide_sources(store, settings)
    assert sources(store)[cid]["source"] == "unknown"


def test_without_creation_times_only_the_crm_holding_the_person_means_sales(
    store: Store, settings: Settings
) -> None:
    crm_only = person(store, tools=("pipedrive",))
    both = person(store, tools=("pipedrive", "hubspot"))
    decide_sources(store, settings)
    assert sources(store)[crm_only]["source"] == "sales"
    assert sources(store)[both]["source"] == "unknown"


def test_without_a_crm_the_crm_rule_never_fires(store: Store) -> None:
    cid = person(store, created={"pipedrive": T0 - DAY}, tools=("pipedrive",))
    decide_sources(store, Settings())
    assert sources(store)[cid]["source"] == "unknown"
    assert sources(store)[cid]["rule"] == "none"


def test_a_later_rep_call_does_not_turn_a_marketing_lead_into_a_sales_lead(
    store: Store, settings: Settings
) -> None:
    cid = person(store, created={"hubspot": T0}, tools=("hubspot",))
    activity(store, cid, "form_submission", T0, campaign="C-WEBINAR")
    assert decide_sources(store, settings) == 1
    # Sales calls, the CRM gets the person, and the origin field later says OFFLINE.
    activity(store, cid, "call", T0 + 2 * DAY)
    with store.begin() as conn:
        conn.execute(
            links.insert().values(connector="pipedrive", external_id="p1", customer_id=cid)
        )
        conn.execute(customers.update().values(golden={"lead_source": "OFFLINE"}))
    assert decide_sources(store, settings) == 0
    assert sources(store)[cid]["source"] == "marketing"


def test_a_later_webinar_does_not_turn_a_sales_lead_into_a_marketing_one(
    store: Store, settings: Settings
) -> None:
    cid = person(store, created={"pipedrive": T0 - 10 * DAY}, tools=("pipedrive",))
    # Not yet decided: a webinar after the CRM created the person does not count ...
    activity(store, cid, "event", T0 - 5 * DAY, campaign="C-WEBINAR")
    decide_sources(store, settings)
    assert sources(store)[cid]["source"] == "sales"
    # ... and once decided, nothing that happens later changes it.
    activity(store, cid, "form_submission", T0 - 20 * DAY)
    with store.begin() as conn:
        conn.execute(customers.update().values(golden={"lead_source": "ORGANIC_SEARCH"}))
    decide_sources(store, settings)
    assert sources(store)[cid]["source"] == "sales"


def test_people_without_a_stage_wait_and_reruns_write_nothing(
    store: Store, settings: Settings
) -> None:
    waiting = person(store, lead_at=None, lead_source="PAID_SEARCH")
    decide_sources(store, settings)
    assert waiting not in sources(store)
    with store.begin() as conn:
        conn.execute(
            stage_history.insert().values(
                customer_id=waiting, stage="lead", previous=None, entered_at=T0 + DAY,
                cause="test", rule="test", score=0, model_version="1",
            )
        )  # fmt: skip
    assert decide_sources(store, settings) == 1
    assert sources(store)[waiting]["lead_at"] == T0 + DAY
    assert decide_sources(store, settings) == 0


def test_deleted_activities_are_not_touches(store: Store, settings: Settings) -> None:
    cid = person(store, created={"hubspot": T0})
    activity(store, cid, "page_view", T0 - DAY)
    with store.begin() as conn:
        conn.execute(activities.update().values(deleted=True))
    decide_sources(store, settings)
    assert sources(store)[cid]["source"] == "unknown"


def test_chunks_give_the_same_decisions(store: Store, settings: Settings) -> None:
    ids = [
        person(store, lead_source=["PAID_SEARCH", "OFFLINE", None][i % 3], tools=("pipedrive",))
        for i in range(25)
    ]
    assert decide_sources(store, settings, chunk=4) == 25
    got = sources(store)
    assert [got[c]["source"] for c in ids[:3]] == ["marketing", "sales", "sales"]
    assert got[ids[2]]["rule"] == "crm_created"


def test_crm_connector_prefers_configuration_then_the_one_with_deals() -> None:
    caps = {
        "hubspot": {Capability.PULL_CONTACTS},
        "pipedrive": {Capability.PULL_CONTACTS, Capability.PULL_DEALS},
    }
    assert crm_connector(Settings(), caps) == "pipedrive"
    assert crm_connector(Settings(handoff={"crm": "other"}), caps) == "other"
    assert crm_connector(Settings(sources={"crm": "mine"}, handoff={"crm": "other"})) == "mine"
    both = {**caps, "hubspot": {Capability.PULL_DEALS}}
    assert crm_connector(Settings(), both) is None


def test_a_value_on_both_sides_is_refused() -> None:
    with pytest.raises(ValueError, match="both marketing and sales: offline"):
        Settings(sources={"marketing": ["OFFLINE"], "sales": ["offline"]})


def test_lead_creation_is_the_tools_creation_for_people_older_than_the_daemon(
    store: Store, settings: Settings
) -> None:
    old = person(store, created={"pipedrive": T0 - 40 * DAY, "hubspot": T0 - 10 * DAY})
    new = person(store, created={"hubspot": T0 + DAY})  # created after we first scored it
    decide_sources(store, settings)
    rows = sources(store)
    assert rows[old]["lead_at"] == T0 - 40 * DAY
    assert rows[new]["lead_at"] == T0
