"""Hand-off edge cases in whole cycles: a lost answer never makes a second lead, and HubSpot
as the CRM (owner, lifecycle stage and a task; the seller's lead status answers)."""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smarketing_sync import TransientError, dlq, registry
from smarketing_sync.flow.cycle import Syncer
from smarketing_sync.flow.runtime import build_runtime
from smarketing_sync.flow.survivorship import Survivorship
from smarketing_sync.settings import Settings
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import customers, handoffs
from smarketing_sync.testing.population import Population
from smarketing_sync.testing.sandbox import SandboxServer

from .harness import norm, world
from .test_handoff_flow import handoff_settings, make_mqls

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


async def test_a_lost_answer_is_looked_up_not_created_twice(tmp_path: Path) -> None:
    with world(tmp_path, people=40, extra=handoff_settings("http://127.0.0.1:9")) as w:
        crm = w.runtimes["pipedrive"].connector
        real = crm.create_handoffs
        lost: list[str] = []

        async def answer_lost(http: Any, requests: Any) -> Any:
            # the CRM does the work, then the connection drops before we hear back
            await real(http, requests)
            lost.extend(r.key for r in requests)
            raise TransientError("connection reset while reading the answer")

        crm.create_handoffs = answer_lost
        await make_mqls(w, 2)
        assert len(lost) == 2
        with w.store.read() as conn:
            rows = conn.execute(sa.select(handoffs)).all()
        assert {(r.create_status, r.create_attempts) for r in rows} == {("pending", 1)}
        assert len(w.crm.leads()) == 2  # type: ignore[attr-defined]

        crm.create_handoffs = real
        with w.store.begin() as conn:  # the backoff is over
            conn.execute(handoffs.update().values(next_attempt_at=w.store.now()))
        await w.cycle()
        with w.store.read() as conn:
            rows = conn.execute(sa.select(handoffs)).all()
        assert {(r.create_status, r.create_attempts) for r in rows} == {("done", 2)}
        assert len(w.crm.leads()) == 2  # type: ignore[attr-defined]
        lead_ids = {lead["id"] for lead in w.crm.leads()}  # type: ignore[attr-defined]
        assert {r.crm_object_id for r in rows} == lead_ids
        tasks = [t for t in w.crm.tasks() if t.get("lead_id")]  # type: ignore[attr-defined]
        assert len(tasks) == 2


