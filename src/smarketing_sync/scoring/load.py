"""Read and validate a scoring file; every mistake is a ``ConfigError`` naming file and key."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from smarketing_sync.checkout import checkout_dir
from smarketing_sync.errors import ConfigError
from smarketing_sync.mapping.model import COMPUTED_FIELDS, CORE_CUSTOMER_FIELDS
from smarketing_sync.scoring.model import (
    ACTIVITY_TYPES,
    DERIVED_FIELDS,
    OPERATORS,
    RANK,
    Band,
    Condition,
    EngagementRule,
    FitRule,
    Inactivity,
    Lifecycle,
    RecycleRule,
    ScoringModel,
    compile_regex,
)

FORMAT = 1
#: The packaged copy of the top-level ``scoring.toml`` (a test keeps the two identical), used
#: when the configured file does not exist, as the packaged mappings are.
PACKAGED_FILE = "default_scoring.toml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_ -]*$")


def find_scoring_file(configured: Path) -> Path:
    """The configured scoring file if it exists, else the packaged default."""
    if configured.is_file():
        return configured
    packaged = resources.files("smarketing_sync.scoring") / PACKAGED_FILE
    if isinstance(packaged, Path) and packaged.is_file():
        return packaged  # a built wheel carries the repository's scoring.toml here
    shipped = checkout_dir(".")  # an editable install: the checkout's own default
    if shipped is not None and (shipped / "scoring.toml").is_file():
        return shipped / "scoring.toml"
    raise ConfigError(
        "no scoring file",
        key="scoring_file",
        expected=f"a scoring model at {configured} or the package's {PACKAGED_FILE}",
    )


def load_model(path: Path, *, extra_fields: Iterable[str] = ()) -> ScoringModel:
    """Parse and validate ``path``.

    Raises:
        ConfigError: naming the file, the key, what was expected and what was found.
    """
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the scoring file: {exc}", file=where) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=where) from exc
    return _Reader(where, CORE_CUSTOMER_FIELDS | frozenset(extra_fields)).model(path, data)


def model_version(data: Mapping[str, Any]) -> str:
    """A short hash of the parsed rules: comments and layout do not count, any rule does."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return "m" + hashlib.sha256(canonical.encode()).hexdigest()[:10]


