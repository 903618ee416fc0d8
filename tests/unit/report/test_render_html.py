"""The self-contained HTML page and its inline SVG charts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from render_sample import FORMULA_CAMPAIGN, HEADLINE_FIGURES, HOSTILE_NAME, sample_report

from smarketing_sync.report.model import (
    Figure,
    FunnelChart,
    Report,
    Section,
    Table,
    TrendChart,
)
from smarketing_sync.report.render import render
from smarketing_sync.report.render.svg import axis_ticks, funnel_svg, trend_svg

VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}
FORBIDDEN_TAGS = {"script", "link", "img", "iframe", "object", "embed", "base", "form", "video"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def find_all(self, tag: str = "", **attrs: str) -> list[Element]:
        found = []
        for child in self.children:
            if (not tag or child.tag == tag) and all(
                child.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items()
            ):
                found.append(child)
            found += child.find_all(tag, **attrs)
        return found

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)


class TreeParser(HTMLParser):
    """A strict tree builder: every non-void tag must be closed, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.errors: list[str] = []
        self.text_chunks: list[str] = []
        self.attribute_values: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.attribute_values += element.attrs.values()
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.attribute_values += element.attrs.values()
        self.stack[-1].children.append(element)

    def handle_endtag(self, tag: str) -> None:
        if len(self.stack) == 1 or self.stack[-1].tag != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1].tag}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].text += data
        self.text_chunks.append(data)


def _parse(html: str) -> TreeParser:
    parser = TreeParser()
    parser.feed(html)
    parser.close()
    assert parser.errors == []
    assert [e.tag for e in parser.stack] == ["#document"], "unclosed tags"
    return parser


@pytest.fixture(scope="module")
def page() -> str:
    return render(sample_report(), "html")


@pytest.fixture(scope="module")
def tree(page: str) -> TreeParser:
    return _parse(page)


def test_the_page_is_balanced_html_with_a_title_and_headings(tree: TreeParser) -> None:
    html = tree.root.find_all("html")[0]
    assert html.attrs["lang"] == "en"
    assert tree.root.find_all("title")[0].text == "Shared KPI report · 2024-12 – 2025-02"
    assert tree.root.find_all("h1")[0].text == "Shared KPI report"
    headings = [h.text for h in tree.root.find_all("h2")]
    assert headings[0] == "Headline"
    assert set(headings) == {s.title for s in sample_report().sections}


def test_each_headline_figure_carries_its_key_value_and_display(tree: TreeParser) -> None:
    sections = tree.root.find_all("section")
    assert sections[0].attrs["data-section"] == "headline"  # first, though second in the model
    cards = {li.attrs["data-kpi"]: li for li in sections[0].find_all("li")}
    assert list(cards) == [f.key for f in HEADLINE_FIGURES]
    for figure in HEADLINE_FIGURES:
        card = cards[figure.key]
        value = card.find_all("span", **{"class": "value"})[0]
        assert value.text == figure.display
        expected_raw = "" if figure.value is None else format(figure.value, "g")
        assert card.attrs["data-value"] == expected_raw
    assert cards["handoffs"].find_all("span", **{"class": "detail met"})[0].text == (
        "target 120 · met"
    )
    assert cards["sla_decision_compliance"].find_all("span", **{"class": "detail missed"})


def test_the_page_loads_nothing_and_runs_nothing(page: str, tree: TreeParser) -> None:
    tags = {element.tag for element in tree.root.find_all()}
    assert not tags & FORBIDDEN_TAGS
    for value in tree.attribute_values:
        assert "http:" not in value and "https:" not in value and not value.startswith("//")
    assert all(a.attrs["href"].startswith("#") for a in tree.root.find_all("a"))
    style = tree.root.find_all("style")[0].text
    assert "url(" not in style and "@import" not in style and "@font-face" not in style
    csp = tree.root.find_all("meta", http_equiv="Content-Security-Policy")[0]
    assert csp.attrs["content"].startswith("default-src 'none'")
    # The one URL in the sample is a campaign name: it may only appear as escaped text.
    assert any("http://evil.example/x" in chunk for chunk in tree.text_chunks)
    outside_text = page
    for chunk in tree.text_chunks:
        outside_text = outside_text.replace(_escaped(chunk), "")
    assert "http://" not in outside_text and "https://" not in outside_text


def _escaped(text: str) -> str:
    from html import escape

    return escape(text)


def test_vendor_text_is_escaped(page: str, tree: TreeParser) -> None:
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    owners = [td.text for td in tree.root.find_all("td") if td.text == HOSTILE_NAME]
    assert owners == [HOSTILE_NAME]
    assert any(th.text == FORMULA_CAMPAIGN for th in tree.root.find_all("th"))


def test_every_text_field_is_escaped_even_in_charts() -> None:
    hostile = '<img src=x onerror=alert(1)>"'
    report = Report(
        title=hostile,
        as_of=datetime(2025, 1, 1, tzinfo=UTC),
        months=["2024-12"],
        timezone=hostile,
        currency=hostile,
        attribution=hostile,
        sections=[
            Section(
                hostile,
                hostile,
                figures=[Figure(hostile, hostile, 1, "percent", hostile, note=hostile, target=1)],
                tables=[Table(hostile, hostile, [hostile, hostile], [[hostile, hostile]], {0})],
                charts=[
                    FunnelChart(hostile, hostile, {hostile: [(hostile, 3), (hostile, 1)]}),
                    TrendChart(hostile, hostile, [hostile], {hostile: [5.0]}, unit="money"),
                ],
                notes=[hostile],
            )
        ],
    )
    page = render(report, "html")
    assert "<img" not in page
    tree = _parse(page)
    assert not {element.tag for element in tree.root.find_all()} & FORBIDDEN_TAGS
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") > 15


