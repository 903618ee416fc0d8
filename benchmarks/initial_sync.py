"""Initial sync benchmark: N people in each sandbox (half in both), vendor limits enforced on a
compressed clock; then a second cycle that must write nothing.

    .venv/bin/python benchmarks/initial_sync.py [--people 20000] [--time-scale 10]

Prints wall time, people per second, API calls by kind against the minimum implied by page and
batch sizes, 429s received, and the daemon process's peak RSS (sandboxes run in a child process).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_process import SandboxProcess

from smarketing_sync import log as logging_setup
from smarketing_sync.flow.cycle import ConnectorReport, Syncer
from smarketing_sync.flow.runtime import Runtime, build_runtime
from smarketing_sync.sdk.declarations import CursorToken, Offset
from smarketing_sync.settings import Settings
from smarketing_sync.store.db import Store

NAMES = ("hubspot", "pipedrive")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def page_size(rt: Runtime, stream: str) -> int:
    declared = getattr(rt.connector, "page_size", None)
    if callable(declared):
        return int(declared(stream))
    paginate = rt.cls.streams[stream].paginate
    return paginate.limit if isinstance(paginate, Offset | CursorToken) and paginate.limit else 1


def _stream_kinds(rt: Runtime) -> set[str]:
    return {f"{endpoint.method} {endpoint.path}" for endpoint in rt.cls.streams.values()}


def minimum_calls(rt: Runtime, report: ConnectorReport) -> dict[str, int]:
    """The fewest calls the vendor's page and batch sizes allow for what this run moved.

    Pull: one call per full page of each stream. Push: one call per batch of the vendor's
    records-per-request (1 for vendors without a batch endpoint). Support calls: each kind once
    (field definitions, property checks), except association reads (one per 1,000 activities of
    that type) and field creation (one per field created where the vendor has no batch create).
    """
    minimum: dict[str, int] = {}
    pulled = report.pull.per_stream if report.pull is not None else {}
    for stream, count in pulled.items():
        minimum[f"pull {stream}"] = max(1, math.ceil(count / page_size(rt, stream)))
    push = report.push
    if push is not None and push.sent:
        per_request = getattr(rt.cls, "push_records_per_request", rt.cls.push_batch_size)
        minimum["push"] = math.ceil(push.created / per_request) + math.ceil(
            push.updated / per_request
        )
    accounted = _stream_kinds(rt)
    for kind, count in report.api_calls.items():
        if kind in accounted or (push is not None and _is_push_kind(kind)):
            continue
        if "/associations/" in kind:
            stream = kind.split("/associations/")[1].split("/")[0]
            minimum[f"support {kind}"] = max(1, math.ceil(pulled.get(stream, 0) / 1000))
        elif kind.startswith("POST") and "Fields" in kind and report.created_fields:
            minimum[f"support {kind}"] = min(count, len(report.created_fields))
        else:
            minimum[f"support {kind}"] = 1
    return minimum


def _is_push_kind(kind: str) -> bool:
    return (
        any(
            marker in kind
            for marker in (
                "/batch/update",
                "/batch/upsert",
                "/batch/create",
                "PATCH ",
                "POST /api/v2/persons",
                "GET /api/v2/persons/search",
                "GET /api/v2/persons/{id}",
            )
        )
        and "properties" not in kind
    )


def print_report(
    label: str,
    reports: dict[str, ConnectorReport],
    runtimes: dict[str, Runtime],
    seconds: float,
    people: int,
) -> tuple[int, int]:
    print(f"\n== {label}: {seconds:.1f} s wall, {people / seconds:,.0f} people/s")
    total_calls = total_min = 0
    for name, report in reports.items():
        if report.error:
            print(f"  {name}: FAILED {report.error}")
            continue
        calls = sum(report.api_calls.values())
        minimum = minimum_calls(runtimes[name], report)
        least = sum(minimum.values())
        total_calls += calls
        total_min += least
        push = report.push
        print(
            f"  {name}: {calls:,} API calls (minimum {least:,}), 429 received: {report.throttled}"
        )
        for kind, count in sorted(report.api_calls.items()):
            print(f"      {count:>7,}  {kind}")
        print(
            "      minimum by page/batch size: "
            + ", ".join(f"{k}={v:,}" for k, v in minimum.items())
        )
        if push is not None:
            print(
                f"      written: created {push.created:,}, updated {push.updated:,}, "
                f"dead-lettered {push.dead_lettered:,}, retried later {push.retry_later:,}"
            )
    return total_calls, total_min


async def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="smarketing-bench-"))
    print(
        f"people per tool: {args.people:,} (half in both), vendor limits time-compressed "
        f"x{args.time_scale:g}; store {workdir}"
    )
    started = time.monotonic()
    with SandboxProcess(
        NAMES, people=args.people, time_scale=args.time_scale, activities=args.activities
    ) as sandboxes:
        print(
            f"sandboxes seeded in {time.monotonic() - started:.1f} s: "
            + ", ".join(
                f"{n}: {i['people']:,} people, {i['activities']:,} activities, {i['deals']:,} deals"
                for n, i in sandboxes.info.items()
            )
        )
        settings = Settings(  # type: ignore[call-arg]
            data_dir=workdir,
            connectors={n: {"enabled": True} for n in NAMES},
            http={"rate_limit_scale": args.time_scale},
            api={"enabled": False},
        )
        runtimes = {
            n: build_runtime(n, settings, overrides=sandboxes.info[n]["settings"]) for n in NAMES
        }
        store = Store.open(settings.store_url)
        syncer = Syncer(settings, store, runtimes)
        total_people = sum(i["people"] for i in sandboxes.info.values())

        t0 = time.monotonic()
        first = await syncer.run_once(trigger="benchmark")
        t1 = time.monotonic()
        calls, least = print_report("first cycle", first, runtimes, t1 - t0, total_people)
        second = await syncer.run_once(trigger="benchmark")
        t2 = time.monotonic()
        print_report("second cycle (no changes)", second, runtimes, t2 - t1, total_people)
        second_writes = sum(
            r.push.created + r.push.updated for r in second.values() if r.push is not None
        )
        stats = sandboxes.stats()
        store.dispose()
    shutil.rmtree(workdir, ignore_errors=True)
    ratio = calls / least if least else float("nan")
    throttled = sum(s["throttled"] for s in stats.values())
    unhandled = sum(1 for r in (*first.values(), *second.values()) if r.error)
    print("\n== summary")
    print(
        f"  first cycle wall time      {t1 - t0:.1f} s ({total_people / (t1 - t0):,.0f} people/s)"
    )
    print(f"  API calls vs minimum       {calls:,} / {least:,} = {ratio:.3f}  (bar: <= 1.1)")
    print(
        f"  429 answered by sandboxes  {throttled:,} (all waited out and retried: "
        f"{'yes' if unhandled == 0 else 'NO'})"
    )
    print(
        "  people in each tool after  "
        + ", ".join(f"{n}: {s['people']:,}" for n, s in stats.items())
    )
    print(f"  second cycle writes        {second_writes}  (bar: 0)")
    print(f"  peak RSS (daemon process)  {peak_rss_mb():.0f} MB  (bar: <= 300 MB)")
    ok = ratio <= 1.1 and unhandled == 0 and second_writes == 0 and peak_rss_mb() <= 300
    print(f"  verdict                    {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--activities", type=float, default=1.0, help="per person")
    args = parser.parse_args()
    logging_setup.configure("console", "warning")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