class _Reader:
    def __init__(self, where: str, customer_fields: frozenset[str]) -> None:
        self.where = where
        self.fields = customer_fields | DERIVED_FIELDS

    def fail(self, message: str, key: str, expected: str | None = None, found: Any = None) -> None:
        raise ConfigError(message, file=self.where, key=key, expected=expected, found=found)

    def table(self, data: Mapping[str, Any], key: str, allowed: Iterable[str]) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not a table", key, "a table", data)
        allowed = set(allowed)
        for name in data:
            if name not in allowed:
                close = difflib.get_close_matches(name, sorted(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.fail(
                    f"unknown key {name!r}{hint}", key, "one of " + ", ".join(sorted(allowed))
                )
        return dict(data)

    def number(self, data: Mapping[str, Any], key: str, name: str, default: float | None) -> float:
        value = data.get(name, default)
        if value is None:
            self.fail(f"{name!r} is missing", key, "a number")
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            self.fail(f"{name!r} is not a number", f"{key}.{name}", "a number", value)
        return float(value)

    def text(self, data: Mapping[str, Any], key: str, name: str, default: str | None = None) -> str:
        value = data.get(name, default)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{name!r} is missing or empty", f"{key}.{name}", "a non-empty string", value)
        return str(value)

    # -- the file ---------------------------------------------------------------------------

    def model(self, path: Path, data: dict[str, Any]) -> ScoringModel:
        self.table(
            data, "scoring", {"format", "max_score", "fit", "engagement", "inactivity", "bands",
                              "lifecycle"}
        )  # fmt: skip
        if data.get("format") != FORMAT:
            self.fail("unsupported format", "format", str(FORMAT), data.get("format"))
        max_score = self.number(data, "scoring", "max_score", 100)
        if max_score <= 0:
            self.fail("must be positive", "max_score", "a number > 0", max_score)
        fit_rules = data.get("fit", [])
        if not isinstance(fit_rules, list):
            self.fail("not a list of rules", "fit", "[[fit]] tables", fit_rules)
        fit = tuple(self.fit_rule(i, rule) for i, rule in enumerate(fit_rules))
        names = [r.name for r in fit]
        for name in names:
            if names.count(name) > 1:
                self.fail("two fit rules share a name", f"fit.{name}", "unique names", name)
        engagement = self.engagement(data.get("engagement", {}))
        inactivity = self.inactivity(data["inactivity"]) if "inactivity" in data else None
        bands, default_band = self.bands(data.get("bands"))
        lifecycle = self.lifecycle(data.get("lifecycle"), max_score)
        return ScoringModel(
            path=path,
            version=model_version(data),
            fit=fit,
            engagement=engagement,
            inactivity=inactivity,
            max_score=max_score,
            bands=bands,
            default_band=default_band,
            lifecycle=lifecycle,
        )

    def condition(self, data: Mapping[str, Any], key: str) -> Condition:
        field = self.text(data, key, "field")
        if field not in self.fields:
            close = difflib.get_close_matches(field, sorted(self.fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            if field in COMPUTED_FIELDS:
                hint = "; computed values cannot be scored on"
            self.fail(
                f"unknown customer field {field!r}{hint}",
                f"{key}.field",
                "a customer field ([customer] extra_fields adds more)",
                field,
            )
        ops = [op for op in (*OPERATORS, "min", "max") if op in data]
        ranged = [op for op in ops if op in ("min", "max", "range")]
        plain = [op for op in ops if op not in ("min", "max", "range")]
        if len(plain) + (1 if ranged else 0) != 1:
            self.fail(
                "needs exactly one test",
                key,
                "one of equals, in, contains, regex, min/max, empty",
                ops or None,
            )
        if ranged:
            return Condition.build(field, "range", self.range(data, key))
        op = plain[0]
        arg = data[op]
        if op == "equals":
            if not isinstance(arg, str | int | float | bool):
                self.fail("not a single value", f"{key}.equals", "a string, number or bool", arg)
            return Condition.build(field, "equals", arg)
        if op in ("in", "contains"):
            items = [arg] if op == "contains" and isinstance(arg, str) else arg
            if not isinstance(items, list) or not items:
                self.fail("not a non-empty list", f"{key}.{op}", "a list of values", arg)
            if op == "contains" and not all(isinstance(i, str) and i.strip() for i in items):
                self.fail("not text", f"{key}.contains", "non-empty strings", arg)
            return Condition.build(field, op, tuple(items))  # type: ignore[arg-type]
        if op == "regex":
            if not isinstance(arg, str):
                self.fail("not a pattern", f"{key}.regex", "a regular expression string", arg)
            try:
                return Condition.build(field, "regex", compile_regex(arg))
            except re.error as exc:
                self.fail(f"unparsable regex: {exc}", f"{key}.regex", "a valid pattern", arg)
        if not isinstance(arg, bool):
            self.fail("not true/false", f"{key}.empty", "true or false", arg)
        return Condition.build(field, "empty", arg)

    def range(self, data: Mapping[str, Any], key: str) -> tuple[float | None, float | None]:
        if "range" in data:
            self.fail("write min and/or max instead", f"{key}.range", "min = .., max = ..")
        low = self.number(data, key, "min", None) if "min" in data else None
        high = self.number(data, key, "max", None) if "max" in data else None
        if low is not None and high is not None and low > high:
            self.fail("min is above max", key, "min <= max", [low, high])
        return low, high

    def fit_rule(self, index: int, data: Any) -> FitRule:
        key = f"fit[{index}]"
        self.table(
            data, key, {"name", "label", "field", "points", "disqualify", "min", "max", *OPERATORS}
        )
        name = self.text(data, key, "name")
        if not _NAME.match(name):
            self.fail("not a rule name", f"{key}.name", "letters, digits, _ - and spaces", name)
        key = f"fit.{name}"
        condition = self.condition(data, key)
        disqualify = data.get("disqualify", False)
        if not isinstance(disqualify, bool):
            self.fail("not true/false", f"{key}.disqualify", "true or false", disqualify)
        if disqualify and "points" in data:
            self.fail("a disqualifying rule has no points", key, "points or disqualify, not both")
        points = 0.0 if disqualify else self.number(data, key, "points", None)
        label = self.text(data, key, "label", name.replace("_", " "))
        return FitRule(name, label, condition, points, disqualify)

    def engagement(self, data: Any) -> dict[str, EngagementRule]:
        rules: dict[str, EngagementRule] = {}
        if not isinstance(data, dict):
            self.fail("not a table", "engagement", "[engagement.<activity type>] tables", data)
        defaults = self.table(
            data.get("defaults", {}), "engagement.defaults", {"half_life_days", "cap_period_days"}
        )
        for activity_type, rule in data.items():
            if activity_type == "defaults":
                continue
            key = f"engagement.{activity_type}"
            if activity_type not in ACTIVITY_TYPES:
                close = difflib.get_close_matches(activity_type, sorted(ACTIVITY_TYPES), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.fail(
                    f"unknown activity type {activity_type!r}{hint}",
                    key,
                    "one of " + ", ".join(sorted(ACTIVITY_TYPES)),
                    activity_type,
                )
            self.table(rule, key, {"points", "label", "half_life_days", "cap", "cap_period_days"})
            points = self.number(rule, key, "points", None)
            half_life = self.number(rule, key, "half_life_days", defaults.get("half_life_days", 0))
            period = self.number(rule, key, "cap_period_days", defaults.get("cap_period_days", 30))
            cap = self.number(rule, key, "cap", None) if "cap" in rule else None
            if half_life < 0:
                self.fail(
                    "negative half-life", f"{key}.half_life_days", ">= 0 (0: no decay)", half_life
                )
            if period <= 0:
                self.fail("must be positive", f"{key}.cap_period_days", "a number > 0", period)
            if cap is not None and cap <= 0:
                self.fail("must be positive", f"{key}.cap", "a number > 0 (a magnitude)", cap)
            label = self.text(rule, key, "label", activity_type.replace("_", " "))
            rules[activity_type] = EngagementRule(
                activity_type, label, points, half_life, cap, period
            )
        return rules

    def inactivity(self, data: Any) -> Inactivity:
        self.table(data, "inactivity", {"after_days", "points", "label"})
        after = self.number(data, "inactivity", "after_days", None)
        points = self.number(data, "inactivity", "points", None)
        if after <= 0:
            self.fail("must be positive", "inactivity.after_days", "a number > 0", after)
        if points > 0:
            self.fail("inactivity cannot add points", "inactivity.points", "a number <= 0", points)
        label = self.text(data, "inactivity", "label", f"no engagement for {after:g} days")
        return Inactivity(after, points, label)

    def bands(self, data: Any) -> tuple[tuple[Band, ...], str]:
        if data is None:
            self.fail("missing", "bands", "a [bands] table with default and one table per band")
        if not isinstance(data, dict):
            self.fail("not a table", "bands", "a table", data)
        default = self.text(data, "bands", "default")
        bands: list[Band] = []
        for name, spec in data.items():
            if name == "default":
                continue
            key = f"bands.{name}"
            self.table(spec, key, {"fit_min", "fit_max", "engagement_min", "engagement_max"})
            band = Band(
                name,
                self.number(spec, key, "fit_min", -math.inf),
                self.number(spec, key, "fit_max", math.inf),
                self.number(spec, key, "engagement_min", -math.inf),
                self.number(spec, key, "engagement_max", math.inf),
            )
            if band.fit_min >= band.fit_max or band.engagement_min >= band.engagement_max:
                self.fail("empty band", key, "each min below its max", spec)
            for other in bands:
                if band.overlaps(other):
                    self.fail(
                        f"band {name!r} overlaps band {other.name!r}",
                        key,
                        "bands that share no fit × engagement point",
                        spec,
                    )
            bands.append(band)
        if default in {b.name for b in bands}:
            self.fail(
                "the default band is also a ranged band", "bands.default", "a new name", default
            )
        return tuple(bands), default

    def lifecycle(self, data: Any, max_score: float) -> Lifecycle:
        if data is None:
            self.fail("missing", "lifecycle", "a [lifecycle] table with at least [lifecycle.mql]")
        self.table(data, "lifecycle", {"subscriber", "mql", "sql", "recycle"})
        subscriber = None
        if "subscriber" in data:
            self.table(
                data["subscriber"], "lifecycle.subscriber", {"field", *OPERATORS, "min", "max"}
            )
            subscriber = self.condition(data["subscriber"], "lifecycle.subscriber")
        mql = self.table(data.get("mql"), "lifecycle.mql", {"min_score", "min_fit"})
        min_score = self.number(mql, "lifecycle.mql", "min_score", None)
        if not 0 < min_score <= max_score:
            self.fail(
                "unreachable threshold",
                "lifecycle.mql.min_score",
                f"0 < n <= {max_score:g}",
                min_score,
            )
        min_fit = self.number(mql, "lifecycle.mql", "min_fit", -math.inf)
        sql = None
        if "sql" in data:
            self.table(data["sql"], "lifecycle.sql", {"field", *OPERATORS, "min", "max"})
            sql = self.condition(data["sql"], "lifecycle.sql")
        recycle_rules = data.get("recycle", [])
        if not isinstance(recycle_rules, list):
            self.fail("not a list of rules", "lifecycle.recycle", "[[lifecycle.recycle]] tables")
        recycle = tuple(self.recycle_rule(i, r) for i, r in enumerate(recycle_rules))
        return Lifecycle(subscriber, min_score, min_fit, sql, recycle)

    def recycle_rule(self, index: int, data: Any) -> RecycleRule:
        key = f"lifecycle.recycle[{index}]"
        self.table(
            data, key, {"name", "label", "from", "field", "inactive_days", "min", "max", *OPERATORS}
        )
        name = self.text(data, key, "name")
        key = f"lifecycle.recycle.{name}"
        stages = data.get("from")
        recyclable = [s for s in RANK if s not in ("subscriber", "lead", "customer")]
        if not isinstance(stages, list) or not stages or any(s not in recyclable for s in stages):
            self.fail(
                "not a list of stages", f"{key}.from", "some of " + ", ".join(recyclable), stages
            )
        has_field = "field" in data
        has_days = "inactive_days" in data
        if has_field == has_days:
            self.fail("needs exactly one trigger", key, "a field test or inactive_days")
        condition = self.condition(data, key) if has_field else None
        days = self.number(data, key, "inactive_days", None) if has_days else None
        if days is not None and days <= 0:
            self.fail("must be positive", f"{key}.inactive_days", "a number > 0", days)
        label = self.text(data, key, "label", name.replace("_", " "))
        return RecycleRule(name, label, tuple(stages), condition, days)