async def test_hubspot_as_the_crm(tmp_path: Path) -> None:
    """One tool: HubSpot is where sales works. The hand-off is a task for the owner, the owner
    and lifecycle stage are written by the push mapping, and the lead status answers."""
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    shutil.copy(MAPPINGS / "hubspot.toml", mappings / "hubspot.toml")
    with (mappings / "hubspot.toml").open("a") as fh:
        fh.write('\n[push.contacts.fields.hubspot_owner_id]\nfrom = "handoff.owner"\n')
    population = Population.generate(("hubspot", "pipedrive"), n_per_tool=30, overlap=0.5, seed=5)
    with ExitStack() as stack:
        module = registry.sandbox_module(registry.load_connector("hubspot"))
        sandbox: Any = module.create_sandbox(population.for_tool("hubspot"), time_scale=50.0)
        server = stack.enter_context(SandboxServer(sandbox.app()))
        owners = [o["id"] for o in sandbox.owners()]
        settings = Settings(  # type: ignore[call-arg]
            data_dir=tmp_path / "data",
            mappings_dir=mappings,
            connectors={"hubspot": {"enabled": True}},
            http={"rate_limit_scale": 50.0, "max_backoff_s": 0.5, "initial_backoff_s": 0.05},
            api={"enabled": False},
            handoff={
                "enabled": True,
                "crm": "hubspot",
                "object": "task",
                # the seeded contacts belong to the first owner: treat it as the integration
                # user, so they get a real owner by round robin
                "integration_user": owners[0],
                "owners": [{"id": owners[3], "name": "Kim"}, {"id": owners[4], "name": "Lee"}],
            },
        )
        runtime = build_runtime(
            "hubspot", settings, overrides=sandbox.connector_settings(server.url)
        )
        store = Store.open(settings.store_url)
        stack.callback(store.dispose)
        syncer = Syncer(settings, store, {"hubspot": runtime})

        async def cycle() -> None:
            reports = await syncer.run_once()
            assert all(r.error is None for r in reports.values()), reports

        await cycle()
        seeded_owner = {norm(p["email"]): p for p in sandbox.people()}
        candidates = [
            e for e, p in seeded_owner.items() if str(p.get("owner_id") or "") in ("", owners[0])
        ][:2]
        human = next(e for e, p in seeded_owner.items() if p.get("owner_id") == owners[1])
        for email in [*candidates, human]:
            contact = sandbox.person_by_email(email)
            sandbox.edit_person(contact["id"], jobtitle="Head of Marketing", company="Acme GmbH")
            for kind in ("meeting", "meeting", "call", "call"):
                sandbox.add_activity(contact["id"], kind, f"{kind} about pricing")
        await cycle()
        await cycle()
        with store.read() as conn:
            rows = {
                row.email: row
                for row in conn.execute(
                    sa.select(handoffs, customers.c.email).join(
                        customers, customers.c.id == handoffs.c.customer_id
                    )
                )
            }
        assert set(rows) >= {*candidates, human}
        assert (rows[human].owner_source, rows[human].owner_id) == ("crm", owners[1])
        assert [rows[e].owner_id for e in candidates] == [owners[3], owners[4]]
        for email in [*candidates, human]:
            row = rows[email]
            assert row.create_status == "done", row.last_error
            contact = sandbox.person_by_email(email)
            tasks = sandbox.tasks(contact["id"])
            assert len(tasks) == 1
            assert tasks[0]["owner_id"] == row.owner_id
            # the owner we chose is on the contact; the seller's own choice was left alone
            assert contact["owner_id"] == row.owner_id

        rejected = candidates[0]
        sandbox.set_lead_status(sandbox.person_by_email(rejected)["id"], "UNQUALIFIED")
        await cycle()
        await cycle()
        with store.read() as conn:
            state, reason = conn.execute(
                sa.select(handoffs.c.state, handoffs.c.reason)
                .join(customers, customers.c.id == handoffs.c.customer_id)
                .where(customers.c.email == rejected)
            ).one()
        assert (state, reason) == ("recycled", "UNQUALIFIED")
        contact = sandbox.person_by_email(rejected)
        assert contact["fields"]["smarketing_handoff_status"] == "recycled"
        assert contact["fields"]["smarketing_handoff_reason"] == "UNQUALIFIED"


async def test_a_refused_handoff_is_dead_lettered_and_retried_by_hand(tmp_path: Path) -> None:
    with world(tmp_path, people=40, extra=handoff_settings("http://127.0.0.1:9")) as w:
        w.crm.inject("POST", "/api/v1/leads", 400)  # type: ignore[attr-defined]
        await make_mqls(w, 1)
        with w.store.read() as conn:
            row = conn.execute(sa.select(handoffs)).one()
        assert row.create_status == "dead", row.last_error
        letters = dlq.list_letters(w.store, connector="pipedrive")
        assert [(letter["stage"], letter["external_id"]) for letter in letters] == [
            ("handoff", row.key)
        ]
        assert "creating the hand-off in pipedrive failed" in letters[0]["reason"]
        assert w.crm.leads() == []  # type: ignore[attr-defined]

        report = dlq.retry(
            w.store, w.runtimes, letters, survivorship=Survivorship(w.settings.resolve)
        )
        assert report.requeued == 1
        await w.cycle()
        with w.store.read() as conn:
            row = conn.execute(sa.select(handoffs)).one()
        assert row.create_status == "done"
        assert len(w.crm.leads()) == 1  # type: ignore[attr-defined]
        assert dlq.list_letters(w.store, connector="pipedrive") == []
