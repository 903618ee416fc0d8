"""Leases: a connector's sync runs in one process at a time (daemon, CLI resync, replicas).

A lease is a row in the store rather than a file lock, so it works the same way on PostgreSQL
across machines. It expires on its own when its holder dies; a live holder renews it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from datetime import timedelta

import structlog

from smarketing_sync.errors import StoreError, SyncError
from smarketing_sync.store import state
from smarketing_sync.store.db import Store

log = structlog.get_logger("smarketing_sync.cycle")


class LockBusy(SyncError):
    """Another process is syncing this connector right now."""


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    """This process's leases on connectors, named ``sync:<connector>``."""

    def __init__(self, store: Store, ttl_s: float) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.holder = holder_id()

    @staticmethod
    def name(connector: str) -> str:
        return f"sync:{connector}"

    def take(self, connector: str) -> bool:
        """Take or renew the lease; False while another holder's is unexpired."""
        ttl = timedelta(seconds=self.ttl_s)
        with self.store.begin() as conn:
            return state.try_lease(conn, self.name(connector), self.holder, ttl, self.store.now())

    def release(self, connector: str) -> None:
        with self.store.begin() as conn:
            state.release_lease(conn, self.name(connector), self.holder)

    async def keep(self, connector: str) -> None:
        """Renew the lease every third of its time to live, until cancelled."""
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                self.take(connector)
            except StoreError as exc:  # the next renewal may succeed; the lease is generous
                log.warning("sync.lease_renew_failed", connector=connector, error=str(exc))

    async def acquire(self, connector: str, *, wait: float | None = None) -> None:
        """Take the lease, waiting up to ``wait`` seconds (None: do not wait)."""
        deadline = asyncio.get_running_loop().time() + (wait or 0)
        announced = False
        while not self.take(connector):
            if wait is None or asyncio.get_running_loop().time() >= deadline:
                with self.store.read() as conn:
                    holder = state.lease_holder(conn, self.name(connector), self.store.now())
                raise LockBusy(f"{connector} is being synced by {holder or 'another process'}")
            if not announced:
                log.info("sync.waiting_for_lock", connector=connector)
                announced = True
            await asyncio.sleep(0.5)
