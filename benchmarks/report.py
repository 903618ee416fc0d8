"""Report benchmark: the full default KPI report over a large embedded store.

    .venv/bin/python benchmarks/report.py [--people 100000] [--deals 20000] [--activities 1000000]

The store is generated first (people with sources and stage history, hand-offs with their
events, deals, activities of which about half are marketing touches, campaign costs), with
plain bulk inserts; that time is not part of the figure. The measured run happens in a fresh
child process, so its peak RSS is the report's own: load the facts, compute every KPI, render
JSON. Bar (issue 6): ≤ 10 s and ≤ 500 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from smarketing_sync.handoff.calendar import BusinessCalendar
from smarketing_sync.report.build import build_report
from smarketing_sync.report.facts import load_facts
from smarketing_sync.report.kpis.months import default_range
from smarketing_sync.report.options import ReportOptions
from smarketing_sync.report.render import render
from smarketing_sync.settings import ReportSettings, SlaSettings, TeamCalendar
from smarketing_sync.store.db import Store

AS_OF = datetime(2026, 11, 1, 12, tzinfo=UTC)
ZONE = "Europe/Berlin"
TOUCHES = [
    ("page_view", 25),
    ("email_click", 12),
    ("form_submission", 3),
    ("ad_click", 5),
    ("event", 1),
]
OTHERS = [("email_open", 30), ("call", 8), ("email", 8), ("meeting", 3), ("note", 5)]
CAMPAIGNS = [(f"C-{i:02d}", ("web", "ads", "email", "events")[i % 4]) for i in range(20)]
OWNERS = [f"u{i}" for i in range(12)]
REASONS = ["no budget", "not a fit", "bad timing", "competitor"]


def sla_settings() -> SlaSettings:
    return SlaSettings(
        teams={"sales": TeamCalendar(timezone=ZONE, holiday_country="DE", holiday_subdiv="BY")}
    )


def peak_rss_mb() -> float:
    # VmHWM belongs to this process image; ru_maxrss would also carry the generator's peak.
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ts(at: datetime) -> str:
    """How the store's UtcDateTime keeps a time on SQLite."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def build(
    path: Path, n_people: int, n_deals: int, n_activities: int, seed: int = 7
) -> dict[str, int]:
    Store.open(f"sqlite:///{path}").dispose()  # creates the schema through the migrations
    rng = random.Random(seed)
    calendar = BusinessCalendar.from_settings(sla_settings().team(None))
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    now = ts(AS_OF)
    people, sources, stages, handoffs, events = [], [], [], [], []
    lead_at: dict[int, datetime] = {}
    sql_at: dict[int, datetime] = {}
    for pid in range(1, n_people + 1):
        lead = AS_OF - timedelta(days=rng.uniform(0, 400))
        lead_at[pid] = lead
        source = rng.choices(["marketing", "sales", "unknown"], [60, 30, 10])[0]
        people.append((pid, f"p{pid}@example.com", "{}", "{}", 1, now, now))
        first_seen = ts(lead - timedelta(days=rng.uniform(0, 30))) if rng.random() < 0.5 else None
        sources.append((pid, source, "first_touch", ts(lead), first_seen, now))
        stages.append((pid, "lead", ts(lead), "bench", "bench", 0, "v1"))
        if source == "marketing" and rng.random() < 0.35:
            handed = lead + timedelta(days=rng.uniform(0, 20))
            if handed > AS_OF:
                continue
            stages.append((pid, "mql", ts(handed), "bench", "bench", 60, "v1"))
            hid = len(handoffs) + 1
            decided = handed + timedelta(hours=rng.uniform(0.5, 60))
            decision = rng.choices(["accepted", "rejected", None], [65, 20, 15])[0]
            if decided > AS_OF:
                decision = None
            state, outcome_at = decision or "handed_over", None
            if decision == "accepted" and rng.random() < 0.5:
                outcome_at = decided + timedelta(days=rng.uniform(0, 10))
                if outcome_at <= AS_OF:
                    state = "converted"
                    sql_at[pid] = outcome_at
                    stages.append((pid, "sql", ts(outcome_at), "bench", "bench", 70, "v1"))
                else:
                    outcome_at = None
            reason = rng.choice(REASONS) if decision == "rejected" else None
            handoffs.append(
                (
                    hid,
                    f"h{hid}",
                    pid,
                    "pipedrive",
                    state,
                    reason,
                    rng.choice(OWNERS),
                    "sales",
                    ts(handed),
                    ts(calendar.add(handed, 8)),
                    ts(calendar.add(handed, 4)),
                    ts(decided) if decision else None,
                    ts(outcome_at) if outcome_at else None,
                    "lead",
                    "done",
                    1,
                    now,
                    "{}",
                    now,
                    "v1",
                )
            )
            events.append((hid, "handed_over", ts(handed), "bench", None))
            if decision:
                events.append((hid, decision, ts(decided), "bench", reason))
            if outcome_at:
                events.append((hid, "converted", ts(outcome_at), "bench", None))
        elif source == "sales":
            sql_at[pid] = lead
            stages.append((pid, "sql", ts(lead), "bench", "bench", 0, "v1"))
    db.executemany(
        "INSERT INTO customers (id, email, golden, provenance, rev, created_at, "
        "updated_at) VALUES (?,?,?,?,?,?,?)",
        people,
    )
    db.executemany(
        "INSERT INTO person_sources (customer_id, source, rule, lead_at, first_seen, "
        "decided_at) VALUES (?,?,?,?,?,?)",
        sources,
    )
    deal_rows = []
    candidates = list(sql_at) or list(lead_at)
    for k in range(n_deals):
        pid = rng.choice(candidates)
        created = max(sql_at.get(pid, lead_at[pid]), lead_at[pid]) + timedelta(
            days=rng.uniform(0, 15)
        )
        if created > AS_OF:
            created = AS_OF - timedelta(days=1)
        status = rng.choices(["won", "lost", "open"], [40, 30, 30])[0]
        closed = created + timedelta(days=rng.uniform(1, 90))
        if closed > AS_OF:
            status = "open"
        stages.append((pid, "opportunity", ts(created), "bench", "bench", 0, "v1"))
        if status == "won":
            stages.append((pid, "customer", ts(closed), "bench", "bench", 0, "v1"))
        fields = json.dumps(
            {"owner": rng.choice(OWNERS), "lost_reason": "price" if status == "lost" else None}
        )
        deal_rows.append(
            (
                "pipedrive",
                f"d{k}",
                pid if rng.random() < 0.97 else None,
                "[]",
                status,
                round(rng.uniform(500, 50_000), 2),
                "EUR" if rng.random() < 0.9 else "USD",
                ts(created),
                ts(closed) if status == "won" else None,
                ts(closed) if status == "lost" else None,
                now,
                fields,
                0,
            )
        )
    db.executemany(
        "INSERT INTO deals (connector, external_id, customer_id, contact_ids, status, "
        "amount, currency, created_at, won_at, lost_at, updated_at, fields, deleted) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        deal_rows,
    )
    db.executemany(
        "INSERT INTO stage_history (customer_id, stage, entered_at, cause, rule, score, "
        "model_version) VALUES (?,?,?,?,?,?,?)",
        stages,
    )
    db.executemany(
        "INSERT INTO handoffs (id, key, customer_id, crm, state, reason, owner_id, team, "
        "handed_over_at, decision_due_at, touch_due_at, decided_at, outcome_at, "
        "crm_object, create_status, create_attempts, next_attempt_at, facts, updated_at, "
        "model_version) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        handoffs,
    )
    db.executemany(
        "INSERT INTO handoff_events (handoff_id, state, at, source, reason) VALUES (?,?,?,?,?)",
        events,
    )
    kinds = TOUCHES + OTHERS
    names, weights = [k for k, _ in kinds], [w for _, w in kinds]
    touch_types = {k for k, _ in TOUCHES}
    batch: list[tuple[Any, ...]] = []
    for j in range(n_activities):
        pid = rng.randint(1, n_people)
        kind = rng.choices(names, weights)[0]
        at = lead_at[pid] + timedelta(days=rng.uniform(-20, 60))
        if at > AS_OF:
            at = AS_OF - timedelta(hours=rng.uniform(1, 500))
        if kind in touch_types:
            campaign, channel = rng.choice(CAMPAIGNS)
            fields = f'{{"campaign": "{campaign}", "channel": "{channel}"}}'
        elif kind in ("call", "email", "meeting"):
            fields = f'{{"owner": "{rng.choice(OWNERS)}"}}'
        else:
            fields = "{}"
        batch.append(("hubspot", str(j), pid, "[]", kind, ts(at), ts(at), fields, 0))
        if len(batch) == 100_000:
            db.executemany("INSERT INTO activities VALUES (?,?,?,?,?,?,?,?,?)", batch)
            batch = []
    if batch:
        db.executemany("INSERT INTO activities VALUES (?,?,?,?,?,?,?,?,?)", batch)
    costs = []
    month = AS_OF.replace(day=1)
    for _ in range(14):
        month = (month - timedelta(days=1)).replace(day=1)
        for campaign, channel in CAMPAIGNS:
            costs.append(
                (campaign, month.strftime("%Y-%m"), rng.uniform(1000, 9000), "EUR", channel)
            )
    db.executemany("INSERT INTO campaign_costs VALUES (?,?,?,?,?)", costs)
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return {
        "people": n_people,
        "deals": n_deals,
        "activities": n_activities,
        "handoffs": len(handoffs),
        "stage_entries": len(stages),
    }


