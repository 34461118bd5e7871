"""``EventWriter``: a buffered appender for callers that log records one request at a time."""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from loopline._errors import EventLogError
from loopline.events._conform import EventKind, check_kind, conform
from loopline.events._log import EventLog
from loopline.events._segment import partition_dir, split_by_date, write_segment


class EventWriter:
    """Buffer records in memory and write them to ``log`` as segments, in batches.

    ``append`` checks the records against the contract at once (a bad record raises
    :class:`EventLogError` to the caller and nothing of that call is buffered) and buffers them.
    The buffer is written when it holds ``max_rows`` rows, when its oldest row has waited
    ``max_interval_s`` seconds (a background thread watches the clock, so this happens even if no
    more records arrive), on :meth:`flush` and on :meth:`close` (also at the end of a ``with`` block
    and, for a writer never closed, when the interpreter exits normally).

    Durability: a record is durable once a flush that includes it has returned (``flush()`` and
    ``close()`` return only after the segments are fsynced and renamed into place). ``append``
    returning means *buffered*, not durable. A hard crash (kill -9, power loss) loses only the rows not
    yet written: rows appended within the last ``max_interval_s`` seconds (plus the time one write
    takes), and never more than ``max_rows - 1`` rows plus the rows of the crashing ``append``. While
    writes fail (a full disk, say), rows stay buffered and these bounds do not hold; the error is raised
    by the next ``append``, ``flush`` or ``close``. Callers that acknowledge a record as durable call
    :meth:`flush` first.

    A flush writes one segment per kind and UTC date and drops each segment's rows from the buffer as
    soon as it is in place, so a flush that fails half-way and is retried never writes a row twice.
    Writes happen under a lock: an ``append`` that arrives during a flush waits for it.

    >>> import tempfile
    >>> from datetime import datetime, timezone
    >>> log = EventLog(Path(tempfile.mkdtemp()))
    >>> row = {"ts": datetime(2026, 1, 1, tzinfo=timezone.utc), "deployment": "api", "experiment": "e1",
    ...        "unit_id": "u1", "arm": "treatment"}
    >>> with EventWriter(log, max_rows=100) as writer:
    ...     writer.append("assignments", [row])
    ...     writer.buffered
    1
    >>> len(log.read("assignments"))
    1
    """

    def __init__(self, log: EventLog, *, max_rows: int = 10_000, max_interval_s: float = 5.0) -> None:
        if max_rows < 1:
            raise EventLogError(f"max_rows must be at least 1, got {max_rows}.")
        if not max_interval_s > 0:
            raise EventLogError(f"max_interval_s must be a positive number of seconds, got {max_interval_s}.")
        self.log = log
        self.max_rows = max_rows
        self.max_interval_s = float(max_interval_s)
        self._buffers: dict[EventKind, list[pa.Table]] = {}
        self._schemas: dict[EventKind, pa.Schema] = {}
        self._rows = 0
        self._oldest: float | None = None
        self._written: list[Path] = []
        self._error: BaseException | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._watch, name="loopline-event-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    @property
    def buffered(self) -> int:
        """Rows appended but not yet written."""
        with self._cond:
            return self._rows

    @property
    def written(self) -> list[Path]:
        """Every segment this writer has written so far."""
        with self._cond:
            return list(self._written)

    def append(self, kind: EventKind, rows: Sequence[Mapping[str, Any]] | pa.Table) -> None:
        """Buffer ``rows`` (dicts keyed by column name, or a table) of ``kind``; flush if a bound is reached.

        A key missing from some dicts gives nulls in those rows. Raises :class:`EventLogError` if the
        rows break the contract or give an extra column a type that cannot join the buffered rows'.
        """
        kind = check_kind(kind)
        table = rows if isinstance(rows, pa.Table) else _from_rows(kind, rows)
        if table.num_rows == 0:
            return
        table = conform(kind, table).replace_schema_metadata(None)
        with self._cond:
            self._raise_pending()
            if self._closed:
                raise EventLogError("append() on a closed EventWriter; open a new writer.")
            self._schemas[kind] = _unify(kind, self._schemas.get(kind), table.schema)
            self._buffers.setdefault(kind, []).append(table)
            self._rows += table.num_rows
            if self._oldest is None:
                self._oldest = time.monotonic()
                self._cond.notify_all()
            if self._rows >= self.max_rows or self._due():
                self._flush_locked()

    def flush(self) -> list[Path]:
        """Write every buffered row now; return the segments written. Durable when it returns."""
        with self._cond:
            self._raise_pending()
            return self._flush_locked()

    def close(self) -> None:
        """Flush and stop the background thread. Closing twice is harmless."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        atexit.unregister(self.close)
        self._thread.join()
        with self._cond:
            self._error = None
            self._flush_locked()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _due(self) -> bool:
        return self._oldest is not None and time.monotonic() - self._oldest >= self.max_interval_s

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise EventLogError(f"a background flush of the event log failed: {error}") from error

    def _flush_locked(self) -> list[Path]:
        written: list[Path] = []
        for kind in list(self._buffers):
            table = pa.concat_tables(self._buffers[kind], promote_options="permissive")
            parts = split_by_date(table)
            for i, (day, part) in enumerate(parts):
                folder = partition_dir(self.log.root / kind, day)
                try:
                    path = write_segment(folder, part)
                except OSError as exc:
                    raise EventLogError(
                        f"{kind}: cannot write a segment to {folder} ({exc}); {self._rows} row(s) stay buffered. "
                        "Free disk space or fix the folder's permissions, then flush again."
                    ) from exc
                written.append(path)
                self._written.append(path)
                self._rows -= part.num_rows
                self._buffers[kind] = [rest for _, rest in parts[i + 1:]]
            del self._buffers[kind]
            del self._schemas[kind]
        self._oldest = None
        return written

    def _watch(self) -> None:
        with self._cond:
            while not self._closed:
                if self._oldest is None:
                    self._cond.wait()
                    continue
                remaining = self._oldest + self.max_interval_s - time.monotonic()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
                try:
                    self._flush_locked()
                except Exception as exc:  # kept for the caller; the unwritten rows stay buffered
                    self._error = exc
                    self._oldest = time.monotonic()


def _from_rows(kind: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """A table with a column for every key of any row (``from_pylist`` would keep the first row's only)."""
    names = list(dict.fromkeys(key for row in rows for key in row))
    try:
        return pa.Table.from_pydict({name: [row.get(name) for row in rows] for name in names})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise EventLogError(f"{kind}: rows cannot be converted to a table ({exc}). Give each key one type.") from None


def _unify(kind: str, buffered: pa.Schema | None, new: pa.Schema) -> pa.Schema:
    if buffered is None:
        return new
    for field in new:
        index = buffered.get_field_index(field.name)
        if index < 0 or buffered.field(index).type == field.type:
            continue
        try:
            pa.unify_schemas([pa.schema([buffered.field(index)]), pa.schema([field])], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            raise EventLogError(
                f"{kind}: column {field.name!r} is {field.type} here but {buffered.field(index).type} in rows "
                "already buffered; give the column one type in every record."
            ) from None
    unified: pa.Schema = pa.unify_schemas([buffered, new], promote_options="permissive")
    return unified
