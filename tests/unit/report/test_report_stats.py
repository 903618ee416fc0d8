"""Medians, nearest-rank p90 and Kaplan–Meier (KPIS §1.4)."""

from __future__ import annotations

import pytest

from smarketing_sync.report.kpis.stats import kaplan_meier, median, percentile


def test_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median([5.0, 1.0, 3.0]) == 3.0
    assert median([]) is None


def test_p90_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]  # ⌈0.9 · 10⌉ = 9th
    assert percentile(values, 0.9) == 9.0
    assert percentile([1.0, 2.0, 3.0], 0.9) == 3.0  # ⌈2.7⌉ = 3rd
    assert percentile([], 0.9) is None


def test_kaplan_meier_counts_events_before_censorings_at_tied_times() -> None:
    # at t = 2 one event and one censoring: the censored one is still at risk → S = 1 − 1/4
    km = kaplan_meier([(1.0, False), (2.0, True), (2.0, False), (3.0, True), (4.0, False)])
    assert km.curve[0] == (2.0, pytest.approx(0.75))
    # at t = 3 two are at risk: S = 0.75 · 1/2 = 0.375 ≤ 0.5 → median 3
    assert km.curve[1] == (3.0, pytest.approx(0.375))
    assert km.median == 3.0
    assert (km.n, km.events, km.censored) == (5, 2, 3)


def test_median_not_reached_when_survival_stays_above_half() -> None:
    km = kaplan_meier([(1.0, True), (5.0, False), (6.0, False)])
    assert km.survival(10.0) == pytest.approx(2 / 3)
    assert km.median is None
    assert km.last_time == 6.0


def test_exits_kept_at_risk_do_not_push_the_curve_to_zero() -> None:
    # two converters and two exits: censoring the exits early (wrong) would give S = 0;
    # keeping them at risk until as_of gives S = 0.5
    kept = kaplan_meier([(1.0, True), (2.0, True), (9.0, False), (9.0, False)])
    early = kaplan_meier([(0.5, False), (0.6, False), (1.0, True), (2.0, True)])
    assert kept.survival(3.0) == pytest.approx(0.5)
    assert early.survival(3.0) == 0.0
