"""``smarketing-sync dlq list | show | retry | drop``: the dead-letter table for people
(what a retry does is in ``dlq.py``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from smarketing_sync import dlq
from smarketing_sync.errors import ConfigError
from smarketing_sync.flow.survivorship import Survivorship
from smarketing_sync.settings import Settings
from smarketing_sync.store.db import Store


def _selected(store: Store, args: Any) -> list[dict[str, Any]]:
    if args.all:
        return dlq.list_letters(store, connector=args.connector)
    if not args.ids:
        raise ConfigError("name the dead letters by id, or pass --all", key="dlq")
    found = [letter for i in args.ids if (letter := dlq.show(store, i)) is not None]
    missing = sorted(set(args.ids) - {letter["id"] for letter in found})
    if missing:
        raise ConfigError(f"no dead letter with id {', '.join(map(str, missing))}", key="dlq")
    return found


def _line(letter: Mapping[str, Any]) -> str:
    state = letter["resolution"] or "open"
    where = "/".join(str(p) for p in (letter["stream"], letter["external_id"]) if p)
    return (
        f"#{letter['id']:<6} {letter['connector']:<12} {letter['stage']:<5} {state:<10} "
        f"attempts={letter['attempts']:<3} {where or '-'}: {str(letter['reason'])[:120]}"
    )


def run_dlq(settings: Settings, store: Store, args: Any) -> int:
    """``dlq list | show | retry | drop``: see the module docstring for what a retry does."""
    if args.action == "list":
        letters = dlq.list_letters(store, connector=args.connector, include_resolved=args.all)
        if args.json:
            print(json.dumps(letters, indent=2, default=str))
            return 0
        for letter in letters:
            print(_line(letter))
        for name, counts in sorted(dlq.summary(store).items()):
            print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
        return 0
    if args.action == "show":
        shown = dlq.show(store, args.id)
        if shown is None:
            raise ConfigError(f"no dead letter with id {args.id}", key="dlq")
        letter = shown
        letter["transient"] = dlq.is_transient(
            letter["stage"], letter["reason"], letter.get("payload")
        )
        due = dlq.next_retry_at(letter, settings.dlq, settings.sync.max_push_attempts)
        letter["next_automatic_retry"] = due.isoformat() if due else None
        print(json.dumps(letter, indent=2, default=str))
        return 0
    letters = _selected(store, args)
    if args.action == "drop":
        print(f"dropped {dlq.drop(store, [letter['id'] for letter in letters])} dead letter(s)")
        return 0
    from smarketing_sync.flow.runtime import build_runtime

    names = {letter["connector"] for letter in letters if letter["stage"] == "map"}
    runtimes = {
        name: build_runtime(name, settings) for name in names if name in settings.connectors
    }
    report = dlq.retry(
        store,
        runtimes,
        letters,
        survivorship=Survivorship(settings.resolve),
        default_region=settings.customer.default_region,
    )
    print(
        f"recovered {report.recovered}, requeued {report.requeued}, "
        f"superseded {report.superseded}, still failing {report.failed}"
    )
    for problem in report.skipped:
        print(f"skipped {problem}", file=sys.stderr)
    return 1 if report.failed or report.skipped else 0
