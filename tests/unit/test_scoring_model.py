"""The scoring file: the shipped model loads, and every kind of bad rule is refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from smarketing_sync.errors import ConfigError
from smarketing_sync.scoring import ACTIVITY_TYPES, find_scoring_file, load_model

ROOT = Path(__file__).resolve().parents[2]

BASE = """
format = 1
max_score = 100

[[fit]]
name = "senior"
field = "job_title"
contains = "head of"
points = 15

[engagement.email_click]
points = 5
half_life_days = 10
cap = 20

[bands]
default = "D"
[bands.A]
fit_min = 20
engagement_min = 30
[bands.B]
fit_min = 20
engagement_max = 30

[lifecycle.mql]
min_score = 60
min_fit = 20
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scoring.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_model(write(tmp_path, text))
    return info.value


def test_the_shipped_model_loads() -> None:
    model = load_model(ROOT / "scoring.toml")
    assert model.fit and model.engagement and model.bands
    assert set(model.engagement) <= ACTIVITY_TYPES
    assert model.lifecycle.mql_min_score == 60
    assert model.lifecycle.sql is not None


def test_without_a_configured_file_the_shipped_model_is_used(tmp_path: Path) -> None:
    # From a checkout (editable install) that is the repository's scoring.toml; a wheel carries
    # the same file as smarketing_sync/scoring/default_scoring.toml (test_install.py).
    packaged = find_scoring_file(tmp_path / "missing.toml")
    assert packaged.read_bytes() == (ROOT / "scoring.toml").read_bytes()
    assert find_scoring_file(ROOT / "scoring.toml") == ROOT / "scoring.toml"


def test_base_model_loads(tmp_path: Path) -> None:
    model = load_model(write(tmp_path, BASE))
    assert [r.name for r in model.fit] == ["senior"]
    assert model.band(25, 40) == "A"
    assert model.band(25, 10) == "B"
    assert model.band(5, 40) == "D"


def test_unknown_field_names_file_key_and_suggestion(tmp_path: Path) -> None:
    error = refused(tmp_path, BASE.replace('field = "job_title"', 'field = "jobtitle"'))
    text = str(error)
    assert "scoring.toml" in text
    assert error.key == "fit.senior.field"
    assert "unknown customer field 'jobtitle'" in text
    assert "did you mean 'job_title'" in text
    assert error.found == "jobtitle"


def test_extra_fields_are_known(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace('field = "job_title"', 'field = "seniority"'))
    with pytest.raises(ConfigError):
        load_model(path)
    assert load_model(path, extra_fields=["seniority"]).fit[0].condition.field == "seniority"


def test_unknown_activity_type(tmp_path: Path) -> None:
    error = refused(tmp_path, BASE.replace("[engagement.email_click]", "[engagement.email_clik]"))
    assert error.key == "engagement.email_clik"
    assert "unknown activity type 'email_clik'" in str(error)
    assert "did you mean 'email_click'" in str(error)


def test_unparsable_regex(tmp_path: Path) -> None:
    error = refused(tmp_path, BASE.replace('contains = "head of"', "regex = '(head of'"))
    assert error.key == "fit.senior.regex"
    assert "unparsable regex" in str(error)
    assert error.found == "(head of"


def test_overlapping_bands(tmp_path: Path) -> None:
    error = refused(tmp_path, BASE.replace("engagement_max = 30", "engagement_max = 31"))
    assert error.key == "bands.B"
    assert "band 'B' overlaps band 'A'" in str(error)


def test_touching_bands_do_not_overlap(tmp_path: Path) -> None:
    # A's lower engagement bound is inclusive and B's upper bound exclusive: they only touch.
    assert load_model(write(tmp_path, BASE)).band(20, 30) == "A"


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (("format = 1", "format = 2"), "format", "unsupported format"),
        (('contains = "head of"', 'contains = "head of"\nequals = "x"'), "fit.senior",
         "exactly one"),
        (("points = 15", "points = 15\npoint = 3"), "fit[0]", "unknown key 'point'"),
        (("points = 15", 'points = "15"'), "fit.senior.points", "not a number"),
        (("min_score = 60", "min_score = 160"), "lifecycle.mql.min_score", "unreachable"),
        (("cap = 20", "cap = -1"), "engagement.email_click.cap", "must be positive"),
        (("half_life_days = 10", "half_life_days = -1"), "engagement.email_click.half_life_days",
         "negative half-life"),
    ],
)  # fmt: skip
def test_other_mistakes(tmp_path: Path, change: tuple[str, str], key: str, words: str) -> None:
    error = refused(tmp_path, BASE.replace(*change))
    assert error.key == key
    assert words in str(error)


def test_recycle_rule_needs_known_stages(tmp_path: Path) -> None:
    text = BASE + '\n[[lifecycle.recycle]]\nname = "x"\nfrom = ["customer"]\ninactive_days = 9\n'
    error = refused(tmp_path, text)
    assert error.key == "lifecycle.recycle.x.from"


def test_version_follows_rules_not_layout(tmp_path: Path) -> None:
    base = load_model(write(tmp_path, BASE)).version
    assert load_model(write(tmp_path, "# a comment\n" + BASE + "\n\n")).version == base
    assert load_model(write(tmp_path, BASE.replace("points = 15", "points = 16"))).version != base


def test_not_toml(tmp_path: Path) -> None:
    assert "not valid TOML" in str(refused(tmp_path, "format = = 1"))
