"""The conformance kit proves itself on the example connector (a made-up vendor).

``TestQuill`` runs the whole suite on a connector that conforms. The tests after it break one
thing at a time (in the connector, a fixture or the mapping) and show that the matching check
fails with a message that names the problem: a kit whose checks cannot fail proves nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from example_connector.broken import (
    AnonymousQuill,
    ExclusiveQuill,
    ForgetfulQuill,
    LoopingQuill,
    PlainKeyQuill,
    RaisingQuill,
    SwallowingQuill,
    UndeclaredFieldsQuill,
)

from smarketing_sync import RecordError
from smarketing_sync.testing import (
    ConnectorConformance,
    FixtureError,
    RecordedRequest,
    Replay,
    ReplayMismatch,
    load_connector,
    load_stream_fixture,
    make_http,
    settings_from_env,
    subset_problem,
)

pytest_plugins = ("pytester",)

EXAMPLE = Path(__file__).parent / "example_connector"
ROOT = Path(__file__).resolve().parents[2]
Quill: Any = load_connector("quill", [EXAMPLE])
SETTINGS = {"account": "acme", "api_key": "test-key-3f9a"}


class TestQuill(ConnectorConformance):
    connector = Quill
    settings: ClassVar[dict[str, str]] = SETTINGS
    fixtures = str(EXAMPLE / "fixtures")
    mapping = str(EXAMPLE / "quill.toml")
    empty_streams = frozenset()


# --- helpers: a suite over a variant of the example -------------------------------------------


def suite(
    tmp_path: Path,
    *,
    connector: Any = Quill,
    settings: dict[str, str] | None = None,
    edit: dict[str, Callable[[dict[str, Any]], None]] | None = None,
    mapping_text: str | None = None,
) -> ConnectorConformance:
    """A ready-to-call suite over a copy of the example fixtures with ``edit`` applied."""
    folder = tmp_path / "fixtures"
    shutil.copytree(EXAMPLE / "fixtures", folder)
    for name, change in (edit or {}).items():
        path = folder / name
        data = json.loads(path.read_text()) if path.exists() else {}
        change(data)
        path.write_text(json.dumps(data))
    mapping = tmp_path / "quill.toml"
    mapping.write_text(mapping_text or (EXAMPLE / "quill.toml").read_text())
    variant = type(
        "Variant",
        (ConnectorConformance,),
        {
            "connector": connector,
            "settings": settings or SETTINGS,
            "fixtures": str(folder),
            "mapping": str(mapping),
        },
    )
    instance: ConnectorConformance = variant()
    instance._rootpath = ROOT
    instance._test_dir = Path(__file__).parent
    return instance


# --- broken fixtures ----------------------------------------------------------------------------


def test_wrong_record_count_fails(tmp_path: Path) -> None:
    kit = suite(tmp_path, edit={"contacts.json": lambda d: d["expect"].update(records=4)})
    with pytest.raises(AssertionError, match=r"expect.records is 4, the connector yielded 3"):
        kit.test_pull_replays_fixture("contacts")


def test_request_not_as_recorded_fails(tmp_path: Path) -> None:
    def limit_50(data: dict[str, Any]) -> None:
        data["requests"][0]["params_has"]["limit"] = 50

    kit = suite(tmp_path, edit={"contacts.json": limit_50})
    with pytest.raises(ReplayMismatch, match=r"params_has.limit: expected '50', found \['100'\]"):
        kit.test_pull_replays_fixture("contacts")


def test_recorded_request_never_made_fails(tmp_path: Path) -> None:
    def one_more(data: dict[str, Any]) -> None:
        data["requests"].append({"method": "GET", "path": "/contacts", "body": {"data": []}})

    kit = suite(tmp_path, edit={"contacts.json": one_more})
    with pytest.raises(ReplayMismatch, match=r"never made: #2 GET /contacts"):
        kit.test_pull_replays_fixture("contacts")


def test_duplicate_ids_fail(tmp_path: Path) -> None:
    def clash(data: dict[str, Any]) -> None:
        data["requests"][1]["body"]["data"][0]["id"] = "c_1"

    kit = suite(tmp_path, edit={"contacts.json": clash})
    with pytest.raises(
        AssertionError, match=r"ids repeated within one pull of 'contacts': \['c_1'\]"
    ):
        kit.test_pull_ids_unique_and_present("contacts")


def test_unsorted_records_of_a_sorted_stream_fail(tmp_path: Path) -> None:
    def swap(data: dict[str, Any]) -> None:
        records = data["requests"][0]["body"]["data"]
        records.reverse()

    kit = suite(tmp_path, edit={"contacts.json": swap})
    with pytest.raises(AssertionError, match=r"declares Cursor\(sorted=True\) but record 1"):
        kit.test_cursor_present_and_ordered("contacts")


def test_wrong_max_cursor_fails(tmp_path: Path) -> None:
    def older(data: dict[str, Any]) -> None:
        data["expect"]["max_cursor"] = "2026-03-01T11:30:00Z"

    kit = suite(tmp_path, edit={"contacts.json": older})
    with pytest.raises(AssertionError, match=r"the newest cursor pulled is '2026-03-02T08:15:00Z'"):
        kit.test_cursor_present_and_ordered("contacts")


def test_missing_cursor_field_fails(tmp_path: Path) -> None:
    def drop(data: dict[str, Any]) -> None:
        del data["requests"][0]["body"]["data"][1]["updated_at"]

    kit = suite(tmp_path, edit={"activities.json": drop})
    with pytest.raises(AssertionError, match=r"records \[1\] of 'activities' lack the cursor"):
        kit.test_cursor_present_and_ordered("activities")


def test_mapped_output_differs_fails(tmp_path: Path) -> None:
    def misspell(data: dict[str, Any]) -> None:
        data["mapped"][0]["first_name"] = "Ida"

    kit = suite(tmp_path, edit={"contacts.json": misspell})
    with pytest.raises(
        AssertionError, match=r"mapped\[0\].first_name: expected 'Ida', found 'Ada'"
    ):
        kit.test_mapping_output_matches_fixture("contacts")


def test_mapping_path_missing_from_fixtures_fails(tmp_path: Path) -> None:
    # custom.* is documented, so the declaration check lets the typo through; fixtures do not.
    text = (EXAMPLE / "quill.toml").read_text().replace("custom.lead_source", "custom.leadsource")
    kit = suite(tmp_path, mapping_text=text)
    kit.test_mapping_file_validates()
    with pytest.raises(AssertionError, match=r"lead_source = 'custom.leadsource'"):
        kit.test_mapping_paths_exist_in_fixture("contacts")


def test_misspelled_fixture_key_is_rejected(tmp_path: Path) -> None:
    def typo(data: dict[str, Any]) -> None:
        data["requests"][0]["params_hass"] = data["requests"][0].pop("params_has")

    suite(tmp_path, edit={"contacts.json": typo})
    with pytest.raises(FixtureError, match=r"unknown key\(s\) \['params_hass'\]"):
        load_stream_fixture(tmp_path / "fixtures" / "contacts.json")


def test_stray_fixture_file_fails(tmp_path: Path) -> None:
    kit = suite(tmp_path, edit={"contact.json": lambda d: d.update(requests=[])})
    with pytest.raises(AssertionError, match=r"match no stream .*\['contact.json'\]"):
        kit.test_fixture_files_are_known()


def test_push_body_not_as_recorded_fails(tmp_path: Path) -> None:
    def score(data: dict[str, Any]) -> None:
        data["requests"][0]["json_has"]["contacts"][0]["custom"]["quill_score"] = "42"

    kit = suite(tmp_path, edit={"push_contacts.json": score})
    with pytest.raises(ReplayMismatch, match=r"no item of the sent list contains"):
        kit.test_push_outcomes_match_fixture("push_contacts")


def test_push_expectation_differs_fails(tmp_path: Path) -> None:
    def all_ok(data: dict[str, Any]) -> None:
        data["expect"].update(ok=["k1", "k2"], failed=[])

    kit = suite(tmp_path, edit={"push_contacts.json": all_ok})
    with pytest.raises(AssertionError, match=r"ok outcomes \['k1', 'k3'\]; failures: .*k2"):
        kit.test_push_outcomes_match_fixture("push_contacts")


# --- broken connectors (example_connector/broken.py) ---------------------------------------------


def test_connector_that_loops_on_a_repeated_page_fails(tmp_path: Path) -> None:
    kit = suite(tmp_path, connector=LoopingQuill)
    kit.test_pull_replays_fixture("contacts")  # it conforms while the vendor behaves
    with pytest.raises(AssertionError, match=r"asked for the same page twice"):
        kit.test_pull_stops_on_repeated_page("contacts")


def test_generic_pull_stops_on_a_repeated_page(tmp_path: Path) -> None:
    suite(tmp_path).test_pull_stops_on_repeated_page("contacts")


def test_connector_that_swallows_outages_fails(tmp_path: Path) -> None:
    kit = suite(tmp_path, connector=SwallowingQuill)
    with pytest.raises(pytest.fail.Exception, match=r"DID NOT RAISE.*TransientError"):
        kit.test_pull_5xx_propagates("activities")


def test_connector_with_an_exclusive_lower_bound_fails(tmp_path: Path) -> None:
    kit = suite(tmp_path, connector=ExclusiveQuill)
    with pytest.raises(AssertionError, match=r"dropped the boundary record\(s\) \['c_3'\]"):
        kit.test_rerun_from_max_cursor_yields_only_boundary_duplicates("contacts")


def test_connector_raising_on_a_record_4xx_fails(tmp_path: Path) -> None:
    kit = suite(tmp_path, connector=RaisingQuill)
    with pytest.raises(RecordError, match=r"400"):
        kit.test_push_4xx_fails_only_that_request("push_contacts")


def test_push_4xx_isolation_passes_and_later_requests_go(tmp_path: Path) -> None:
    # The example sends updates and creates separately: refusing the update batch must still
    # let the create go (the Replay asserts that every kept request was made).
    suite(tmp_path).test_push_4xx_fails_only_that_request("push_contacts")


def test_connector_missing_an_outcome_fails(tmp_path: Path) -> None:
    kit = suite(tmp_path, connector=ForgetfulQuill)
    with pytest.raises(AssertionError, match=r"answer exactly once for each of its updates"):
        kit.test_push_outcomes_match_fixture("push_contacts")


def test_plain_text_secret_setting_fails(tmp_path: Path) -> None:
    kit = suite(tmp_path, connector=PlainKeyQuill)
    with pytest.raises(AssertionError, match=r"'api_key' holds a credential and must be typed"):
        kit.test_settings_hide_secrets()


def test_unauthenticated_check_fails(tmp_path: Path) -> None:
    kit = suite(tmp_path, connector=AnonymousQuill)
    with pytest.raises(AssertionError, match=r"carries none of the credential settings"):
        kit.test_check_succeeds()


def test_method_without_its_capability_fails(tmp_path: Path) -> None:
    kit = suite(tmp_path, connector=UndeclaredFieldsQuill)
    with pytest.raises(AssertionError, match=r"ensure_fields\(\) and capability create:fields"):
        kit.test_capabilities_match_methods()


# --- the building blocks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "actual", "problem"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, None),
        ({"a": {"b": [1]}}, {"a": {"b": [2, 1]}}, None),
        ({"a": 1}, {"b": 1}, "json.a: missing"),
        ({"a": "1"}, {"a": 1}, "json.a: expected '1', found 1"),
        ({"a": True}, {"a": 1}, "json.a: expected True, found 1"),
        ({"a": 1.0}, {"a": 1}, None),
        ([{"id": 1}, {"id": 1}], [{"id": 1}, {"id": 2}], "json: the items cannot all be matched"),
        ([{"id": 3}], [{"id": 1}], "json[0]: no item of the sent list contains"),
    ],
)
def test_subset_rules(expected: Any, actual: Any, problem: str | None) -> None:
    found = subset_problem(expected, actual)
    assert (found is None) if problem is None else (found is not None and problem in found)


async def test_replay_serves_in_order_and_refuses_other_hosts() -> None:
    recorded = [
        RecordedRequest("GET", "/things", params_has={"page": 1}, body={"n": 1}),
        RecordedRequest("GET", "/api/v1/things", params_has={"page": 2}, body={"n": 2}),
    ]
    base = "https://acme.quill.example/api/v1"
    with Replay(base, recorded) as replay:
        async with httpx.AsyncClient(base_url=base, transport=replay.transport) as client:
            first = await client.get("/things", params={"page": 1})
            second = await client.get(f"{base}/things", params={"page": 2})
            assert [first.json()["n"], second.json()["n"]] == [1, 2]
    with pytest.raises(ReplayMismatch, match="was not recorded"), Replay(base, []) as replay:
        async with httpx.AsyncClient(transport=replay.transport) as client:
            await client.get("https://elsewhere.example/things")


@pytest.mark.parametrize(
    ("settings", "base"),
    [
        (SETTINGS, "https://acme.quill.example/api/v1"),  # the class template, filled
        ({**SETTINGS, "base_url": "http://127.0.0.1:9/v1/"}, "http://127.0.0.1:9/v1"),  # override
    ],
)
async def test_make_http_builds_what_the_flow_builds(settings: dict[str, str], base: str) -> None:
    me = RecordedRequest("GET", "/me", body={"account": "acme"})
    with Replay(base, [me]) as replay:
        async with make_http(Quill, settings, transport=replay.transport) as http:
            await http.get("/me")
    sent = replay.received[0]
    assert str(sent.url) == f"{base}/me"
    assert sent.headers["Authorization"] == "Bearer test-key-3f9a"


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARKETING_LIVE_QUILL_API_KEY", "k")
    monkeypatch.setenv("SMARKETING_LIVE_QUILL_ACCOUNT", "acme")
    assert settings_from_env("SMARKETING_LIVE_QUILL_") == {"api_key": "k", "account": "acme"}
    assert settings_from_env("SMARKETING_LIVE_NOBODY_") is None


# --- the pytest plugin --------------------------------------------------------------------------

LIVE_TEST = """
import pytest

