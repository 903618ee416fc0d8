"""Medians, nearest-rank percentiles and Kaplan–Meier (KPIS §1.4)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def median(values: Sequence[float]) -> float | None:
    """Middle value; for an even count the mean of the two middle values."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest rank: the ⌈share·n⌉-th smallest value."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered) - 1e-9))
    return ordered[rank - 1]


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True, slots=True)
class KaplanMeier:
    """A KM estimate. ``curve`` holds (t, S(t)) after each event time, in time order."""

    n: int
    events: int
    censored: int
    curve: tuple[tuple[float, float], ...]
    last_time: float | None  # the largest observed time (event or censoring)

    @property
    def median(self) -> float | None:
        """Smallest t with S(t) ≤ 0.5; None: not reached."""
        for t, surv in self.curve:
            if surv <= 0.5 + 1e-12:
                return t
        return None

    def survival(self, t: float) -> float:
        value = 1.0
        for at, surv in self.curve:
            if at > t:
                break
            value = surv
        return value


def kaplan_meier(observations: Sequence[tuple[float, bool]]) -> KaplanMeier:
    """``observations``: (duration, converted). Tied times count events before censorings, which
    the at-risk set "duration ≥ t" gives for free."""
    ordered = sorted(observations, key=lambda o: o[0])
    n = len(ordered)
    at_risk = n
    surv = 1.0
    curve: list[tuple[float, float]] = []
    i = 0
    while i < n:
        t = ordered[i][0]
        deaths = leaving = 0
        while i < n and ordered[i][0] == t:
            leaving += 1
            deaths += 1 if ordered[i][1] else 0
            i += 1
        if deaths:
            surv *= 1 - deaths / at_risk
            curve.append((t, surv))
        at_risk -= leaving
    events = sum(1 for _, hit in ordered if hit)
    return KaplanMeier(
        n=n,
        events=events,
        censored=n - events,
        curve=tuple(curve),
        last_time=ordered[-1][0] if ordered else None,
    )
