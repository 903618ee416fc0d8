"""The `smarketing-sync` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smarketing_sync import log as logging_setup
from smarketing_sync import registry
from smarketing_sync.errors import ConfigError, StoreError, SyncError
from smarketing_sync.settings import Settings, config_path, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smarketing-sync",
        description="Sync marketing automation and CRM into one customer record.",
    )
    parser.add_argument("--config", type=Path, help="config file (default: ./config.toml)")
    parser.add_argument("--log-format", choices=["auto", "json", "console"])
    parser.add_argument("--log-level", help="debug, info, warning, error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="validate config, connectors and mappings")
    check.add_argument("--live", action="store_true", help="also call each tool's check endpoint")

    connectors = sub.add_parser("connectors", help="connector discovery")
    connectors_sub = connectors.add_subparsers(dest="action", required=True, metavar="ACTION")
    connectors_sub.add_parser("list", help="name, origin, capabilities and streams of each")

    sub.add_parser("run", help="run the daemon (scheduler + admin API) until SIGTERM")

    resync = sub.add_parser("resync", help="sync one connector now (waits for a running sync)")
    resync.add_argument("connector")
    resync.add_argument("--full", action="store_true", help="re-read everything, not just changes")
    resync.add_argument("--stream", help="with --full: only this stream's cursor is reset")
    resync.add_argument(
        "--wait",
        type=float,
        default=600.0,
        help="seconds to wait for a running sync of it (default 600)",
    )

    explain = sub.add_parser(
        "explain", help="why a person has their score and stage, and what would change it"
    )
    explain.add_argument("who", help="email address or customer id")
    status = sub.add_parser("status", help="per connector: last run, cursors, queues, errors")
    status.add_argument("--json", action="store_true")

    dead = sub.add_parser("dlq", help="dead letters: list, show, retry, drop")
    dead_sub = dead.add_subparsers(dest="action", required=True, metavar="ACTION")
    dead_list = dead_sub.add_parser("list", help="open dead letters (newest last)")
    dead_list.add_argument("--connector")
    dead_list.add_argument("--all", action="store_true", help="resolved ones too")
    dead_list.add_argument("--json", action="store_true")
    dead_show = dead_sub.add_parser("show", help="one dead letter with its payload")
    dead_show.add_argument("id", type=int)
    for action, text in (("retry", "retry now (push: back in the outbox)"), ("drop", "give up")):
        parser_ = dead_sub.add_parser(action, help=text)
        parser_.add_argument("ids", type=int, nargs="*", metavar="ID")
        parser_.add_argument("--all", action="store_true", help="every open dead letter")
        parser_.add_argument("--connector", help="with --all: only this connector's")

    handoffs = sub.add_parser("handoffs", help="hand-offs to sales with their SLA clocks")
    handoffs.add_argument(
        "--state",
        action="append",
        choices=["handed_over", "accepted", "rejected", "converted", "recycled", "open"],
        help="only these states (repeatable; open = handed_over or accepted)",
    )
    handoffs.add_argument("--breached", action="store_true", help="only SLA breaches")
    handoffs.add_argument("--owner", help="only this owner (CRM user id or configured name)")
    handoffs.add_argument("--limit", type=int, default=50, help="newest N (default 50; 0: all)")
    handoffs.add_argument("--json", action="store_true")

    report = sub.add_parser("report", help="the shared KPI report (docs/kpis.md)")
    report.add_argument("--from", dest="from_month", metavar="YYYY-MM", help="first month")
    report.add_argument("--to", dest="to_month", metavar="YYYY-MM", help="last month")
    report.add_argument("--as-of", dest="as_of", help="ISO date/time; nothing later is read")
    report.add_argument("--timezone", "--tz", dest="timezone", help="reporting time zone (IANA)")
    report.add_argument(
        "--format", choices=["table", "csv", "json", "html"], default="table", dest="fmt"
    )
    report.add_argument("--output", "-o", type=Path, help="write to this file (html: required)")
    report.add_argument(
        "--model",
        choices=["first", "lead_creation", "last", "linear", "w_shaped"],
        help="attribution model of the campaign table",
    )
    report.add_argument("--explain", metavar="KPI", help="list the people/deals behind a KPI")
    report.add_argument("--month", metavar="YYYY-MM", help="with --explain: one month")
    report.add_argument(
        "--facts",
        type=Path,
        metavar="FILE",
        help="read the facts from this JSON file instead of the store (docs/kpis.md)",
    )

    demo = sub.add_parser("demo", help="offline demo: sandboxes on loopback, no accounts needed")
    demo.add_argument("--once", action="store_true", help="end after one full cycle")
    demo.add_argument("--people", type=int, default=2000, help="people per tool (default 2000)")
    demo.add_argument(
        "--serve",
        action="store_true",
        help="after the story, keep the daemon and sandboxes running",
    )
    demo.add_argument("--data-dir", type=Path, default=Path("data/demo"))
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    logging_setup.configure(
        args.log_format or settings.log_format, args.log_level or settings.log_level
    )
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"store error: {exc}", file=sys.stderr)
        return 3
    except SyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from smarketing_sync.demo import run_demo

        # The story is told in plain words (429s and retries are counted there); log errors only.
        logging_setup.configure(args.log_format or "console", args.log_level or "error")
        return run_demo(
            people=args.people, once=args.once, serve=args.serve, data_dir=args.data_dir
        )
    if args.command == "connectors":
        logging_setup.configure(args.log_format or "console", args.log_level or "warning")
        return _connectors_list(args)
    settings = _settings(args)
    if args.command == "check":
        from smarketing_sync.checks import run_check

        return run_check(settings, live=args.live, where=str(config_path(args.config) or "config"))
    if args.command == "status":
        return _status(settings, as_json=args.json)
    if args.command == "explain":
        return _explain(settings, args.who)
    if args.command == "run":
        return _run(settings)
    if args.command == "resync":
        return _resync(settings, args)
    if args.command == "handoffs":
        from smarketing_sync.handoff.cli import run_handoffs

        return run_handoffs(settings, _open_store(settings), args)
    if args.command == "report":
        from smarketing_sync.report.cli import run_report, run_report_on_file

        if args.facts is not None:
            return run_report_on_file(settings, args)
        return run_report(settings, _open_store(settings), args)
    if args.command == "dlq":
        from smarketing_sync.dlq_cli import run_dlq

        return run_dlq(settings, _open_store(settings), args)
    raise AssertionError(args.command)


def _connectors_list(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        dirs = [*registry.default_dirs(), *settings.connector_dirs]
    except ConfigError:
        dirs = registry.default_dirs()
    failed = 0
    for name, found in sorted(registry.discover(dirs).items()):
        try:
            cls = found.loader()
            registry.validate_declaration(cls)
        except ConfigError as exc:
            failed += 1
            print(f"{name}\n  origin: {found.origin}\n  error: {exc}")
            continue
        caps = ", ".join(sorted(c.value for c in cls.capabilities))
        print(f"{name}\n  origin: {found.origin}\n  capabilities: {caps}")
        for stream, endpoint in cls.streams.items():
            cursor = endpoint.cursor.field if endpoint.cursor else "full read"
            print(
                f"  stream {stream}: {endpoint.kind}, {endpoint.method} {endpoint.path} "
                f"(cursor {cursor})"
            )
    return 1 if failed else 0


def _runtimes(settings: Settings, where: str = "config") -> dict[str, Any]:
    from smarketing_sync.flow.runtime import build_runtime

    names = settings.enabled_connectors()
    if not names:
        raise ConfigError(
            "no connector is configured",
            file=where,
            key="connectors",
            expected="at least one [connectors.<name>] section",
        )
    return {name: build_runtime(name, settings, where=where) for name in names}


def _open_store(settings: Settings) -> Any:
    from smarketing_sync.store.db import Store

    return Store.open(settings.store_url, busy_timeout_s=settings.store.busy_timeout_s)


def _status(settings: Settings, *, as_json: bool) -> int:
    from smarketing_sync.status import collect_status

    status = collect_status(_open_store(settings), settings)
    if as_json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    print(
        f"customers {status['customers']}   activities {status['activities']}   "
        f"deals {status['deals']}"
    )
    for name, info in status["connectors"].items():
        run = info["last_run"]
        print(f"\n{name}")
        if run:
            print(
                f"  last run   {run.get('started_at')} {run.get('status')} ({run.get('trigger')})"
            )
            counts = run.get("counts") or {}
            interesting = {k: v for k, v in counts.items() if v}
            if interesting:
                print("  counts     " + ", ".join(f"{k}={v}" for k, v in interesting.items()))
            if run.get("error"):
                print(f"  error      {run['error']}")
        for stream, value in info["cursors"].items():
            print(f"  cursor     {stream}: {value}")
        print(f"  linked     {info['people_linked']} people")
        print(f"  outbox     {info['outbox_pending']} pending")
        print(f"  dead       {info['dead_letters']} dead letters")
        budget = info.get("api_budget")
        if budget:
            state_text = "REACHED, resumes" if budget["exhausted"] else "window ends"
            print(
                f"  API budget {budget['used']:,} of {budget['budget']:,} calls today "
                f"({state_text} {budget['window_end']})"
            )
    sla = status.get("sla")
    if sla:
        print(f"\nSLA, hand-offs of the last {sla['days']} days: {sla['handoffs']}")
        for clock, label in (("decision", "decision"), ("first_touch", "first touch")):
            info = sla[clock]
            rate = "n/a" if info["rate"] is None else f"{info['rate']:.0%}"
            print(
                f"  {label:<12} {rate} within {info['within_h']:g} business hours "
                f"({info['met']} of {info['evaluable']} evaluable)"
            )
        print(f"  pending      {sla['pending']} not yet due")
        print(f"  breaches     {sla['open_breaches']} open now")
    return 0


def _explain(settings: Settings, who: str) -> int:
    from smarketing_sync.checks import scoring_model
    from smarketing_sync.scoring.explain import explain

    print(explain(_open_store(settings), scoring_model(settings), who))
    return 0


def _run(settings: Settings) -> int:
    from smarketing_sync.daemon import Daemon

    daemon = Daemon(settings, _open_store(settings), _runtimes(settings))
    return asyncio.run(daemon.run())


def _resync(settings: Settings, args: argparse.Namespace) -> int:
    from smarketing_sync.flow.cycle import Syncer
    from smarketing_sync.flow.runtime import build_runtime
    from smarketing_sync.store import state

    if args.connector not in settings.connectors:
        raise ConfigError(
            f"connector {args.connector!r} is not configured",
            key=f"connectors.{args.connector}",
            expected="one of: " + ", ".join(settings.connectors),
        )
    runtime = build_runtime(args.connector, settings)
    store = _open_store(settings)
    syncer = Syncer(settings, store, {args.connector: runtime})

    async def go() -> Any:
        if args.full:
            await syncer.acquire(args.connector, wait=args.wait)
            with store.begin() as conn:
                cleared = state.clear_cursors(conn, args.connector, args.stream)
            print(f"reset {cleared} cursor(s) of {args.connector}")
        return await syncer.run_once(
            [args.connector], trigger="resync", full=args.full, wait_for_lock=args.wait
        )

    report = asyncio.run(go())[args.connector]
    counts = report.counts()
    print(f"{args.connector}: " + ", ".join(f"{k}={v}" for k, v in counts.items() if v))
    if report.error:
        print(f"error: {report.error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
