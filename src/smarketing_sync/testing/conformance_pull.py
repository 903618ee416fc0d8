"""Conformance checks of pulling: fixture replay, ids, pagination, cursors, boundary dedupe."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

import pytest

from smarketing_sync import Cursor, RawRecord, SyncError, TransientError, get_path
from smarketing_sync.testing.conformance_base import ConformanceBase, run
from smarketing_sync.testing.conformance_replay import GroupReplay, ReplayMismatch, request_json
from smarketing_sync.testing.conformance_support import (
    cursor_value,
    dedupe_key,
    is_absent,
    pull_pages,
    sort_key,
)
from smarketing_sync.testing.fixtures import RecordedRequest, StreamFixture, parse_instant


class PullChecks(ConformanceBase):
    """Every declared stream, pulled against its fixture."""

    def test_pull_replays_fixture(self, stream: str) -> None:
        fixture = self.stream_fixture(stream)
        records = self.replayed_records(stream, fixture)
        if stream not in self.empty_streams:
            assert records, (
                f"stream {stream!r} yielded no record from {fixture.path}; record a page with "
                "records, or list the stream in empty_streams"
            )
        if fixture.expect_records is not None:
            assert len(records) == fixture.expect_records, (
                f"{fixture.path}: expect.records is {fixture.expect_records}, "
                f"the connector yielded {len(records)}"
            )
        for index, record in enumerate(records):
            assert isinstance(record, dict), f"record {index} is not an object: {record!r}"

    def test_pull_ids_unique_and_present(self, stream: str) -> None:
        id_field = self.connector.streams[stream].id_field
        records = self.replayed_records(stream)
        ids = [get_path(record, id_field) for record in records]
        missing = [i for i, value in enumerate(ids) if value is None or value == ""]
        assert not missing, f"records {missing} of {stream!r} have no {id_field!r}"
        repeated = [value for value, n in Counter(str(v) for v in ids).items() if n > 1]
        assert not repeated, f"ids repeated within one pull of {stream!r}: {repeated}"

    def test_pull_stops_on_repeated_page(self, stream: str) -> None:
        """A vendor that answers the same page again must not make the connector loop."""
        fixture = self.stream_fixture(stream)
        endpoint = self.connector.streams[stream]
        paging = _paging_group(fixture, endpoint.method, endpoint.path)
        limit = 3 * len(fixture.requests) + 10

        async def pull(replay: GroupReplay) -> None:
            with replay:
                async with self.http(replay) as http:
                    # Stopping with an error (ContractError: repeated token) is a right answer.
                    with contextlib.suppress(SyncError):
                        await pull_pages(
                            self.connector, http, stream, fixture.since, max_pages=limit
                        )

        replay = GroupReplay(
            self.base_url(),
            fixture.requests,
            pick={paging: "first"},
            default_pick="first",
            limit=limit,
        )
        runaway: ReplayMismatch | None = None
        try:
            run(pull(replay))
        except ReplayMismatch as exc:  # the request limit: judged below, after the repeat check
            runaway = exc
        sent = [_signature(r) for r in replay.requests_to(*paging)]
        repeated = [s for s, n in Counter(sent).items() if n > 1]
        assert not repeated, (
            f"stream {stream!r}: the connector asked for the same page twice instead of stopping "
            f"when the vendor repeated a page: {repeated[0]}"
        )
        if runaway is not None:
            raise runaway

    def test_pull_5xx_propagates(self, stream: str) -> None:
        """An outage on the stream's first request surfaces as TransientError after exactly
        ``max_attempts`` requests: the connector neither hides it nor retries on its own."""
        fixture = self.stream_fixture(stream)
        first = fixture.requests[0]
        failing = RecordedRequest(
            first.method, first.path, status=503, body={"message": "service unavailable"}
        )
        outage = GroupReplay(self.base_url(), [failing])

        async def pull() -> int:
            with outage:
                async with self.http(outage) as http:
                    with pytest.raises(TransientError):
                        await pull_pages(self.connector, http, stream, fixture.since, max_pages=1)
                    return http.settings.max_attempts

        attempts = run(pull())
        assert len(outage.received) == attempts, (
            f"{stream!r}: expected {attempts} attempts of the failing request (max_attempts), "
            f"the connector made {len(outage.received)}"
        )


class CursorChecks(ConformanceBase):
    """Streams with a cursor: present on every record, ordered when sorted, dedupe at reruns."""

    def _cursor(self, stream: str) -> Cursor:
        cursor = self.connector.streams[stream].cursor
        assert cursor is not None
        return cursor

    def test_cursor_present_and_ordered(self, cursor_stream: str) -> None:
        cursor = self._cursor(cursor_stream)
        fixture = self.stream_fixture(cursor_stream)
        records = self.replayed_records(cursor_stream, fixture)
        values = [cursor_value(record, cursor.field) for record in records]
        missing = [i for i, v in enumerate(values) if is_absent(v) or v is None or v == ""]
        assert not missing, (
            f"records {missing} of {cursor_stream!r} lack the cursor field {cursor.field!r}"
        )
        if cursor.sorted:
            keys = [sort_key(v) for v in values]
            for index in range(1, len(keys)):
                assert keys[index - 1] <= keys[index], (
                    f"{cursor_stream!r} declares Cursor(sorted=True) but record {index} "
                    f"({values[index]!r}) comes after {values[index - 1]!r}"
                )
        if records:
            newest = max(values, key=sort_key)
            assert fixture.expect_max_cursor is not None, (
                f"{fixture.path}: set expect.max_cursor to {newest!r}"
            )
            assert sort_key(newest) == sort_key(fixture.expect_max_cursor), (
                f"{fixture.path}: expect.max_cursor is {fixture.expect_max_cursor!r}, "
                f"the newest cursor pulled is {newest!r}"
            )
            assert parse_instant(newest) is not None, (
                f"cursor {cursor.field!r} value {newest!r} is neither ISO 8601 nor epoch ms"
            )

    def test_rerun_from_max_cursor_yields_only_boundary_duplicates(
        self, cursor_stream: str
    ) -> None:
        cursor = self._cursor(cursor_stream)
        endpoint = self.connector.streams[cursor_stream]
        fixture = self.stream_fixture(cursor_stream)
        first = self.replayed_records(cursor_stream, fixture)
        if not first:
            assert cursor_stream in self.empty_streams
            return
        newest = max((cursor_value(r, cursor.field) for r in first), key=sort_key)
        since = parse_instant(newest)
        assert since is not None, f"cursor value {newest!r} is not a datetime"
        seen = {dedupe_key(r, endpoint.id_field, cursor.field) for r in first}

        async def rerun() -> list[RawRecord]:
            # The vendor answers every request with its last recorded page: what a filter
            # from the newest cursor returns at the boundary.
            with GroupReplay(self.base_url(), fixture.requests, default_pick="last") as replay:
                async with self.http(replay) as http:
                    pages = await pull_pages(
                        self.connector,
                        http,
                        cursor_stream,
                        since,
                        max_pages=len(fixture.requests) + 1,
                    )
            return [record for page in pages for record in page.records]

        again = run(rerun())
        fresh = [r for r in again if dedupe_key(r, endpoint.id_field, cursor.field) not in seen]
        assert not fresh, (
            f"a rerun of {cursor_stream!r} from {newest!r} yields records the flow would not "
            f"drop as boundary duplicates (same id, same cursor): "
            f"{[get_path(r, endpoint.id_field) for r in fresh]}"
        )
        boundary_ids = _ids_in_last_page(
            fixture, endpoint.method, endpoint.path, endpoint.records, endpoint.id_field
        )
        newest_ids = {
            str(get_path(r, endpoint.id_field))
            for r in first
            if sort_key(cursor_value(r, cursor.field)) == sort_key(newest)
        }
        expected_back = newest_ids & boundary_ids
        returned = {str(get_path(r, endpoint.id_field)) for r in again}
        assert expected_back <= returned, (
            f"a rerun of {cursor_stream!r} from {newest!r} dropped the boundary record(s) "
            f"{sorted(expected_back - returned)}: the lower bound must be inclusive"
        )


def _paging_group(fixture: StreamFixture, method: str, path: str) -> tuple[str, str]:
    """The (method, path) that pages: the stream's endpoint, else the most requested one."""
    counts = Counter((r.method, r.path) for r in fixture.requests)
    for key in counts:
        if key[0] == method.upper() and (key[1] == path or key[1].endswith(path)):
            return key
    return counts.most_common(1)[0][0]


def _signature(request: Any) -> str:
    body = request_json(request)
    query = request.url.query.decode()
    return f"{request.method} {request.url.path}?{query} {body if isinstance(body, dict) else ''}"


def _ids_in_last_page(
    fixture: StreamFixture, method: str, path: str, records_path: str, id_field: str
) -> set[str]:
    key = _paging_group(fixture, method, path)
    last = [r for r in fixture.requests if (r.method, r.path) == key][-1]
    records = get_path(last.body, records_path)
    if not isinstance(records, list):
        return set()
    return {str(get_path(r, id_field)) for r in records if isinstance(r, dict)}
