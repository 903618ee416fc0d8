"""Cursor bugs on the vendor's side: a page served twice doubles nothing; a page never served
is read again through the lookback window on the next cycle, so nothing is lost."""

from __future__ import annotations

from pathlib import Path

from .test_injection import converge, no_duplicates
from .world import CRM, MA, FaultWorld, fault_world, norm


def edit_every_person(w: FaultWorld, label: str) -> dict[str, str]:
    titles = {}
    for person in w.sandboxes[CRM].people():
        title = f"{label} {person['id']}"
        w.sandboxes[CRM].edit_person(person["id"], job_title=title)
        titles[norm(person["email"])] = title
    return titles


def missing_in_hubspot(w: FaultWorld, titles: dict[str, str]) -> list[str]:
    return [
        email
        for email, title in titles.items()
        if (w.sandboxes[MA].person_by_email(email) or {}).get("job_title") != title
    ]


async def test_a_repeated_page_stops_the_read_which_resumes_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    with fault_world(tmp_path, people=30) as w:
        await converge(w)
        crm = w.sandboxes[CRM]
        crm.page_cap = 5
        titles = edit_every_person(w, "Repeated")
        crm.page_faults = ["repeat"]
        reports = await w.cycle()
        assert crm.page_faults_served["repeat"] == 1
        # The connector notices the cursor it was handed back and stops rather than loop.
        assert "repeated page cursor" in (reports[CRM].error or "")
        assert reports[MA].error is None
        await converge(w)
        assert missing_in_hubspot(w, titles) == []
        no_duplicates(w)


async def test_a_skipped_page_is_recovered_by_the_lookback(tmp_path: Path) -> None:
    with fault_world(tmp_path, people=30) as w:
        await converge(w)
        crm = w.sandboxes[CRM]
        crm.page_cap = 5
        titles = edit_every_person(w, "Skipped")
        crm.page_faults = ["skip"]
        assert (await w.cycle())[CRM].error is None
        assert crm.page_faults_served["skip"] == 1
        lost_for_now = missing_in_hubspot(w, titles)
        assert len(lost_for_now) == 5  # the page the vendor never served
        await converge(w, 1)
        assert missing_in_hubspot(w, titles) == []
        no_duplicates(w)
