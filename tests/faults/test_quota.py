"""The daily API budget: never more than the configured share, a clean stop, resume next window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smarketing_sync import quota
from smarketing_sync.quota import QuotaBudget, QuotaExhausted
from smarketing_sync.status import collect_status
from smarketing_sync.store.db import Store

from .test_injection import converge, no_duplicates, snapshot
from .world import CRM, MA, fault_world


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_share_stops_between_batches_and_the_vendor_limit_is_a_hard_cap(tmp_path: Path) -> None:
    clock = Clock()
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}", now=clock)
    budget = QuotaBudget(store, "vendor", daily_limit=100, share=0.5, block=7)
    budget.spend(49)
    assert not budget.reached()
    budget.spend(1)
    assert budget.reached()  # the run stops after its page or batch in flight
    with pytest.raises(QuotaExhausted, match=r"50 of 50 calls") as caught:
        budget.check()  # and the next stage or run does not start
    assert caught.value.resumes_at == clock.now + timedelta(days=1)
    used = quota.usage(store, "vendor")
    assert used is not None and used.budget == 50 and used.exhausted_at == clock.now
    # A batch in flight may finish, but never past the vendor's own daily limit.
    budget.spend(50)
    with pytest.raises(QuotaExhausted, match=r"of 100 calls, the vendor's daily limit"):
        budget.spend(1)
    # A second process (a CLI resync) shares the same budget.
    other = QuotaBudget(store, "vendor", daily_limit=100, share=0.5, block=7)
    with pytest.raises(QuotaExhausted):
        other.check()
    clock.now += timedelta(days=1)
    other.check()
    other.spend(3)
    other.release()  # the 4 reserved and unspent calls go back
    used = quota.usage(store, "vendor")
    assert used is not None and used.used == 3 and used.exhausted_at is None
    assert not other.reached()
    store.dispose()


def test_compressed_day_and_release_never_goes_negative(tmp_path: Path) -> None:
    clock = Clock()
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}", now=clock)
    budget = QuotaBudget(store, "vendor", daily_limit=10, share=1.0, time_scale=100, block=4)
    budget.spend(10)
    with pytest.raises(QuotaExhausted):
        budget.spend(1)
    clock.now += timedelta(seconds=86_400 / 100)
    budget.check()
    budget.spend(1)
    budget.release()
    budget.release()
    used = quota.usage(store, "vendor", time_scale=100)
    assert used is not None and used.used == 1
    store.dispose()


@pytest.mark.slow
async def test_sync_stops_cleanly_at_the_budget_and_resumes_without_loss(tmp_path: Path) -> None:
    with fault_world(tmp_path / "clean", people=30) as clean:
        await converge(clean)
        expected = snapshot(clean)
    share = 12 / 30_000  # 12 Pipedrive calls a day (lite plan, 10 seats: 30,000 declared)
    with fault_world(tmp_path / "budget", people=30, quota={"shares": {CRM: share}}) as w:
        base = datetime.now(UTC)
        window = timedelta(days=1) / w.settings.http.rate_limit_scale
        crm = w.sandboxes[CRM]
        stops = 0
        spends: list[int] = []
        for day in range(30):
            w.store.now = lambda day=day: base + day * window + timedelta(milliseconds=day)
            before = sum(crm.calls.calls.values())
            reports = await w.cycle()
            spent = sum(crm.calls.calls.values()) - before
            spends.append(spent)
            # the share, plus at most the page or batch in flight (50 updates, ≤ 3 calls each)
            assert spent <= 12 + 150, f"window {day}: {spent} Pipedrive calls"
            assert reports[MA].error is None
            error = reports[CRM].error
            if error is not None:
                stops += 1
                assert "daily API budget reached" in error and "resumes at" in error
                status = collect_status(w.store)["connectors"][CRM]["last_run"]
                assert "daily API budget reached" in (status.get("error") or "")
                continue
            if snapshot(w) == expected:
                break
        else:
            got = snapshot(w)
            diff = {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}
            raise AssertionError(f"never converged under the budget: {diff}")
        print(f"\nPipedrive calls per window under a 12-call budget: {spends}")
        assert stops >= 2, spends  # the budget really cut runs short
        no_duplicates(w)
        assert snapshot(w) == expected
