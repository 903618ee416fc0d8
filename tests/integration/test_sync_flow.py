"""The whole cycle against both sandboxes over loopback (HubSpot ⇄ Pipedrive)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smarketing_sync.flow import push as push_stage
from smarketing_sync.store.schema import customers, outbox

from .harness import CRM, MA, World, emails, norm, world, writes


def person(sandbox: Any, email: str) -> dict[str, Any]:
    found = sandbox.person_by_email(email)
    assert found is not None, f"{email} missing in {sandbox.name}"
    return dict(found)


def shared_email(w: World) -> str:
    crm = {norm(p["email"]) for p in w.crm.people()}
    return next(norm(p["email"]) for p in w.ma.people() if norm(p["email"]) in crm)


def no_duplicates(w: World) -> None:
    for sandbox in (w.ma, w.crm):
        counts = Counter(emails(sandbox))
        assert [e for e, n in counts.items() if n > 1] == [], sandbox.name


async def test_initial_sync_matches_and_creates_on_both_sides(tmp_path: Path) -> None:
    with world(tmp_path, people=60) as w:
        before_ma, before_crm = set(emails(w.ma)), set(emails(w.crm))
        assert len(before_ma & before_crm) == 30
        reports = await w.cycle()
        assert reports[CRM].pull is not None and reports[CRM].pull.resolve.matched == 30
        assert set(emails(w.ma)) == set(emails(w.crm)) == before_ma | before_crm
        assert reports[MA].push is not None and reports[MA].push.created == 30
        assert reports[CRM].push is not None and reports[CRM].push.created == 30
        no_duplicates(w)
        with w.store.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar() == 90
        # People created in the CRM arrive complete, not as bare email addresses.
        for p in w.crm.people():
            assert p["first_name"] and p["last_name"]


async def test_second_cycle_without_changes_writes_nothing(tmp_path: Path) -> None:
    with world(tmp_path, people=40) as w:
        await w.cycle()
        again = await w.cycle()
        assert writes(again) == 0
        third = await w.cycle()
        assert writes(third) == 0
        with w.store.read() as conn:
            pending = conn.execute(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.status != "done")
            ).scalar()
        assert pending == 0


async def test_changes_on_each_side_arrive_on_the_other(tmp_path: Path) -> None:
    with world(tmp_path, people=40) as w:
        await w.cycle()
        email = shared_email(w)
        w.ma.edit_person(person(w.ma, email)["id"], job_title="Head of Growth")
        reports = await w.cycle()
        # The title goes to Pipedrive; "Head of" also raises the fit score, so the new score
        # goes to both tools (Pipedrive's in the same write as the title).
        assert writes(reports) == 2
        assert person(w.crm, email)["job_title"] == "Head of Growth"
        w.crm.edit_person(person(w.crm, email)["id"], last_name="Okafor-Smith")
        reports = await w.cycle()
        assert writes(reports) == 1
        assert person(w.ma, email)["last_name"] == "Okafor-Smith"
        assert writes(await w.cycle()) == 0


@pytest.mark.parametrize(
    ("resolve", "winner"),
    [
        ({"default": "most_recent"}, "crm"),  # the CRM edit is the later one
        ({"fields": {"job_title": {"rule": "precedence", "order": [MA, CRM]}}}, "ma"),
        ({"fields": {"job_title": {"rule": "prefer", "prefer": MA}}}, "ma"),
    ],
    ids=["most_recent", "precedence", "prefer"],
)
async def test_conflict_settled_by_each_rule(
    tmp_path: Path, resolve: dict[str, Any], winner: str
) -> None:
    with world(tmp_path, people=30, resolve=resolve) as w:
        await w.cycle()
        email = shared_email(w)
        w.ma.edit_person(person(w.ma, email)["id"], job_title="Title from marketing")
        # Pipedrive's update_time has second precision: make the CRM edit unambiguously later.
        await asyncio.sleep(1.1)
        w.crm.edit_person(person(w.crm, email)["id"], job_title="Title from sales")
        await w.cycle()
        await w.cycle()
        expected = "Title from marketing" if winner == "ma" else "Title from sales"
        with w.store.read() as conn:
            golden = conn.execute(
                sa.select(customers.c.golden).where(customers.c.email == email)
            ).scalar_one()
        assert golden["job_title"] == expected
        if resolve.get("default") == "most_recent":
            assert person(w.ma, email)["job_title"] == expected
            assert person(w.crm, email)["job_title"] == expected


async def test_prefer_unless_blank_falls_back(tmp_path: Path) -> None:
    resolve = {"fields": {"city": {"rule": "prefer", "prefer": CRM}}}
    with world(tmp_path, people=30, resolve=resolve) as w:
        await w.cycle()
        email = shared_email(w)
        w.crm.edit_person(person(w.crm, email)["id"], city="")
        w.ma.edit_person(person(w.ma, email)["id"], city="Lisboa")
        await w.cycle()
        with w.store.read() as conn:
            golden = conn.execute(
                sa.select(customers.c.golden).where(customers.c.email == email)
            ).scalar_one()
        assert golden["city"] == "Lisboa"


async def test_email_changed_in_one_tool_stays_one_person(tmp_path: Path) -> None:
    with world(tmp_path, people=30) as w:
        await w.cycle()
        email = shared_email(w)
        local, domain = email.split("@")
        new_email = f"{local}.new@{domain}"
        w.ma.edit_person(person(w.ma, email)["id"], email=new_email)
        await w.cycle()
        await w.cycle()
        no_duplicates(w)
        with w.store.read() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar()
        assert count == 45
        assert w.ma.person_by_email(email) is None
        assert len(w.ma.people()) == len(w.crm.people()) == 45


async def test_crash_in_the_middle_of_a_push_then_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reference run, without a crash.
    with world(tmp_path / "ref", people=60) as ref:
        await ref.cycle()
        expected = (emails(ref.ma), emails(ref.crm))

    with world(tmp_path / "crash", people=60) as w:
        real_settle = push_stage._settle
        calls = {"n": 0}

        def crash_after_vendor_accepted(*args: Any, **kwargs: Any) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                # The vendor took the batch; the process dies before recording it.
                raise KeyboardInterrupt("simulated crash")
            real_settle(*args, **kwargs)

        monkeypatch.setattr(push_stage, "_settle", crash_after_vendor_accepted)
        with pytest.raises(KeyboardInterrupt):
            await w.syncer().run_once()
        monkeypatch.setattr(push_stage, "_settle", real_settle)
        await w.cycle()
        await w.cycle()
        assert (emails(w.ma), emails(w.crm)) == expected
        no_duplicates(w)
        assert writes(await w.cycle()) == 0
