"""Conformance checks of pushing: batches, request bodies, outcomes, per-record 4xx isolation."""

from __future__ import annotations

from collections import Counter

from smarketing_sync import FieldUpdate, PushOutcome
from smarketing_sync.testing.conformance_base import ConformanceBase, run
from smarketing_sync.testing.conformance_replay import Replay, request_json
from smarketing_sync.testing.conformance_support import (
    concerned,
    list_lengths,
    plan_rejection,
    push_in_batches,
    request_tokens,
    update_tokens,
)
from smarketing_sync.testing.fixtures import PushFixture, load_fields_fixture


def _outcomes_by_key(
    updates: tuple[FieldUpdate, ...], batches: list[list[PushOutcome]], size: int
) -> dict[str, PushOutcome]:
    """Check one outcome per update per call, and index them by key."""
    by_key: dict[str, PushOutcome] = {}
    for number, outcomes in enumerate(batches):
        sent = [u.key for u in updates[number * size : (number + 1) * size]]
        answered = [o.key for o in outcomes]
        assert Counter(answered) == Counter(sent), (
            f"push() call {number + 1} must answer exactly once for each of its updates: "
            f"sent {sent}, answered {answered}"
        )
        by_key.update({o.key: o for o in outcomes})
    return by_key


class PushChecks(ConformanceBase):
    """``push`` against ``push_*.json`` fixtures, and ``ensure_fields`` against its fixture."""

    def _push_fixture(self, push_case: str | None) -> PushFixture:
        assert push_case is not None, (
            f"{self.connector.name} declares push:fields but {self.fixture_dir()} has no "
            "push_*.json fixture"
        )
        return self.push_fixture(push_case)

    def _push(self, fixture: PushFixture) -> tuple[dict[str, PushOutcome], Replay]:
        async def push() -> tuple[list[list[PushOutcome]], Replay]:
            with Replay(self.base_url(), fixture.requests) as replay:
                async with self.http(replay) as http:
                    batches = await push_in_batches(self.connector, http, fixture.updates)
            return batches, replay

        batches, replay = run(push())
        size = self.connector.push_batch_size
        return _outcomes_by_key(fixture.updates, batches, size), replay

    def test_push_outcomes_match_fixture(self, push_case: str | None) -> None:
        fixture = self._push_fixture(push_case)
        outcomes, _ = self._push(fixture)
        ok = {key for key, o in outcomes.items() if o.ok}
        failed = {key for key, o in outcomes.items() if not o.ok}
        assert ok == fixture.expect_ok | set(fixture.expect_created), (
            f"{fixture.path}: ok outcomes {sorted(ok)}; failures: "
            f"{ {k: outcomes[k].error for k in sorted(failed)} }"
        )
        assert failed == fixture.expect_failed
        for key in failed:
            assert outcomes[key].error, f"failed outcome {key!r} carries no reason"
        for key, new_id in fixture.expect_created.items():
            assert outcomes[key].external_id == new_id, (
                f"{fixture.path}: create {key!r} should report id {new_id!r}, "
                f"reported {outcomes[key].external_id!r}"
            )

    def test_push_requests_within_batch_size(self, push_case: str | None) -> None:
        fixture = self._push_fixture(push_case)
        _, replay = self._push(fixture)
        size = self.connector.push_batch_size
        for request in replay.received:
            lengths = list_lengths(request_json(request))
            assert all(n <= size for n in lengths), (
                f"{request.method} {request.url.path} carries a batch of {max(lengths)} "
                f"(push_batch_size is {size})"
            )

    def test_push_4xx_fails_only_that_request(self, push_case: str | None) -> None:
        """A 4xx answer to one request fails its updates; the other requests still go."""
        fixture = self._push_fixture(push_case)
        plan = plan_rejection(fixture.requests, fixture.updates)
        assert plan is not None, (
            f"{fixture.path}: no recorded request names an update's id, email or key in its "
            "path, params_has or json_has, so the kit cannot tell which updates it carries"
        )
        rejected = [u for u in fixture.updates if u.key in plan.rejected_keys]
        tokens = set().union(*(update_tokens(u) for u in rejected))

        async def push() -> tuple[list[list[PushOutcome]], Replay]:
            # A connector that splits a refused batch to isolate the bad record sends more
            # requests about these updates: they are refused as well.
            with Replay(
                self.base_url(),
                plan.kept,
                reject=lambda request: bool(request_tokens(request) & tokens),
            ) as replay:
                async with self.http(replay) as http:
                    batches = await push_in_batches(self.connector, http, fixture.updates)
            return batches, replay

        batches, replay = run(push())
        outcomes = _outcomes_by_key(fixture.updates, batches, self.connector.push_batch_size)
        for key in plan.rejected_keys:
            outcome = outcomes[key]
            assert not outcome.ok, f"update {key!r} was refused with 400 but reported ok"
            assert outcome.error, f"update {key!r} was refused but carries no reason"
            assert not outcome.retryable, f"a 400 for {key!r} is not a transient failure"
        for update in fixture.updates:
            if update.key in plan.rejected_keys:
                continue
            others = concerned(set().union(*(request_tokens(r) for r in replay.rejected)), [update])
            if others:
                continue  # it shared a refused request with a rejected update
            expected_ok = update.key not in fixture.expect_failed
            assert outcomes[update.key].ok == expected_ok, (
                f"update {update.key!r} was not in the refused request, yet its outcome "
                f"changed: {outcomes[update.key]}"
            )

    def test_ensure_fields_creates_missing(self, fields_case: str | None) -> None:
        assert fields_case is not None
        fixture = load_fields_fixture(self.fixture_dir() / f"{fields_case}.json")
        connector = self.connector()

        async def ensure() -> list[str]:
            with Replay(self.base_url(), fixture.requests) as replay:
                async with self.http(replay) as http:
                    created: list[str] = await connector.ensure_fields(  # type: ignore[attr-defined]
                        http, list(fixture.fields)
                    )
            return created

        created = run(ensure())
        assert sorted(created) == sorted(fixture.expect_created), (
            f"{fixture.path}: expected {list(fixture.expect_created)} created, got {created}"
        )
