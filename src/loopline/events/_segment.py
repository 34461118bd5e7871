"""Parquet segments: one table per UTC date, written atomically (temporary file, fsync, rename).

A segment lives at ``<root>/<kind>/date=YYYY-MM-DD/part-<write time>-<uuid>.parquet``. It is written
through :mod:`loopline._atomic` (a hidden ``.part-....parquet.<random>.tmp`` file in the same folder,
fsynced, renamed over its final name, the folder synced, new folders synced into their parents), so a
reader (or a crash) sees either the whole segment or none of it. Names sort by write time, so
listing a folder gives the segments in the order they were written (to the precision of the wall
clock). The random ``uuid4`` suffix (122 random bits) makes names unique across threads, processes
and machines, so concurrent writers never replace each other's segments.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from loopline import _atomic as atomic

DATE_PREFIX = "date="
_US_PER_DAY = 86_400_000_000


def split_by_date(table: pa.Table) -> list[tuple[date, pa.Table]]:
    """The rows of ``table`` grouped by the UTC date of ``ts`` (a ``timestamp[us, UTC]`` column).

    Row order is kept within each date; dates come out in increasing order.
    """
    if table.num_rows == 0:
        return []
    micros = table.column("ts").cast(pa.int64()).to_numpy()
    days = micros // _US_PER_DAY
    first, last = int(days.min()), int(days.max())
    epoch = date(1970, 1, 1).toordinal()
    if first == last:
        return [(date.fromordinal(epoch + first), table)]
    order = np.argsort(days, kind="stable")
    sorted_days = days[order]
    bounds = np.flatnonzero(np.diff(sorted_days)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(order)]])
    return [
        (date.fromordinal(epoch + int(sorted_days[s])), table.take(pa.array(order[s:e])))
        for s, e in zip(starts, ends, strict=True)
    ]


def partition_dir(kind_dir: Path, day: date) -> Path:
    return kind_dir / f"{DATE_PREFIX}{day.isoformat()}"


def partition_date(folder: Path) -> date | None:
    """The date of a ``date=YYYY-MM-DD`` folder, or None for anything else."""
    if not folder.name.startswith(DATE_PREFIX):
        return None
    try:
        return date.fromisoformat(folder.name[len(DATE_PREFIX):])
    except ValueError:
        return None


def write_segment(folder: Path, table: pa.Table) -> Path:
    """Write ``table`` as a new segment in ``folder`` atomically; return its path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = folder / f"part-{stamp}-{uuid.uuid4().hex}.parquet"
    with atomic.writing(final) as handle:
        pq.write_table(table, handle)
    return final
