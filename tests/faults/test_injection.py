"""Vendors misbehaving over loopback: nothing read is skipped, nothing written is lost or doubled.

Each test runs the same world twice — once clean, once with faults — and compares the end
state of both sandboxes and the store.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from smarketing_sync import dlq
from smarketing_sync.store.schema import activities, customers, links
from smarketing_sync.testing.faults import FaultConfig, FaultInjector

from .world import CRM, MA, FaultWorld, emails, fault_world, norm

QUICK = {"http": {"max_attempts": 8}}


def snapshot(w: FaultWorld) -> dict[str, Any]:
    """What must not depend on faults: people on each side, and the store's people and links."""
    with w.store.read() as conn:
        people = sorted(conn.execute(sa.select(customers.c.email)).scalars().all())
        linked = Counter(conn.execute(sa.select(links.c.connector)).scalars().all())
        acts = conn.execute(sa.select(sa.func.count()).select_from(activities)).scalar_one()
    return {
        MA: emails(w.sandboxes[MA]),
        CRM: emails(w.sandboxes[CRM]),
        "store": people,
        "links": dict(linked),
        "activities": acts,
        "titles": {norm(p["email"]): (p["job_title"] or None) for p in w.sandboxes[CRM].people()},
    }


def no_duplicates(w: FaultWorld) -> None:
    for name in (MA, CRM):
        counts = Counter(emails(w.sandboxes[name]))
        assert [e for e, n in counts.items() if n > 1] == [], name


async def converge(w: FaultWorld, cycles: int = 2) -> None:
    for _ in range(cycles):
        reports = await w.cycle()
        assert all(r.error is None for r in reports.values()), {
            n: r.error for n, r in reports.items()
        }


async def test_injector_is_deterministic_counts_by_kind_and_has_an_admin_endpoint() -> None:
    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"ok": true, "pad": "xxxxxxxx"}'})

    config = FaultConfig(seed=5, error_rate=0.2, storm_rate=0.1, malformed_rate=0.2)

    async def statuses(injector: FaultInjector) -> list[tuple[int, str]]:
        transport = httpx.ASGITransport(app=injector)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            return [((r := await client.get("/x")).status_code, r.text) for _ in range(60)]

    first, second = FaultInjector(inner, config), FaultInjector(inner, config)
    assert await statuses(first) == await statuses(second)
    counts = first.counts()
    assert counts["status_5xx"] > 0 and counts["malformed"] > 0
    assert counts.get("429_after", 0) + counts.get("429_bare", 0) >= config.storm_length
    assert sum(counts.values()) == 60
    transport = httpx.ASGITransport(app=first)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        state = (await client.get("/__faults")).json()
        assert state["counts"] == counts and state["config"]["seed"] == 5
        changed = await client.put(
            "/__faults", json={"error_rate": 1.0, "storm_rate": 0.0, "malformed_rate": 0.0}
        )
        assert changed.json()["config"]["error_rate"] == 1.0
        assert (await client.get("/x")).status_code >= 500
        assert (await client.put("/__faults", json={"nope": 1})).status_code == 400
        assert (await client.put("/__faults", json={"error_rate": 2})).status_code == 400
        await client.delete("/__faults")
        assert (await client.get("/x")).status_code == 200
    with pytest.raises(ValueError, match="add up"):
        FaultConfig(error_rate=0.6, drop_rate=0.6)


@pytest.mark.slow
async def test_flaky_reads_and_writes_end_where_a_clean_run_ends(tmp_path: Path) -> None:
    with fault_world(tmp_path / "clean", people=40, **QUICK) as clean:
        await converge(clean)
        expected = snapshot(clean)
    faults = FaultConfig(
        seed=3,
        error_rate=0.08,
        drop_rate=0.04,
        timeout_rate=0.02,
        hang_s=2.5,
        storm_rate=0.03,
        slow_rate=0.05,
        slow_s=0.05,
    )
    with fault_world(tmp_path / "faulty", people=40, **QUICK) as w:
        for name in (MA, CRM):
            w.faults(name).configure(faults)
        await converge(w)
        injected = {name: w.faults(name).counts() for name in (MA, CRM)}
        for name in (MA, CRM):
            w.faults(name).configure(FaultConfig.off())
        await converge(w, 1)  # anything dead-lettered by exhausted retries is retried by now
        got = snapshot(w)
        no_duplicates(w)
        assert got == expected
        kinds = Counter[str]()
        for counts in injected.values():
            kinds.update({k: v for k, v in counts.items() if k != "passed"})
        assert {"status_5xx", "drop", "timeout"} <= set(kinds), kinds
        assert dlq.list_letters(w.store) == []


async def test_garbled_page_fails_the_read_which_resumes_without_a_gap(tmp_path: Path) -> None:
    with fault_world(tmp_path / "clean", people=30, **QUICK) as clean:
        await converge(clean)
        expected = snapshot(clean)
    with fault_world(tmp_path / "faulty", people=30, **QUICK) as w:
        # Every list read from Pipedrive comes back truncated: the pull stops with a message
        # naming the request; HubSpot goes on and is not pushed half-read Pipedrive data.
        w.faults(CRM).configure(malformed_rate=1.0, methods=("GET",), paths=("/api/v2/persons",))
        reports = await w.cycle()
        error = reports[CRM].error or ""
        assert "not JSON" in error and "/api/v2/persons" in error
        assert reports[MA].error is None
        w.faults(CRM).configure(FaultConfig.off())
        await converge(w)
        no_duplicates(w)
        assert snapshot(w) == expected


async def test_one_bad_record_in_a_batch_is_isolated_with_the_vendor_reason(
    tmp_path: Path,
) -> None:
    with fault_world(tmp_path, people=30, **QUICK) as w:
        await converge(w)
        crm = w.sandboxes[CRM]
        shared = [p for p in crm.people() if w.sandboxes[MA].person_by_email(p["email"])][:4]
        assert len(shared) == 4
        # HubSpot's schema says lastname is a number now: one update in the batch violates it.
        w.sandboxes[MA].portal.properties["contacts"]["lastname"].type = "number"
        crm.edit_person(shared[0]["id"], last_name="Springfield")
        for person in shared[1:]:
            crm.edit_person(person["id"], job_title=f"Title of {person['id']}")
        reports = await w.cycle()
        push = reports[MA].push
        assert reports[MA].error is None and push is not None
        assert (push.updated, push.dead_lettered) == (3, 1)
        for person in shared[1:]:
            found = w.sandboxes[MA].person_by_email(person["email"])
            assert found is not None and found["job_title"] == f"Title of {person['id']}"
        [letter] = dlq.list_letters(w.store)
        assert (
            letter["connector"] == MA and "Springfield was not a valid number" in letter["reason"]
        )
        assert letter["payload"]["values"] == {"lastname": "Springfield"}