def test_tables_have_captions_scoped_headers_and_greyed_muted_rows(tree: TreeParser) -> None:
    table = tree.root.find_all("table", data_table="handoff_cohorts")[0]
    assert table.find_all("caption")[0].text.startswith("Hand-off cohorts")
    heads = table.find_all("th", scope="col")
    assert [th.text for th in heads][:2] == ["Cohort", "Hand-offs"]
    assert heads[1].attrs["class"] == "num"
    rows = table.find_all("tbody")[0].find_all("tr")
    assert [row.attrs.get("class", "") for row in rows] == ["", "muted", "muted"]
    first_cells = [row.find_all("th", scope="row")[0].all_text() for row in rows]
    assert first_cells == ["2024-12", "2025-01 (provisional)", "2025-02 (provisional)"]
    notes = tree.root.find_all("section", data_section="cohorts")[0].find_all("ul")
    assert "Greyed rows are provisional" in notes[0].all_text()


def test_both_chart_kinds_are_inline_svg_with_a_text_alternative(tree: TreeParser) -> None:
    for key in ("funnel_by_source", "trend_volumes", "won_revenue_by_source", "sla_rates"):
        figure = tree.root.find_all("figure", data_chart=key)[0]
        svg = figure.find_all("svg")[0]
        assert svg.attrs["role"] == "img"
        title_id, desc_id = svg.attrs["aria-labelledby"].split()
        assert svg.find_all("title", id=title_id)[0].text
        assert svg.find_all("desc", id=desc_id)[0].text
        alternative = figure.find_all("details")[0].find_all("table")[0]
        assert alternative.find_all("th", scope="col")
    funnel = tree.root.find_all("figure", data_chart="funnel_by_source")[0]
    texts = [t.text for t in funnel.find_all("text")]
    assert {"marketing", "sales", "Lead  1,200", "MQL  540"} <= set(texts)
    assert "45.0 % · cum. 45.0 %" in texts
    assert len(funnel.find_all("svg")[0].find_all("rect")) == 7 + 5


def test_the_trend_chart_draws_lines_with_gaps_and_stacked_bars(tree: TreeParser) -> None:
    volumes = tree.root.find_all("figure", data_chart="trend_volumes")[0].find_all("svg")[0]
    paths = [p.attrs["d"] for p in volumes.find_all("path")]
    assert len(paths) == 4
    assert paths[3].count("M") == 1 and paths[3].count("L") == 1  # Customers: no 2025-02 value
    assert {"2024-12", "2025-01", "2025-02", "month", "count"} <= {
        t.text for t in volumes.find_all("text")
    }
    revenue = tree.root.find_all("figure", data_chart="won_revenue_by_source")[0]
    bars = revenue.find_all("svg")[0].find_all("rect")
    tips = [bar.find_all("title")[0].text for bar in bars if bar.find_all("title")]
    assert "2024-12 · sales: €47,500" in tips and len(tips) == 6
    labels = {t.text for t in revenue.find_all("text")}
    assert {"€0", "€50k", "€100k", "€150k", "EUR", "marketing", "sales"} <= labels
    sla = tree.root.find_all("figure", data_chart="sla_rates")[0]
    assert "100 %" in {t.text for t in sla.find_all("text")}


def test_the_page_is_printable(tree: TreeParser) -> None:
    style = tree.root.find_all("style")[0].text
    print_css = style[style.index("@media print") :]
    assert "break-inside: avoid" in print_css
    assert "background: none" in print_css
    assert re.search(r"@page\s*\{\s*size:\s*A4", style)


@pytest.mark.parametrize(
    ("low", "high", "integer", "expected"),
    [
        (0, 523, True, [0, 200, 400, 600]),
        (0, 3, True, [0, 1, 2, 3]),
        (0, 0.93, False, [0, 0.5, 1.0]),
        (-12000, 30000, False, [-20000, 0, 20000, 40000]),
    ],
)
def test_axis_ticks_are_round_and_cover_the_values(
    low: float, high: float, integer: bool, expected: list[float]
) -> None:
    assert axis_ticks(low, high, integer=integer) == expected


def test_charts_without_data_still_draw() -> None:
    empty_trend = trend_svg(TrendChart("e", "Empty", [], {}), "EUR", "e")
    all_missing = trend_svg(TrendChart("m", "Missing", ["2025-01"], {"a": [None]}), "EUR", "m")
    empty_funnel = funnel_svg(FunnelChart("f", "No funnel", {"marketing": []}), "f")
    zero_funnel = funnel_svg(FunnelChart("z", "Zero", {"sales": [("Lead", 0), ("SQL", 0)]}), "z")
    for svg in (empty_trend, all_missing, empty_funnel, zero_funnel):
        _parse(svg)
    assert "no data" in empty_funnel
    assert "0 · cum." not in zero_funnel and "— · cum. —" in zero_funnel
