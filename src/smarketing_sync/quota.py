"""The daily API budget of each connector: never spend more than a share of the vendor's quota.

A connector declares ``RateLimit.daily_limit`` (requests per day). We may spend
``[quota] daily_share`` of it (per connector: ``[quota.shares]``) in each window of one day;
with ``http.rate_limit_scale`` the day is compressed like the vendors' windows in the sandboxes.
A window starts with the first call after the previous one ended.

The HTTP layer asks the budget before every request through a hook (``Http.quota_hook``). Calls
are *reserved* from the store in blocks, so the store is written once per block rather than once
per call, and several processes (daemon, a manual resync) share one budget. A crash loses the
unused part of a block, which counts as spent: the error is on the side of never overspending.

When the budget is spent the run stops after the page or batch in flight, with a clear log line
(``quota.reached``) and a ``QuotaExhausted`` error in ``status``; a later run in the same window
stops before its first call. Pages and batches already committed stay committed, so the next
window resumes from the cursors and the outbox where this one stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog

from smarketing_sync.errors import SyncError
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import quota_usage

log = structlog.get_logger("smarketing_sync.quota")

DAY = timedelta(days=1)
BLOCK = 25  # calls reserved per store write


class QuotaExhausted(SyncError):
    """This connector spent its share of the vendor's daily quota; it resumes next window."""

    def __init__(self, message: str, *, resumes_at: datetime) -> None:
        self.resumes_at = resumes_at
        super().__init__(message)


@dataclass(slots=True)
class Usage:
    connector: str
    window_start: datetime
    window_end: datetime
    used: int
    budget: int
    exhausted_at: datetime | None


class QuotaBudget:
    """One connector's budget; ``hook`` is what ``Http.quota_hook`` calls before each request.

    Two limits: the *budget* (the configured share) stops the run cleanly between pages and
    batches (``reached``, ``check``); the vendor's whole declared daily limit is the hard cap
    the hook enforces request by request, so a batch in flight can finish (a batch whose
    outcomes were cut off would be sent again, costing more than it saves) but the vendor's
    quota is never exceeded.
    """

    def __init__(
        self,
        store: Store,
        connector: str,
        daily_limit: int,
        share: float,
        *,
        time_scale: float = 1.0,
        block: int = BLOCK,
    ) -> None:
        self.store = store
        self.connector = connector
        self.daily_limit = daily_limit
        self.budget = max(1, int(daily_limit * share))
        self.day = DAY / time_scale
        self.block = max(1, min(block, self.budget))
        self._reserved = 0  # calls reserved in the store and not yet spent
        self._base = 0  # calls spent or reserved in the window when we last reserved
        self._granted = 0
        self._window_start: datetime | None = None
        self._announced = False

    def _exhausted(self, used: int, resumes: datetime, *, hard: bool = False) -> QuotaExhausted:
        limit = self.daily_limit if hard else self.budget
        what = "the vendor's daily limit" if hard else "the configured share of its daily limit"
        return QuotaExhausted(
            f"{self.connector}: daily API budget reached ({used} of {limit} calls, {what}); "
            f"resumes at {resumes.isoformat()}",
            resumes_at=resumes,
        )

    def _mark(self, resumes: datetime, used: int) -> None:
        if self._announced:
            return
        self._announced = True
        with self.store.begin() as conn:
            conn.execute(
                quota_usage.update()
                .where(quota_usage.c.connector == self.connector)
                .values(exhausted_at=self.store.now())
            )
        log.warning(
            "quota.reached",
            connector=self.connector,
            used=used,
            budget=self.budget,
            resumes_at=resumes.isoformat(),
        )

    def _reserve(self) -> None:
        """Reserve the next block of calls in the store, or raise at the vendor's hard limit."""
        with self.store.begin() as conn:
            now = self.store.now()
            row = conn.execute(
                sa.select(quota_usage).where(quota_usage.c.connector == self.connector)
            ).first()
            if row is None or now >= row.window_start + self.day:
                start, used = now, 0
                self._announced = False
                log.info("quota.window_started", connector=self.connector, budget=self.budget)
            else:
                start, used = row.window_start, int(row.used)
            grant = min(self.block, self.daily_limit - used)
            values = {
                "window_start": start,
                "used": used + max(0, grant),
                "budget": self.budget,
            }
            if row is None:
                conn.execute(quota_usage.insert().values(connector=self.connector, **values))
            else:
                if start != row.window_start:
                    values["exhausted_at"] = None
                conn.execute(
                    quota_usage.update()
                    .where(quota_usage.c.connector == self.connector)
                    .values(**values)
                )
        if grant <= 0:
            raise self._exhausted(used, start + self.day, hard=True)
        self._reserved += grant
        self._base, self._granted = used, grant
        self._window_start = start

    def spend(self, calls: int = 1) -> None:
        for _ in range(calls):
            if self._reserved <= 0:
                self._reserve()
            self._reserved -= 1

    def hook(self, _connector: str) -> None:
        self.spend(1)

    def reached(self) -> bool:
        """The share is spent (as far as this process knows): stop after the page or batch."""
        if self._window_start is None:
            return False
        if self.store.now() >= self._window_start + self.day:
            return False
        used = self._base + self._granted - self._reserved
        if used < self.budget:
            return False
        self._mark(self._window_start + self.day, used)
        return True

    def check(self) -> None:
        """Raise QuotaExhausted when this window's share is spent (before a stage starts)."""
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(quota_usage).where(quota_usage.c.connector == self.connector)
            ).first()
        if row is None or self.store.now() >= row.window_start + self.day:
            return
        used = int(row.used) - self._reserved  # our own unspent reservation is not spent
        if used >= self.budget:
            resumes = row.window_start + self.day
            self._mark(resumes, used)
            raise self._exhausted(used, resumes)

    def release(self) -> None:
        """Give back what was reserved and not spent (end of a run)."""
        if self._reserved <= 0 or self._window_start is None:
            return
        unused, self._reserved = self._reserved, 0
        self._granted -= unused
        with self.store.begin() as conn:
            conn.execute(
                quota_usage.update()
                .where(
                    quota_usage.c.connector == self.connector,
                    quota_usage.c.window_start == self._window_start,
                )
                .values(
                    used=sa.case(
                        (quota_usage.c.used > unused, quota_usage.c.used - unused), else_=0
                    )
                )
            )


def usage(store: Store, connector: str, *, time_scale: float = 1.0) -> Usage | None:
    """The current window of ``connector`` (for status and tests), or None before any call."""
    with store.read() as conn:
        row = conn.execute(
            sa.select(quota_usage).where(quota_usage.c.connector == connector)
        ).first()
    if row is None:
        return None
    return Usage(
        connector,
        row.window_start,
        row.window_start + DAY / time_scale,
        int(row.used),
        int(row.budget),
        row.exhausted_at,
    )


QuotaHook = Callable[[str], None]
