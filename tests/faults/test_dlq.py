"""Dead letters: automatic retry of transient push failures, manual retry, drop, the CLI."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smarketing_sync import dlq
from smarketing_sync.cli import main
from smarketing_sync.flow.runtime import build_runtime
from smarketing_sync.flow.survivorship import Survivorship
from smarketing_sync.settings import DlqSettings
from smarketing_sync.store.schema import customers, outbox

from .world import CRM, MA, FaultWorld, fault_world, norm

# One send per cycle and no HTTP-level retry: a single injected failure becomes a dead letter.
STRICT = {
    # Scoring off: its score writes would add 429s under these strict limits, and this test
    # counts dead letters exactly.
    "scoring": {"enabled": False},
    "sync": {"max_push_attempts": 1},
    "http": {"max_attempts": 1},
    "dlq": {"backoff_s": 0.001, "max_auto_retries": 3},
}


def shared(w: FaultWorld) -> tuple[str, dict[str, Any], dict[str, Any]]:
    crm = {norm(p["email"]): p for p in w.sandboxes[CRM].people()}
    for person in w.sandboxes[MA].people():
        if norm(person["email"]) in crm:
            return norm(person["email"]), person, crm[norm(person["email"])]
    raise AssertionError("no shared person")


async def dead_letter_one_push(w: FaultWorld, status: int, title: str) -> tuple[str, str]:
    """Edit a person in HubSpot and make Pipedrive refuse the resulting update once."""
    assert all(r.error is None for r in (await w.cycle()).values())
    email, ma_person, crm_person = shared(w)
    w.sandboxes[MA].edit_person(ma_person["id"], job_title=title)
    w.sandboxes[CRM].inject("PATCH", f"/api/v2/persons/{crm_person['id']}", status)
    reports = await w.cycle()
    push = reports[CRM].push
    assert push is not None and push.dead_lettered == 1, push
    return email, crm_person["id"]


async def test_transient_push_failure_is_retried_automatically(tmp_path: Path) -> None:
    with fault_world(tmp_path, **STRICT) as w:
        email, _ = await dead_letter_one_push(w, 503, "Chief Retry Officer")
        [letter] = dlq.list_letters(w.store)
        assert letter["stage"] == "push" and "503" in letter["reason"]
        assert dlq.is_transient(letter["stage"], letter["reason"])
        assert w.sandboxes[CRM].person_by_email(email)["job_title"] != "Chief Retry Officer"
        reports = await w.cycle()
        assert reports[CRM].push is not None and reports[CRM].push.updated == 1
        assert w.sandboxes[CRM].person_by_email(email)["job_title"] == "Chief Retry Officer"
        assert dlq.list_letters(w.store) == []
        assert dlq.summary(w.store) == {CRM: {"requeued": 1}}
        with w.store.read() as conn:
            statuses = conn.execute(sa.select(outbox.c.status)).scalars().all()
        assert "dead" not in statuses and "pending" not in statuses


async def test_automatic_retries_back_off_and_stop(tmp_path: Path) -> None:
    with fault_world(tmp_path, **STRICT) as w:
        _, crm_id = await dead_letter_one_push(w, 503, "Flaky")
        path = f"/api/v2/persons/{crm_id}"
        settings = DlqSettings(backoff_s=0.001, max_auto_retries=3)
        for retry_number in range(1, 4):
            w.sandboxes[CRM].inject("PATCH", path, 503)
            await w.cycle()
            letters = dlq.list_letters(w.store)
            assert len(letters) == 1, letters
            # one more attempt on the outbox row each time; the wait doubles
            assert letters[0]["attempts"] == 1 + retry_number
            due = dlq.next_retry_at(letters[0], settings, max_push_attempts=1)
            if retry_number < 3:
                assert due is not None
                assert due - letters[0]["created_at"] == timedelta(seconds=0.001 * 2**retry_number)
        # three automatic retries spent: it waits for a human now
        [spent] = dlq.list_letters(w.store)
        assert dlq.next_retry_at(spent, settings, max_push_attempts=1) is None
        await w.cycle()
        [still] = dlq.list_letters(w.store)
        assert (still["id"], still["attempts"]) == (spent["id"], spent["attempts"])


async def test_validation_failure_waits_for_a_human_then_retry_and_drop(tmp_path: Path) -> None:
    with fault_world(tmp_path, **STRICT) as w:
        email, _ = await dead_letter_one_push(w, 422, "Needs A Human")
        [letter] = dlq.list_letters(w.store)
        assert not dlq.is_transient(letter["stage"], letter["reason"])
        await w.cycle()
        assert [x["id"] for x in dlq.list_letters(w.store)] == [letter["id"]]  # not retried
        report = dlq.retry(
            w.store, w.runtimes, [letter], survivorship=Survivorship(w.settings.resolve)
        )
        assert report.requeued == 1
        await w.cycle()
        assert w.sandboxes[CRM].person_by_email(email)["job_title"] == "Needs A Human"
        again = dlq.retry(
            w.store,
            w.runtimes,
            [dlq.show(w.store, letter["id"])],
            survivorship=Survivorship(w.settings.resolve),
        )
        assert again.total() == 0 and again.skipped
        # drop: a second letter, given up on
        _, crm_person = shared(w)[0], shared(w)[2]
        w.sandboxes[MA].edit_person(shared(w)[1]["id"], job_title="Dropped Title")
        w.sandboxes[CRM].inject("PATCH", f"/api/v2/persons/{crm_person['id']}", 422)
        await w.cycle()
        [second] = dlq.list_letters(w.store)
        assert dlq.drop(w.store, [second["id"]]) == 1
        assert dlq.list_letters(w.store) == []
        assert dlq.show(w.store, second["id"])["resolution"] == "dropped"


async def test_stale_push_letter_is_superseded_not_replayed(tmp_path: Path) -> None:
    with fault_world(tmp_path, **STRICT) as w:
        email, _ = await dead_letter_one_push(w, 422, "Old Title")
        [letter] = dlq.list_letters(w.store)
        ma_person = w.sandboxes[MA].person_by_email(email)
        w.sandboxes[MA].edit_person(ma_person["id"], job_title="New Title")
        await w.cycle()
        assert w.sandboxes[CRM].person_by_email(email)["job_title"] == "New Title"
        report = dlq.retry(
            w.store, w.runtimes, [letter], survivorship=Survivorship(w.settings.resolve)
        )
        assert report.superseded == 1 and report.requeued == 0
        await w.cycle()
        assert w.sandboxes[CRM].person_by_email(email)["job_title"] == "New Title"


def _broken_mapping(tmp_path: Path) -> Path:
    """The shipped mapping with a mistake: persons' times read from the wrong field."""
    text = Path("mappings/pipedrive.toml").read_text()
    right = 'updated_at = { from = "update_time", as = "datetime" }'
    assert text.count(right) >= 1
    path = tmp_path / "pipedrive.toml"
    path.write_text(text.replace(right, 'updated_at = { from = "first_name", as = "datetime" }', 1))
    return path


