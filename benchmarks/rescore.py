"""Rescore benchmark: a full rescore of N customers with M activities on the embedded store, then
an incremental rescore after 1% of the customers changed.

    .venv/bin/python benchmarks/rescore.py [--customers 100000] [--activities 1000000]

The store is built first (synthetic customers, activities over the last 400 days, some deals);
each measured run then happens in a fresh child process, so its peak RSS is the rescore's own.
Prints wall time, activities per second and peak memory per run, and the incremental/full ratio.
Bars (issue 3): full ≤ 20 s and ≤ 500 MB on a 2-core machine; incremental ≤ 5% of full.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from smarketing_sync.flow import score as score_stage
from smarketing_sync.flow.resolve import next_rev
from smarketing_sync.scoring import load_model
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import activities, customers, deals

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
TYPES = [
    ("email_open", 30),
    ("email_click", 12),
    ("page_view", 25),
    ("form_submission", 3),
    ("meeting", 3),
    ("call", 4),
    ("email", 10),
    ("note", 8),
    ("unsubscribe", 1),
    ("hard_bounce", 1),
]
TITLES = ["Head of Marketing", "VP Sales", "Engineer", "CMO", "Growth Lead", "Analyst", ""]
DOMAINS = ["acme.de", "gmail.com", "firm.ch", "corp.example", "shop.at", "rival.example"]
BATCH = 20_000


def peak_rss_mb() -> float:
    # VmHWM belongs to this process image; ru_maxrss would also carry the peak of the parent
    # that built the store (Linux keeps it across fork + exec).
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(path: Path, n_customers: int, n_activities: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    store = Store.open(f"sqlite:///{path}", now=lambda: NOW)
    kinds = [t for t, _ in TYPES]
    weights = [w for _, w in TYPES]
    with store.begin() as conn:
        rev = next_rev(conn)
        rows: list[dict[str, Any]] = []
        for i in range(1, n_customers + 1):
            email = f"p{i}@{rng.choice(DOMAINS)}"
            golden = {
                "email": email,
                "job_title": rng.choice(TITLES),
                "country": rng.choice(["DE", "US", "CH", "FR", "AT"]),
                "company": rng.choice(["Acme", "", "Globex"]),
                "lead_status": rng.choice(["NEW", "NEW", "NEW", "CONNECTED", "UNQUALIFIED"]),
            }
            rows.append(
                {"id": i, "email": email, "golden": golden, "provenance": {}, "rev": rev,
                 "created_at": NOW - timedelta(days=rng.uniform(0, 500)), "updated_at": NOW}
            )  # fmt: skip
            if len(rows) == BATCH:
                conn.execute(customers.insert(), rows)
                rows = []
        if rows:
            conn.execute(customers.insert(), rows)
    for start in range(0, n_activities, BATCH * 5):
        with store.begin() as conn:
            batch = []
            for j in range(start, min(start + BATCH * 5, n_activities)):
                at = NOW - timedelta(days=rng.uniform(0, 400))
                batch.append(
                    {"connector": "hubspot", "external_id": str(j),
                     "customer_id": rng.randint(1, n_customers), "contact_ids": [],
                     "type": rng.choices(kinds, weights)[0], "occurred_at": at, "updated_at": at,
                     "fields": {}, "deleted": False}
                )  # fmt: skip
            conn.execute(activities.insert(), batch)
    with store.begin() as conn:
        deal_rows = []
        for k in range(n_customers // 20):
            at = NOW - timedelta(days=rng.uniform(0, 300))
            status = rng.choice(["open", "won", "lost"])
            deal_rows.append(
                {"connector": "pipedrive", "external_id": str(k),
                 "customer_id": rng.randint(1, n_customers), "contact_ids": [], "status": status,
                 "created_at": at, "won_at": at if status == "won" else None, "updated_at": at,
                 "fields": {}, "deleted": False}
            )  # fmt: skip
        conn.execute(deals.insert(), deal_rows)
    store.dispose()


def touch(path: Path, share: float, seed: int = 11) -> int:
    """Give ``share`` of the customers a new activity (what a sync would do)."""
    store = Store.open(f"sqlite:///{path}", now=lambda: NOW)
    rng = random.Random(seed)
    with store.begin() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar() or 0
        picked = rng.sample(range(1, total + 1), int(total * share))
        conn.execute(
            activities.insert(),
            [
                {"connector": "hubspot", "external_id": f"new-{cid}", "customer_id": cid,
                 "contact_ids": [], "type": "email_click", "occurred_at": NOW,
                 "updated_at": NOW + timedelta(minutes=1), "fields": {}, "deleted": False}
                for cid in picked
            ],
        )  # fmt: skip
    store.dispose()
    return len(picked)


def measure(path: Path, mode: str) -> dict[str, Any]:
    """One measured run (in this process): full rescore, or the cycle's incremental stage."""
    model = load_model(ROOT / "scoring.toml")
    store = Store.open(f"sqlite:///{path}", now=lambda: NOW + timedelta(minutes=5))
    started = time.perf_counter()
    if mode == "full":
        stats = score_stage.run(store, model, stale_after=timedelta(hours=24), full=True)
        detect = 0.0
    else:
        picked, _ = score_stage.due(store, model, stale_after=timedelta(hours=24))
        detect = time.perf_counter() - started
        stats = score_stage.rescore(store, model, picked)
    wall = time.perf_counter() - started
    store.dispose()
    return {
        "mode": mode,
        "seconds": wall,
        "detect_seconds": detect,
        "scored": stats.scored,
        "changed": stats.changed,
        "stage_changes": stats.stage_changes,
        "activities": stats.activities,
        "peak_rss_mb": peak_rss_mb(),
    }


def child(path: Path, mode: str) -> dict[str, Any]:
    # Our own interpreter and script, no outside input: a fresh process gives a clean peak RSS.
    out = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--measure", mode, "--db", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def report(result: dict[str, Any]) -> None:
    rate = result["activities"] / result["seconds"] if result["seconds"] else 0.0
    print(
        f"{result['mode']:>11}: {result['seconds']:6.2f} s  scored {result['scored']:,} customers, "
        f"{result['activities']:,} activities ({rate:,.0f}/s), changed {result['changed']:,}, "
        f"stage changes {result['stage_changes']:,}, peak RSS {result['peak_rss_mb']:.0f} MB"
        + (f", detection {result['detect_seconds']:.2f} s" if result["detect_seconds"] else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share changed before rerun")
    parser.add_argument("--measure", choices=["full", "incremental"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.db, args.measure)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        started = time.perf_counter()
        build(path, args.customers, args.activities)
        print(
            f"built {args.customers:,} customers, {args.activities:,} activities "
            f"in {time.perf_counter() - started:.1f} s"
        )
        first = child(path, "full")
        report(first)
        again = child(path, "full")  # every customer already has a score: the steady state
        report({**again, "mode": "full again"})
        touched = touch(path, args.changed)
        inc = child(path, "incremental")
        report(inc)
        print(
            f"incremental after {touched:,} customers ({args.changed:.0%}) changed: "
            f"{inc['seconds'] / again['seconds']:.1%} of a full rescore"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
