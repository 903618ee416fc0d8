"""Campaign costs from CSV or TOML: values, every error naming where, and the store refresh."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from smarketing_sync.errors import ConfigError
from smarketing_sync.report.costs import CampaignCost, load_costs, refresh_costs
from smarketing_sync.settings import ReportSettings
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import campaign_costs

ROOT = Path(__file__).resolve().parents[2]
CSV_OK = """campaign,month,amount,currency,channel
C-WEB,2026-01,1200.50,eur,organic
C-ADS,2026-01,3000,EUR,
"""
TOML_OK = """
[[cost]]
campaign = "C-WEBINAR"
month = "2026-02"
amount = 2500
currency = "EUR"
channel = "events"

[[cost]]
campaign = "C-ADS"
month = "2026-02"
amount = 1999.99
currency = "USD"
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.dispose()


def test_csv_is_read_with_optional_channel(tmp_path: Path) -> None:
    assert load_costs(write(tmp_path, "costs.csv", CSV_OK)) == [
        CampaignCost("C-WEB", "2026-01", 1200.5, "EUR", "organic"),
        CampaignCost("C-ADS", "2026-01", 3000.0, "EUR", None),
    ]


def test_csv_without_channel_column(tmp_path: Path) -> None:
    text = "campaign,month,amount,currency\nC-WEB,2026-01,10,EUR\n\n"
    assert load_costs(write(tmp_path, "costs.csv", text)) == [
        CampaignCost("C-WEB", "2026-01", 10.0, "EUR")
    ]


def test_toml_is_read(tmp_path: Path) -> None:
    assert load_costs(write(tmp_path, "costs.toml", TOML_OK)) == [
        CampaignCost("C-WEBINAR", "2026-02", 2500.0, "EUR", "events"),
        CampaignCost("C-ADS", "2026-02", 1999.99, "USD", None),
    ]


def test_the_shipped_example_loads() -> None:
    costs = load_costs(ROOT / "campaign_costs.example.csv")
    assert {c.campaign for c in costs} == {"C-WEB", "C-WEBINAR", "C-ADS"}


@pytest.mark.parametrize(
    ("line", "key", "expected", "found"),
    [
        ("C-WEB,2026-13,10,EUR", "line 3.month", "YYYY-MM", "2026-13"),
        ("C-WEB,03/2026,10,EUR", "line 3.month", "YYYY-MM", "03/2026"),
        ("C-WEB,2026-03,-5,EUR", "line 3.amount", "zero or more", "-5"),
        ("C-WEB,2026-03,ten,EUR", "line 3.amount", "a number", "ten"),
        ("C-WEB,2026-03,nan,EUR", "line 3.amount", "a number", "nan"),
        ("C-WEB,2026-03,10,EURO", "line 3.currency", "3-letter ISO 4217", "EURO"),
        ("C-WEB,2026-03,10,", "line 3.currency", "3-letter ISO 4217", ""),
        (",2026-03,10,EUR", "line 3.campaign", "a campaign name", ""),
    ],
)
def test_csv_errors_name_file_line_field_expected_and_found(
    tmp_path: Path, line: str, key: str, expected: str, found: str
) -> None:
    path = write(
        tmp_path, "costs.csv", f"campaign,month,amount,currency\nC-X,2026-01,1,EUR\n{line}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_costs(path)
    error = info.value
    assert error.file == str(path)
    assert error.key == key
    assert expected in (error.expected or "")
    assert error.found == found
    assert str(path) in str(error) and key in str(error)


def test_duplicate_campaign_and_month_names_both_places(tmp_path: Path) -> None:
    rows = ["C-WEB,2026-01,1,EUR", "C-ADS,2026-01,1,EUR", "C-WEB,2026-01,2,EUR"]
    text = "campaign,month,amount,currency\n" + "\n".join(rows) + "\n"
    with pytest.raises(ConfigError, match=r"line 4: campaign\+month.*first at line 2"):
        load_costs(write(tmp_path, "costs.csv", text))


def test_bad_header_says_what_is_expected(tmp_path: Path) -> None:
    path = write(tmp_path, "costs.csv", "campaign,month,cost,currency\nC,2026-01,1,EUR\n")
    with pytest.raises(ConfigError, match=r"\[line 1\].*campaign,month,amount,currency"):
        load_costs(path)


def test_extra_values_on_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, "costs.csv", "campaign,month,amount,currency\nC,2026-01,1,EUR,x,y\n")
    with pytest.raises(ConfigError, match=r"\[line 2\].*more values"):
        load_costs(path)


def test_toml_errors_name_the_entry(tmp_path: Path) -> None:
    bad_month = TOML_OK.replace(
        'month = "2026-02"\namount = 1999.99', 'month = "2026-2"\namount = 1'
    )
    with pytest.raises(ConfigError) as info:
        load_costs(write(tmp_path, "costs.toml", bad_month))
    assert info.value.key == "cost #2.month"
    unknown = TOML_OK.replace('channel = "events"', 'chanel = "events"')
    with pytest.raises(ConfigError, match=r"\[cost #1.chanel\]: unknown key"):
        load_costs(write(tmp_path, "costs.toml", unknown))
    with pytest.raises(ConfigError, match=r"\[cost #1.amount\]: amount is missing"):
        load_costs(
            write(
                tmp_path, "costs.toml", '[[cost]]\ncampaign="A"\nmonth="2026-01"\ncurrency="EUR"\n'
            )
        )
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_costs(write(tmp_path, "costs.toml", "[[cost]\n"))


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"expected a .csv or .toml file, found '.xlsx'"):
        load_costs(write(tmp_path, "costs.xlsx", ""))
    with pytest.raises(ConfigError, match="cannot read campaign costs"):
        load_costs(tmp_path / "absent.csv")


def stored(store: Store) -> list[tuple[str, str, float]]:
    with store.read() as conn:
        rows = conn.execute(
            sa.select(
                campaign_costs.c.campaign, campaign_costs.c.month, campaign_costs.c.amount
            ).order_by(campaign_costs.c.campaign)
        )
        return [(r[0], r[1], r[2]) for r in rows]


def test_refresh_replaces_the_table_and_keeps_it_on_a_bad_file(
    tmp_path: Path, store: Store
) -> None:
    assert refresh_costs(store, ReportSettings()) == 0
    path = write(tmp_path, "costs.csv", CSV_OK)
    assert refresh_costs(store, ReportSettings(costs_file=path)) == 2
    assert stored(store) == [("C-ADS", "2026-01", 3000.0), ("C-WEB", "2026-01", 1200.5)]
    path.write_text("campaign,month,amount,currency\nC-NEW,2026-02,5,EUR\n", encoding="utf-8")
    assert refresh_costs(store, ReportSettings(costs_file=path)) == 1
    assert stored(store) == [("C-NEW", "2026-02", 5.0)]
    path.write_text("campaign,month,amount,currency\nC-NEW,2026-02,-5,EUR\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        refresh_costs(store, ReportSettings(costs_file=path))
    assert stored(store) == [("C-NEW", "2026-02", 5.0)]