def measure(path: Path) -> dict[str, Any]:
    """One measured run in this process: load, compute, render JSON."""
    sla = sla_settings()
    report_settings = ReportSettings(timezone=ZONE, rates={"USD": 0.92}, margin=0.3)
    store = Store.open(f"sqlite:///{path}")
    started = time.perf_counter()
    options = ReportOptions.from_settings(
        report_settings, sla, months=default_range(AS_OF, ZoneInfo(ZONE)), as_of=AS_OF
    )
    facts = load_facts(store, AS_OF, sla_touch_types=sla.touch_types)
    loaded = time.perf_counter()
    report = build_report(facts, options)
    computed = time.perf_counter()
    text = render(report, "json")
    finished = time.perf_counter()
    store.dispose()
    return {
        "seconds": finished - started,
        "load_s": loaded - started,
        "compute_s": computed - loaded,
        "render_s": finished - computed,
        "json_bytes": len(text),
        "touches": sum(len(t) for t in facts.touches.values()),
        "handoffs": len(facts.handoffs),
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.db)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        started = time.perf_counter()
        counts = build(path, args.people, args.deals, args.activities)
        print(
            f"built {counts['people']:,} people, {counts['deals']:,} deals, "
            f"{counts['activities']:,} activities, {counts['handoffs']:,} hand-offs, "
            f"{counts['stage_entries']:,} stage entries in {time.perf_counter() - started:.1f} s"
        )
        # Our own interpreter and script, no outside input: a fresh process, a clean peak RSS.
        out = subprocess.run(  # noqa: S603
            [sys.executable, __file__, "--measure", "--db", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        print(
            f"report: {result['seconds']:.2f} s (load {result['load_s']:.2f} s, compute "
            f"{result['compute_s']:.2f} s, render JSON {result['render_s']:.2f} s), "
            f"{result['touches']:,} touches and {result['handoffs']:,} hand-offs in memory, "
            f"peak RSS {result['peak_rss_mb']:.0f} MB (bar: ≤ 10 s, ≤ 500 MB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
