"""Conformance checks of the connector's mapping file against its declaration and fixtures."""

from __future__ import annotations

from smarketing_sync.mapping import (
    MappingFailure,
    MappingSpec,
    check_mapping,
    has_source_path,
    load_mapping,
    map_record,
)
from smarketing_sync.testing.conformance_base import ConformanceBase
from smarketing_sync.testing.conformance_support import mapped_problem, mapped_view


class MappingChecks(ConformanceBase):
    """The mapping validates, reads paths the vendor sends, and maps fixtures as recorded."""

    def load_spec(self) -> MappingSpec:
        if not self.mapping:
            raise AssertionError(
                f"{type(self).__name__}: set mapping = '<path of the connector's mapping file>'"
            )
        return load_mapping(self.path_of(self.mapping))

    def test_mapping_file_validates(self) -> None:
        spec = self.load_spec()
        problems = check_mapping(spec, self.connector)
        assert not problems, "\n".join(str(p) for p in problems)
        assert spec.pull, f"{spec.path} maps no stream"

    def test_mapping_paths_exist_in_fixture(self, mapped_stream: str) -> None:
        spec = self.load_spec()
        records = self.replayed_records(mapped_stream)
        if not records:
            assert mapped_stream in self.empty_streams, f"{mapped_stream!r} yielded no record"
            return
        absent = [
            f"{key} = {path!r}"
            for key, path in spec.source_paths(mapped_stream)
            if not any(has_source_path(record, path) for record in records)
        ]
        assert not absent, (
            f"{spec.path}: these paths are in no record of the {mapped_stream!r} fixture (typo, "
            f"or a property the connector does not request?): {absent}"
        )

    def test_mapping_output_matches_fixture(self, mapped_stream: str) -> None:
        spec = self.load_spec()
        fixture = self.stream_fixture(mapped_stream)
        records = self.replayed_records(mapped_stream, fixture)
        results = [map_record(spec, mapped_stream, record) for record in records]
        if records and mapped_stream not in self.empty_streams:
            assert fixture.mapped, (
                f"{fixture.path}: add 'mapped', the expected mapping output of the records"
            )
        assert len(fixture.mapped) <= len(results), (
            f"{fixture.path}: 'mapped' lists {len(fixture.mapped)} records, "
            f"the pull yielded {len(results)}"
        )
        for index, (expected, result) in enumerate(zip(fixture.mapped, results, strict=False)):
            problem = mapped_problem(expected, mapped_view(result))
            assert problem is None, f"{fixture.path}: mapped[{index}].{problem}"
        for index, result in enumerate(results[len(fixture.mapped) :], start=len(fixture.mapped)):
            assert not isinstance(result, MappingFailure), (
                f"record {index} of {mapped_stream!r} fails to map: {result.field}: {result.reason}"
            )
