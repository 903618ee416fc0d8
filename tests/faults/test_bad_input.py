"""Bad input through map *and* resolve: random vendor payloads never crash a page; each record
is either applied to the store or dead-lettered with the record and the field named."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smarketing_sync.errors import ConfigError
from smarketing_sync.flow.pull import PullStats, _apply, _fresh, _remember
from smarketing_sync.flow.survivorship import Survivorship
from smarketing_sync.mapping.apply import map_record
from smarketing_sync.mapping.load import load_mapping
from smarketing_sync.mapping.model import MappingFailure
from smarketing_sync.settings import ResolveSettings, load_settings
from smarketing_sync.store import state
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import dead_letters, source_records

SPECS = {name: load_mapping(Path("mappings") / f"{name}.toml") for name in ("hubspot", "pipedrive")}

_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            " ",
            "2026-03-12T10:04:17.969Z",
            "2026-03-12 10:04:17",
            "1773309857969",
            "x@y.z",
            "not an email",
            "+49 30 1234567",
            "Germany",
            "call",
            "meeting",
            "won",
            "7",
        ]
    ),
)
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
# Keys the mappings read, so that random payloads reach deep into the converters.
_KEYS = [
    "id",
    "email",
    "firstname",
    "lastname",
    "phone",
    "jobtitle",
    "country",
    "city",
    "company",
    "lastmodifieddate",
    "hs_lastmodifieddate",
    "createdate",
    "archived",
    "properties",
    "primary_email",
    "primary_phone",
    "first_name",
    "last_name",
    "update_time",
    "add_time",
    "is_deleted",
    "custom_fields",
    "owner_id",
    "type",
    "occurred_at",
    "person_ids",
    "person_id",
    "status",
    "value",
    "currency",
    "won_time",
    "lost_time",
    "associations",
    "emails",
    "phones",
]
_RECORD = st.dictionaries(st.sampled_from(_KEYS), _VALUE, max_size=12)
_NESTED = st.builds(lambda top, props: {**top, "properties": props}, _RECORD, _RECORD)


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with tempfile.TemporaryDirectory() as folder:
        opened = Store.open(f"sqlite:///{Path(folder) / 's.db'}")
        yield opened
        opened.dispose()


_STREAMS = [(name, stream) for name, spec in SPECS.items() for stream in spec.pull]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    target=st.sampled_from(_STREAMS),
    raws=st.lists(st.one_of(_RECORD, _NESTED), min_size=1, max_size=5),
)
def test_random_pages_are_applied_or_dead_lettered(
    store: Store, target: tuple[str, str], raws: list[dict[str, Any]]
) -> None:
    connector, stream = target
    with store.begin() as conn:  # one store for all examples: start each from empty bookkeeping
        conn.execute(source_records.delete())
        conn.execute(dead_letters.delete())
    survivorship = Survivorship(ResolveSettings())
    mapped, failures = [], []
    for raw in raws:
        result = map_record(SPECS[connector], stream, raw)
        (failures if isinstance(result, MappingFailure) else mapped).append(result)
    with store.begin() as conn:
        now = store.now()
        fresh, _ = _fresh(conn, connector, stream, mapped)
        _apply(conn, connector, fresh, survivorship, now, PullStats())
        _remember(conn, connector, stream, fresh, False)
        for failure in failures:
            assert isinstance(failure, MappingFailure) and failure.reason
            state.dead_letter(
                conn,
                connector=connector,
                stage="map",
                stream=stream,
                external_id=failure.external_id,
                reason=f"{failure.field or 'record'}: {failure.reason}",
                payload=dict(failure.raw),
                now=now,
            )
    with store.read() as conn:
        applied = conn.execute(sa.select(sa.func.count()).select_from(source_records)).scalar_one()
        dead = conn.execute(sa.select(sa.func.count()).select_from(dead_letters)).scalar_one()
    # every distinct mapped record is remembered once; every failure is a dead letter
    assert applied == len({m.external_id for m in mapped})
    assert dead == len(failures)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[quota]\ndaily_share = 2\n", "[quota.daily_share]"),
        ("[quota.shares]\nhubspot = 0\n", "[quota.shares]"),
        ("[dlq]\nbackoff_s = -1\n", "[dlq.backoff_s]"),
        ("[dlq]\nretry_forever = true\n", "[dlq.retry_forever]"),
    ],
)
def test_bad_reliability_settings_name_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert named in str(caught.value) and str(path) in str(caught.value)
