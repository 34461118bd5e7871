"""``EventWriter``: a buffered appender for callers that log records one request at a time."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from loopline._errors import EventLogError
from loopline.events._conform import EventKind, check_kind, conform
from loopline.events._log import EventLog


class EventWriter:
    """Buffer records in memory and write them to ``log`` as segments, in batches.

    ``append`` checks the records against the contract at once (a bad record raises
    :class:`EventLogError` to the caller and nothing of that call is buffered) and buffers them.
    The buffer is written when it holds ``max_rows`` rows, when its oldest row has waited
    ``max_interval_s`` seconds (a background thread watches the clock, so this happens even if no
    more records arrive), on :meth:`flush` and on :meth:`close` (also at the end of a ``with`` block).

    Durability: a record is durable once a flush that includes it has returned (``flush()`` and
    ``close()`` return only after the segments are fsynced and renamed into place). A hard crash
    (kill -9, power loss) loses at most the rows not yet flushed: at most ``max_rows`` rows, and only
    rows appended within the last ``max_interval_s`` seconds (plus the time one write takes). Callers
    that must acknowledge a record as durable call :meth:`flush` before acknowledging.

    Writes happen under a lock: an ``append`` that arrives during a flush waits for it. A failed
    background flush keeps the rows, retries after ``max_interval_s``, and the error is raised by the
    next ``append``, ``flush`` or ``close``.

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
        self._rows = 0
        self._oldest: float | None = None
        self._written: list[Path] = []
        self._error: BaseException | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._watch, name="loopline-event-writer", daemon=True)
        self._thread.start()

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

    def append(self, kind: EventKind, rows: list[dict[str, Any]]) -> None:
        """Buffer ``rows`` (dicts keyed by column name) of ``kind``; flush if a bound is reached."""
        kind = check_kind(kind)
        if not rows:
            return
        try:
            table = pa.Table.from_pylist(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise EventLogError(f"{kind}: rows cannot be converted to a table ({exc}). Give each key one type.") \
                from None
        table = conform(kind, table)
        with self._cond:
            self._raise_pending()
            if self._closed:
                raise EventLogError("append() on a closed EventWriter; open a new writer.")
            self._buffers.setdefault(kind, []).append(table)
            self._rows += table.num_rows
            if self._oldest is None:
                self._oldest = time.monotonic()
                self._cond.notify_all()
            if self._rows >= self.max_rows or self._due():
                self._flush_locked()

    def flush(self) -> list[Path]:
        """Write every buffered row now; return the segments written."""
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
            tables = self._buffers[kind]
            table = pa.concat_tables(tables, promote_options="permissive")
            written.extend(self.log.write(kind, table))
            del self._buffers[kind]
            self._rows -= table.num_rows
        self._oldest = None
        self._written.extend(written)
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
                except Exception as exc:  # kept for the caller; the rows stay buffered
                    self._error = exc
                    self._oldest = time.monotonic()
