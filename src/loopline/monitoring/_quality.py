"""Data quality of a window against the reference: what is broken rather than what has shifted.

Checks, each a :class:`QualityIssue` when it fails (defaults in :class:`QualityThresholds`):

===================  ===========================================================================
check                fails when
===================  ===========================================================================
``absent``           a feature of the model is not a column of the window (schema)
``invalid``          a numeric feature holds text that is not a number (schema)
``missing``          the missing share is ``missing_rise`` (5 points) above the reference's and
                     significantly so (one-sided exact binomial test at ``alpha``, the reference's
                     share taken as known)
``out_of_range``     more than ``out_of_range`` (1%) of a numeric feature's values fall outside the
                     reference's [min, max]
``new_categories``   more than ``new_share`` (0.5%) of a categorical feature's values are categories the
                     reference never saw (when it listed all of them)
``volume``           an hour of the window (not its first or last, which its bounds may cut) holds less
                     than ``volume_drop`` (half) of the window's median hourly rows, or the window is empty
``freshness``        the newest row is older than ``max_staleness`` (2 hours) at the time of the check
===================  ===========================================================================

:class:`ColumnQuality` keeps the numbers for every feature whether or not a check fails.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from scipy.stats import binom

from loopline.monitoring._window import CategoricalWindow, NumericWindow, WindowStats


@dataclass(frozen=True)
class QualityThresholds:
    alpha: float = 0.05
    missing_rise: float = 0.05
    out_of_range: float = 0.01
    new_share: float = 0.005
    volume_drop: float = 0.5
    max_staleness: timedelta = timedelta(hours=2)


@dataclass(frozen=True)
class ColumnQuality:
    name: str
    rows: int
    missing_share: float | None
    reference_missing_share: float | None
    invalid: int = 0
    out_of_range_share: float | None = None
    new_share: float | None = None
    new_categories: list[str] = field(default_factory=list)  # the most frequent few, never every value


@dataclass(frozen=True)
class QualityIssue:
    column: str | None
    check: str
    value: float | None
    threshold: float | None
    message: str


@dataclass(frozen=True)
class Quality:
    columns: list[ColumnQuality]
    issues: list[QualityIssue]
    rows: int
    hourly_median: float | None
    staleness_s: float | None

    def values(self) -> dict[str, float | None]:
        """Flat ``quality.*`` values for alert rules."""
        out: dict[str, float | None] = {"quality.issues": float(len(self.issues)), "quality.rows": float(self.rows),
                                        "quality.staleness_s": self.staleness_s}
        for c in self.columns:
            out[f"quality.{c.name}.missing_share"] = c.missing_share
            out[f"quality.{c.name}.out_of_range_share"] = c.out_of_range_share
            out[f"quality.{c.name}.new_share"] = c.new_share
        return out


@dataclass(frozen=True)
class ReferenceColumn:
    """What quality needs of a feature's reference: its missing share, and (categorical) the known categories
    when the reference listed every one."""

    missing_share: float
    known: Collection[str] | None = None


SHOWN_NEW = 5  # new categories named in a finding: a few examples, never the window's values wholesale


def quality(window: WindowStats, reference: Mapping[str, ReferenceColumn], *, now: datetime,
            thresholds: QualityThresholds = QualityThresholds()) -> Quality:
    """The checks of the module docstring on ``window`` against ``reference`` (one entry per feature)."""
    t = thresholds
    issues: list[QualityIssue] = []
    columns: list[ColumnQuality] = []
    for name in window.absent:
        issues.append(QualityIssue(name, "absent", None, None, f"feature {name!r} is not a column of "
                                   f"{window.description}; the model needs it (its values will be imputed)."))
    for name, ref in reference.items():
        seen = window.columns.get(name)
        if seen is None:
            continue
        column = _column(name, seen, ref)
        columns.append(column)
        issues.extend(_column_issues(column, ref, t))
    staleness = None
    if window.rows == 0:
        issues.append(QualityIssue(None, "volume", 0.0, None, f"{window.description} holds no rows."))
    median = float(np.median([n for _, n in window.hourly])) if window.hourly else None
    if median:
        inner = _every_hour(window)[1:-1]  # the first and last hours may be cut by the window's bounds
        low = [(hour, n) for hour, n in inner if n < t.volume_drop * median]
        if low:
            hour, n = low[0]
            issues.append(QualityIssue(None, "volume", float(n), t.volume_drop * median,
                                       f"{len(low)} hour(s) of the window hold less than {t.volume_drop:.0%} of the "
                                       f"median {median:,.0f} rows per hour; the first is {hour.isoformat()} "
                                       f"with {n:,}."))
    if window.last_ts is not None:
        staleness = (now - window.last_ts).total_seconds()
        if staleness > t.max_staleness.total_seconds():
            issues.append(QualityIssue(None, "freshness", staleness, t.max_staleness.total_seconds(),
                                       f"the newest row is from {window.last_ts.isoformat()}, "
                                       f"{_duration(staleness)} before the check; more than "
                                       f"{_duration(t.max_staleness.total_seconds())}."))
    return Quality(columns=columns, issues=issues, rows=window.rows, hourly_median=median, staleness_s=staleness)


def _column(name: str, seen: NumericWindow | CategoricalWindow, ref: ReferenceColumn) -> ColumnQuality:
    rows = seen.rows
    missing_share = (seen.missing / rows) if rows else None
    if isinstance(seen, NumericWindow):
        outside = None
        if seen.binned is not None and seen.present:
            counts = seen.binned.counts
            outside = float(counts[0] + counts[-1]) / float(counts.sum()) if counts.sum() else None
        return ColumnQuality(name, rows, missing_share, ref.missing_share, invalid=seen.invalid,
                             out_of_range_share=outside)
    new_share = None
    new: list[str] = []
    present = sum(seen.counts.values())
    if ref.known is not None and present:
        unseen = {k: n for k, n in seen.counts.items() if k not in ref.known}
        new_share = sum(unseen.values()) / present
        new = [k for k, _ in sorted(unseen.items(), key=lambda kv: (-kv[1], kv[0]))[:SHOWN_NEW]]
    return ColumnQuality(name, rows, missing_share, ref.missing_share, new_share=new_share, new_categories=new)


def _column_issues(c: ColumnQuality, ref: ReferenceColumn, t: QualityThresholds) -> list[QualityIssue]:
    issues: list[QualityIssue] = []
    if c.invalid:
        issues.append(QualityIssue(c.name, "invalid", float(c.invalid), 0.0,
                                   f"feature {c.name!r} is numeric but {c.invalid:,} value(s) in the window are text "
                                   "that is not a number; the producer's schema changed."))
    if c.missing_share is not None and c.rows and _missing_rose(c.missing_share, ref.missing_share, c.rows, t):
        issues.append(QualityIssue(c.name, "missing", c.missing_share, ref.missing_share + t.missing_rise,
                                   f"feature {c.name!r} is missing in {c.missing_share:.1%} of rows, against "
                                   f"{ref.missing_share:.1%} in training."))
    if c.out_of_range_share is not None and c.out_of_range_share > t.out_of_range:
        issues.append(QualityIssue(c.name, "out_of_range", c.out_of_range_share, t.out_of_range,
                                   f"{c.out_of_range_share:.1%} of feature {c.name!r} lies outside the range seen in "
                                   "training."))
    if c.new_share is not None and c.new_share > t.new_share:
        issues.append(QualityIssue(c.name, "new_categories", c.new_share, t.new_share,
                                   f"{c.new_share:.1%} of feature {c.name!r} is categories never seen in training, "
                                   f"e.g. {', '.join(repr(v) for v in c.new_categories)}."))
    return issues


def _missing_rose(share: float, reference: float, rows: int, t: QualityThresholds) -> bool:
    """A rise of at least ``missing_rise`` that a one-sided exact binomial test finds significant."""
    if share < reference + t.missing_rise:
        return False
    missing = round(share * rows)
    return bool(binom.sf(missing - 1, rows, min(max(reference, 1e-12), 1.0)) < t.alpha)


def _every_hour(window: WindowStats) -> list[tuple[datetime, int]]:
    """The hours of the observed span, with the hours no row fell in counted as 0."""
    if not window.hourly:
        return []
    seen = dict(window.hourly)
    hour, last = window.hourly[0][0], window.hourly[-1][0]
    out: list[tuple[datetime, int]] = []
    while hour <= last:
        out.append((hour, seen.get(hour, 0)))
        hour += timedelta(hours=1)
    return out


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"