async def test_map_letter_names_field_and_is_recovered_after_the_mapping_is_fixed(
    tmp_path: Path,
) -> None:
    with fault_world(tmp_path, **STRICT) as w:
        await w.cycle()
        good = w.runtimes[CRM]
        w.runtimes[CRM] = build_runtime(
            CRM,
            w.settings,
            overrides={
                **w.sandboxes[CRM].connector_settings(w.urls[CRM]),
                "mapping": str(_broken_mapping(tmp_path)),
            },
        )
        new_id = w.sandboxes[CRM].add_person(
            "fixed.later@example.com", first_name="Fix", last_name="Later"
        )
        reports = await w.cycle()
        assert reports[CRM].error is None and reports[CRM].pull is not None
        # every person read failed to map; the other streams and the run went on
        assert reports[CRM].pull.dead_lettered == reports[CRM].pull.per_stream["persons"] > 1
        assert {"activities", "deals"} <= set(reports[CRM].pull.per_stream)
        letters = dlq.list_letters(w.store)
        [letter] = [x for x in letters if x["external_id"] == str(new_id)]
        assert letter["stage"] == "map" and letter["reason"].startswith("updated_at:")
        assert letter["payload"]["first_name"] == "Fix"
        # Retrying with the same mapping fails again and says so.
        survivorship = Survivorship(w.settings.resolve)
        report = dlq.retry(w.store, w.runtimes, [letter], survivorship=survivorship)
        assert report.failed == 1
        assert dlq.show(w.store, letter["id"])["attempts"] == 2
        w.runtimes[CRM] = good
        report = dlq.retry(
            w.store, w.runtimes, dlq.list_letters(w.store), survivorship=survivorship
        )
        # versions never applied are applied now; ones applied before are moot
        assert report.recovered >= 1 and report.recovered + report.superseded == len(letters)
        assert dlq.show(w.store, letter["id"])["resolution"] == "recovered"
        assert dlq.list_letters(w.store) == []
        with w.store.read() as conn:
            golden = conn.execute(
                sa.select(customers.c.golden).where(customers.c.email == "fixed.later@example.com")
            ).scalar_one()
        assert golden["last_name"] == "Later"
        # and it reaches HubSpot with the next cycle
        await w.cycle()
        assert w.sandboxes[MA].person_by_email("fixed.later@example.com") is not None


async def test_bad_record_from_the_vendor_is_dead_lettered_naming_record_and_field(
    tmp_path: Path,
) -> None:
    with fault_world(tmp_path, **STRICT) as w:
        await w.cycle()
        bad_id = w.sandboxes[CRM].add_person("not an email", first_name="Bad")
        w.sandboxes[CRM].add_person("fine.person@example.com", first_name="Fine")
        reports = await w.cycle()
        assert reports[CRM].error is None
        [letter] = dlq.list_letters(w.store)
        assert letter["external_id"] == str(bad_id)
        assert letter["reason"].startswith("email:") and "not an email" in letter["reason"]
        assert w.sandboxes[MA].person_by_email("fine.person@example.com") is not None


def _config(tmp_path: Path, w: FaultWorld) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'data_dir = "{w.settings.data_dir}"\n[api]\nenabled = false\n'
        f"[connectors.{CRM}]\nenabled = true\n"
    )
    return path


async def test_cli_lists_shows_retries_and_drops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with fault_world(tmp_path, **STRICT) as w:
        await dead_letter_one_push(w, 422, "Via CLI")
        [letter] = dlq.list_letters(w.store)
        config = str(_config(tmp_path, w))
        capsys.readouterr()
        assert main(["--config", config, "dlq", "list"]) == 0
        out = capsys.readouterr().out
        assert f"#{letter['id']}" in out and "pipedrive: open=1" in out
        assert main(["--config", config, "dlq", "show", str(letter["id"])]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["transient"] is False and shown["payload"]["values"]
        assert main(["--config", config, "dlq", "retry", str(letter["id"])]) == 0
        assert "requeued 1" in capsys.readouterr().out
        assert main(["--config", config, "dlq", "retry", "99999"]) == 2
        assert main(["--config", config, "dlq", "drop", "--all"]) == 0
        assert "dropped 0" in capsys.readouterr().out
        assert main(["--config", config, "dlq", "list", "--all", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [x["resolution"] for x in listed] == ["requeued"]
