"""A proactive per-connector limiter: keep under the documented limits instead of hitting 429s."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from smarketing_sync.sdk.declarations import Limit, RateLimit

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class _Window:
    """Sliding window of request start times for one documented limit."""

    __slots__ = ("limit", "per_seconds", "starts")

    def __init__(self, limit: Limit, scale: float) -> None:
        # Leave 10% head-room (at least one request): the vendor counts arrivals, we count
        # departures, and latency jitter between the two can squeeze one window's worth closer.
        self.limit = (
            min(limit.requests - 1, int(limit.requests * 0.9))
            if limit.requests > 2
            else limit.requests
        )
        self.per_seconds = limit.per_seconds / scale
        self.starts: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        while self.starts and now - self.starts[0] >= self.per_seconds:
            self.starts.popleft()
        if len(self.starts) < self.limit:
            return 0.0
        return self.per_seconds - (now - self.starts[0])


class Limiter:
    """Waits before a request whenever a documented window or the vendor's headers say so.

    ``scale`` compresses time: with scale 10 a "100 per 10 s" limit becomes "100 per 1 s", which
    is how the sandboxes run the vendors' limits fast enough for tests and benchmarks.
    """

    def __init__(
        self,
        rate_limit: RateLimit,
        *,
        scale: float = 1.0,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self._rate_limit = rate_limit
        self._windows = [(lim.match, _Window(lim, scale)) for lim in rate_limit.limits]
        self._sleep = sleep
        self._clock = clock
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self, path: str) -> float:
        """Wait until a request to ``path`` may start; return how long we waited."""
        waited = 0.0
        async with self._lock:
            while True:
                now = self._clock()
                wait = max(0.0, self._blocked_until - now)
                for match, window in self._windows:
                    if match in path:
                        wait = max(wait, window.wait_time(now))
                if wait <= 0:
                    break
                await self._sleep(wait)
                waited += wait
            now = self._clock()
            for match, window in self._windows:
                if match in path:
                    window.starts.append(now)
        return waited

    def block_for(self, seconds: float) -> None:
        """The vendor said its budget is spent (remaining header 0, or Retry-After): pause all."""
        self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))
