"""``EventLog``: the append-only event log, as Parquet segments partitioned by UTC date.

Layout: ``<root>/<kind>/date=YYYY-MM-DD/part-<write time>-<uuid>.parquet`` for the kinds
``exposures``, ``feedback`` and ``assignments``. Segments are never modified after they are written;
writing more records adds segments. Reads go through DuckDB (``read_parquet`` with
``union_by_name=true``, so segments with different extra columns read as one table) and open only
the date folders that can hold rows in the requested time range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pyarrow as pa

from loopline._errors import EventLogError
from loopline.events._conform import KINDS, EventKind, check_kind, conform
from loopline.events._schema import SCHEMAS
from loopline.events._segment import partition_date, partition_dir, split_by_date, write_segment

if TYPE_CHECKING:
    from loopline.workspace import Workspace

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class EventLog:
    """The event log under ``root``.

    >>> import tempfile
    >>> from datetime import datetime, timezone
    >>> import pandas as pd
    >>> log = EventLog(Path(tempfile.mkdtemp()))
    >>> fb = pd.DataFrame({"ts": [datetime(2026, 1, 1, 9, tzinfo=timezone.utc)], "deployment": ["sim"],
    ...                    "request_id": ["r1"], "unit_id": ["u1"], "item_id": ["p1"],
    ...                    "event": ["click"], "value": [1.0]})
    >>> [p.parent.name for p in log.write("feedback", fb)]
    ['date=2026-01-01']
    >>> log.read("feedback", columns=["request_id", "event"]).to_dict("records")
    [{'request_id': 'r1', 'event': 'click'}]
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def for_workspace(cls, ws: Workspace) -> EventLog:
        """The event log of a workspace (``ws.events_root``, moved by ``LOOPLINE_EVENTS_ROOT``)."""
        return cls(ws.events_root)

    def write(self, kind: EventKind, table: pa.Table | pd.DataFrame) -> list[Path]:
        """Append ``table``'s records; return the segments written (one per UTC date of ``ts``).

        The contract columns of ``kind`` must be present with compatible types; they are cast
        losslessly to the contract types, and extra columns are kept. Each segment appears
        atomically: a concurrent reader sees all of its rows or none. When ``write`` returns, its
        segments are fsynced and renamed into place: the records are durable. Concurrent writers
        (threads or processes) each add their own uniquely named segments. A failure part-way
        raises :class:`EventLogError` naming the dates already written.
        """
        kind = check_kind(kind)
        if isinstance(table, pd.DataFrame):
            table = _from_pandas(kind, table)
        elif not isinstance(table, pa.Table):
            raise EventLogError(
                f"{kind}: expected a pyarrow.Table or pandas.DataFrame, got {type(table).__name__}."
            )
        conformed = conform(kind, table).replace_schema_metadata(None)
        kind_dir = self.root / kind
        written: list[Path] = []
        for day, part in split_by_date(conformed):
            folder = partition_dir(kind_dir, day)
            try:
                written.append(write_segment(folder, part))
            except OSError as exc:
                done = ", ".join(p.parent.name for p in written) or "none"
                raise EventLogError(
                    f"{kind}: cannot write a segment to {folder} ({exc}). Dates already written by this call: "
                    f"{done}; write only the other dates again once the folder is writable."
                ) from exc
        return written

    def glob(self, kind: EventKind) -> str:
        """The glob of every segment of ``kind``, for DuckDB or a spec's data source."""
        kind = check_kind(kind)
        return str(self.root / kind / "*" / "*.parquet")

    def segments(self, kind: EventKind, *, start: datetime | None = None,
                 end: datetime | None = None) -> list[Path]:
        """The segments that may hold records with ``start <= ts < end``, in write order per date."""
        kind = check_kind(kind)
        lo, hi = _utc("start", start), _utc("end", end)
        kind_dir = self.root / kind
        if not kind_dir.is_dir():
            return []
        found: list[Path] = []
        for folder in sorted(kind_dir.iterdir()):
            day = partition_date(folder)
            if day is None or not folder.is_dir():
                continue
            day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            if (hi is not None and day_start >= hi) or (lo is not None and day_start + _ONE_DAY <= lo):
                continue
            found.extend(sorted(folder.glob("part-*.parquet")))
        return found

    def read(self, kind: EventKind, *, start: datetime | None = None, end: datetime | None = None,
             columns: list[str] | None = None) -> pd.DataFrame:
        """Records of ``kind`` with ``start <= ts < end`` (either bound optional), as a DataFrame.

        Only the date folders overlapping the range are opened. Rows come back in segment order (by
        date, then by write time) and in their written order within a segment. Timestamps are
        ``datetime64[us, UTC]``. Segments that lack an extra column give nulls for it.
        """
        kind = check_kind(kind)
        lo, hi = _utc("start", start), _utc("end", end)
        if columns is not None and not columns:
            raise EventLogError(f"{kind}: columns=[] selects nothing; pass None for every column or name some.")
        files = self.segments(kind, start=lo, end=hi)
        if not files:
            return _empty(kind, columns)
        conditions: list[str] = []
        params: list[object] = [[str(f) for f in files]]
        if lo is not None:
            conditions.append("ts >= ?")
            params.append(lo)
        if hi is not None:
            conditions.append("ts < ?")
            params.append(hi)
        source = "read_parquet(?, union_by_name=true, hive_partitioning=false)"
        con = duckdb.connect()
        try:
            if columns is not None:
                available = con.sql(f"SELECT * FROM {source} LIMIT 0", params=params[:1]).columns
                unknown = [c for c in columns if c not in available]
                if unknown:
                    raise EventLogError(
                        f"{kind}: no column {unknown[0]!r} in the event log at {self.root / kind}; "
                        f"available: {', '.join(available)}."
                    )
            selected = "*" if columns is None else ", ".join(_quote(c) for c in columns)
            where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            result = con.sql(f"SELECT {selected} FROM {source}{where}", params=params).to_arrow_table()
        finally:
            con.close()
        return _to_pandas(result)

    def kinds(self) -> list[EventKind]:
        """The kinds that have at least one segment, in contract order."""
        return [k for k in KINDS if any((self.root / k).glob("*/part-*.parquet"))]


def _from_pandas(kind: str, frame: pd.DataFrame) -> pa.Table:
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise EventLogError(
            f"{kind}: the DataFrame cannot be converted to Arrow ({exc}). Give each column one type."
        ) from None


def _utc(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise EventLogError(f"{name}: expected a timezone-aware datetime, got {type(value).__name__}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise EventLogError(
            f"{name}={value.isoformat()} has no time zone; event times are UTC instants. Pass e.g. "
            "datetime(2026, 1, 1, tzinfo=timezone.utc)."
        )
    return value.astimezone(UTC)


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas with every timestamp labelled ``UTC`` (DuckDB labels them with its own zone)."""
    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            field = field.with_type(pa.timestamp(field.type.unit, tz="UTC"))
        fields.append(field)
    frame: pd.DataFrame = table.cast(pa.schema(fields)).to_pandas()
    return frame


def _empty(kind: EventKind, columns: list[str] | None) -> pd.DataFrame:
    schema = SCHEMAS[kind]
    if columns is None:
        return _to_pandas(schema.empty_table())
    arrays = {c: pa.array([], schema.field(c).type if c in schema.names else pa.null()) for c in columns}
    return _to_pandas(pa.table(arrays))