@pytest.mark.live
def test_talks_to_the_vendor():
    pass

@pytest.mark.slow
def test_takes_long():
    pass
"""


def test_live_tests_are_skipped_unless_opted_in(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_live=LIVE_TEST)
    result = pytester.runpytest(
        "--strict-markers", "-rs", "-p", "no:cacheprovider", "-p", "no:asyncio"
    )
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*SMARKETING_LIVE=1*"])
    monkeypatch.setenv("SMARKETING_LIVE", "1")
    result = pytester.runpytest("--strict-markers", "-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=2)


def test_plugin_keeps_a_project_marker_description(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    slow: our own words\n")
    result = pytester.runpytest("--markers", "-p", "no:cacheprovider", "-p", "no:asyncio")
    result.stdout.fnmatch_lines(["@pytest.mark.slow: our own words"])
    assert "takes more than a few seconds" not in result.stdout.str()
    result.stdout.fnmatch_lines(["@pytest.mark.live: talks to a real vendor account*"])


# --- the public surface -------------------------------------------------------------------------


def test_every_exported_name_resolves() -> None:
    import smarketing_sync.testing as kit

    assert sorted(kit.__all__) == sorted(dir(kit))
    for name in kit.__all__:
        assert getattr(kit, name) is not None, name


def test_importing_the_package_needs_no_test_dependencies() -> None:
    # The daemon's demo imports smarketing_sync.testing.population without the testing extra.
    code = (
        "import sys, smarketing_sync.testing.population, smarketing_sync.testing.plugin\n"
        "print(sorted({'respx', 'smarketing_sync.testing.conformance'} & set(sys.modules)))"
    )
    command = [sys.executable, "-c", code]  # our own interpreter, a fixed script
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
