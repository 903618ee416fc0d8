"""The HTML report in a real browser: Debian's headless Chromium renders the sample report.

Checks the headline numbers on the rendered DOM (by ``data-kpi``), saves a laptop-sized
screenshot and an A4 print to ``test-artifacts/`` for people to look at, and checks both files.
Without Chromium the module is skipped, except under CI (``CI=true``), where it fails: CI's
``.ci/run`` installs Debian's ``chromium`` package.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest

from smarketing_sync.report.render import render

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SAMPLE = ROOT / "tests" / "unit" / "report" / "render_sample.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chromium as root needs --no-sandbox; the rest keeps it off the (closed) network at start-up.
FLAGS = [
    "--headless",
    "--disable-gpu",
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def _sample() -> ModuleType:
    """The unit tests' hand-built report (one source for both tiers), loaded by its path."""
    name = "render_sample"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SAMPLE)
    assert spec is not None and spec.loader is not None, SAMPLE
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = (
        "headless Chromium not found as 'chromium' or 'chromium-browser' on PATH; "
        "install Debian's package: apt-get install --no-install-recommends chromium"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (.ci/run does this before the tests)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render(_sample().sample_report(), "html"), encoding="utf-8")
    return path


def _run(chromium: str, profile: Path, *arguments: str) -> str:
    command = [chromium, *FLAGS, f"--user-data-dir={profile}", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}: {done.stderr}"
    return done.stdout


class _Figures(HTMLParser):
    """``data-kpi`` → the text of its ``.value`` element, from the rendered DOM."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self.sections: list[str] = []
        self._kpi: str | None = None
        self._in_value = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section":
            self.sections.append(attributes.get("data-section") or "")
        if "data-kpi" in attributes and self.sections[-1:] == ["headline"]:
            self._kpi = attributes["data-kpi"]
            self.values[self._kpi or ""] = ""
        self._in_value = self._kpi is not None and attributes.get("class") == "value"

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self._kpi = None
        if tag == "span":
            self._in_value = False

    def handle_data(self, data: str) -> None:
        if self._in_value and self._kpi is not None:
            self.values[self._kpi] += data


def test_headline_numbers_are_on_the_rendered_page(
    chromium: str, page: Path, tmp_path: Path
) -> None:
    dom = _run(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    parser = _Figures()
    parser.feed(dom)
    assert parser.sections[0] == "headline"
    expected = {figure.key: figure.display for figure in _sample().HEADLINE_FIGURES}
    assert parser.values == expected
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # still text after parsing
    assert dom.count("<svg") == 4


def test_a_laptop_screenshot_is_saved(chromium: str, page: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report-page.png"
    screenshot.unlink(missing_ok=True)
    _run(
        chromium,
        tmp_path / "profile",
        f"--screenshot={screenshot}",
        "--window-size=1366,900",
        page.as_uri(),
    )
    data = screenshot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1366, 900)
    # A blank or error page compresses to a few kB; the headline strip and funnel do not.
    assert len(data) > 40_000, f"{screenshot} is only {len(data)} bytes"


def test_the_page_prints_on_a4(chromium: str, page: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "report-page.pdf"
    pdf.unlink(missing_ok=True)
    _run(
        chromium,
        tmp_path / "profile",
        "--no-pdf-header-footer",
        f"--print-to-pdf={pdf}",
        page.as_uri(),
    )
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)
    assert 1 <= len(boxes) <= 8, f"{len(boxes)} pages"
    for width, height in boxes:  # A4 is 595 × 842 points
        assert abs(float(width) - 595) < 2 and abs(float(height) - 842) < 2


def test_the_hand_computed_report_reads_right_in_the_browser(chromium: str, tmp_path: Path) -> None:
    """The KPI code's own report of the hand-computed fixture (tests/unit/report), rendered
    and read back from Chromium's DOM: the page shows the hand-computed headline numbers."""
    from smarketing_sync.report.build import build_report
    from smarketing_sync.report.facts import facts_from_file
    from smarketing_sync.report.kpis.months import months_between
    from smarketing_sync.report.options import ReportOptions, settings_from_config

    facts = facts_from_file(ROOT / "tests" / "unit" / "report" / "fixture_handcomputed.json")
    report_settings, sla = settings_from_config(facts.config)
    span = facts.config["range"]
    options = ReportOptions.from_settings(
        report_settings, sla, months=months_between(span["from"], span["to"]), as_of=facts.as_of
    )
    report = build_report(facts, options)
    page = tmp_path / "fixture.html"
    page.write_text(render(report, "html"), encoding="utf-8")
    parser = _Figures()
    parser.feed(_run(chromium, tmp_path / "profile", "--dump-dom", page.as_uri()))
    assert parser.values["handoffs"] == "10"  # 5 + 2 + 3 hand-offs (test_fixture.py)
    assert "36,500" in parser.values["won_revenue_total"]  # 12,500 + 1,500 + 22,500
    headline = report.section("headline").figures
    assert parser.values == {figure.key: figure.display for figure in headline}
