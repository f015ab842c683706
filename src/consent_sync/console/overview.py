"""The overview: `status` for every system (consent_sync.status, the same computation) and a
chart of revocation time-to-apply over the last day, drawn on the server as SVG."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select

from consent_sync.status import APPLY_WINDOW, SystemStatus, gather
from consent_sync.store import Store
from consent_sync.store.db import read_session
from consent_sync.store.tables import DeliveryRow, LinkRow
from consent_sync.store.types import utc

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 36
MAX_POINTS = 5000  # the newest; a day of revocations on a busy deployment is well below
#: One marker class per system, in the order systems are listed (colours are in console.css).
SERIES = ("s0", "s1", "s2", "s3")


@dataclass(frozen=True, slots=True)
class Point:
    """One revocation written to one record: when it landed and how long it took."""

    system: str
    applied_at: datetime
    seconds: float


@dataclass(frozen=True, slots=True)
class Mark:
    """A point of the chart in SVG coordinates."""

    x: float
    y: float
    series: str
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """The SVG chart's geometry, ready for the template."""

    width: int
    height: int
    marks: tuple[Mark, ...]
    x_ticks: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, str], ...]
    sla_y: float | None
    sla_label: str
    legend: tuple[tuple[str, str, int], ...]  # (system, series class, count)
    plot: tuple[float, float, float, float]  # left, top, right, bottom


def applied_since(store: Store, since: datetime) -> list[Point]:
    """Every revocation applied since `since`: system, when, decision-to-write seconds."""
    query = (
        select(LinkRow.system, DeliveryRow.revoked_at, DeliveryRow.applied_at)
        .join(LinkRow, col(LinkRow.id) == col(DeliveryRow.link_id))
        .where(col(DeliveryRow.revoked_at).is_not(None), col(DeliveryRow.applied_at) >= since)
        .order_by(col(DeliveryRow.applied_at).desc())
        .limit(MAX_POINTS)
    )
    with read_session(store.engine) as session:
        return [
            Point(system, utc(applied), (utc(applied) - utc(revoked)).total_seconds())
            for system, revoked, applied in session.exec(query)
            if revoked is not None
        ]


def _fmt(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


#: Where the time axis may put ticks (seconds): 100 ms to a day, a log scale.
TICKS = (0.1, 1.0, 10.0, 60.0, 600.0, 3600.0, 6 * 3600.0, 86400.0)
FLOOR_S = 0.1  # anything faster sits on the axis


def chart(points: list[Point], systems: list[str], sla_s: float | None, at: datetime) -> Chart:
    """Time-to-apply against time of day: a dot per revocation, the SLA as a line.

    Time-to-apply is on a log scale, so a revocation that took 300 ms and an SLA of 15 minutes
    are both readable on one chart.
    """
    start = at - APPLY_WINDOW
    left, top, right, bottom = LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM
    high = math.log10(max([p.seconds for p in points] + [sla_s or 0.0, 10.0]) * 1.5)
    low = math.log10(FLOOR_S)
    span = APPLY_WINDOW.total_seconds()

    def x_of(t: datetime) -> float:
        return round(left + (right - left) * (t - start).total_seconds() / span, 1)

    def y_of(s: float) -> float:
        share = (math.log10(max(s, FLOOR_S)) - low) / (high - low)
        return round(bottom - (bottom - top) * share, 1)

    series = {name: SERIES[i % len(SERIES)] for i, name in enumerate(systems)}
    marks = tuple(
        Mark(
            x_of(p.applied_at),
            y_of(p.seconds),
            series.get(p.system, SERIES[-1]),
            f"{p.system}: {_fmt(p.seconds)} at {p.applied_at:%H:%M:%S} UTC",
        )
        for p in points
        if p.applied_at >= start
    )
    x_ticks = tuple(
        (x_of(start + timedelta(hours=h)), f"{(start + timedelta(hours=h)):%H:%M}")
        for h in range(0, 25, 6)
    )
    y_ticks = tuple((y_of(t), _fmt(t)) for t in TICKS if math.log10(t) <= high)
    legend = tuple(
        (name, series[name], sum(1 for p in points if p.system == name)) for name in systems
    )
    return Chart(
        WIDTH,
        HEIGHT,
        marks,
        x_ticks,
        y_ticks,
        y_of(sla_s) if sla_s is not None else None,
        _fmt(sla_s) if sla_s is not None else "",
        legend,
        (left, top, right, bottom),
    )


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything the overview page shows."""

    systems: list[SystemStatus]
    breaches: list[str]
    open_review: int
    oldest: SystemStatus | None  # the system with the oldest unapplied revocation
    chart: Chart


def overview(store: Store, slas: dict[str, float], at: datetime) -> Overview:
    """`status` for every configured system, and the chart."""
    systems = gather(store, slas, at)
    ages = [s for s in systems if s.oldest_revocation_age_s is not None]
    oldest = max(ages, key=lambda s: s.oldest_revocation_age_s or 0.0, default=None)
    sla = min(slas.values(), default=None)
    points = applied_since(store, at - APPLY_WINDOW)
    return Overview(
        systems,
        [reason for s in systems for reason in s.breaches],
        sum(store.views.open_for_review().values()),
        oldest,
        chart(points, [s.name for s in systems], sla, at),
    )
