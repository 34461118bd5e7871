"""``ExposureLogger``: exposure and assignment records off the request path, into the event log.

A request hands its records to :meth:`ExposureLogger.submit` as columns (a scalar stands for the
same value in every row), which only puts them on a bounded in-memory queue
(``queue.Queue(max_queue)``, one entry per request) and returns at once: no table is built on the
request path. A background thread takes them off, hashes the sensitive columns, builds Arrow tables
and appends them to an
:class:`~loopline.events.EventWriter`, which writes Parquet segments every ``max_interval_s`` seconds
or ``max_rows`` rows. When the queue is full the request is still answered: its records are dropped
and counted (``dropped``, and ``loopline_log_dropped_total`` in ``/v1/metrics``), never lost silently.
Records the writer refuses or fails to write are counted the same way.

Loss bound on a hard crash (kill -9, power loss): the records not yet written, that is the records of
requests answered within the last ``max_interval_s`` seconds (plus ``linger_s``, 50 ms, during which the
thread gathers more requests' records to convert them to Arrow together, plus the time one write takes), at most
``max_rows`` rows in the writer, plus whatever backlog the queue holds (normally none; at most
``max_queue`` requests' records). A normal shutdown (:meth:`close`, run by the server's lifespan)
writes everything. Feedback is not logged here: it is acknowledged only after a durable write.

Sensitive columns (the spec's ``sensitive:``) are replaced by the sha256 hex digest of their value's
text (``str(value)``), so the log can be joined and grouped on them without holding the raw values;
missing values stay missing.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from loopline._errors import LooplineError
from loopline.events import EventKind, EventWriter

log = logging.getLogger("loopline.serving")

DropHook = Callable[[str, str, int], None]
"""Called with ``(kind, reason, rows)`` whenever records are dropped."""

_BATCH = 256  # queue entries taken per append
LINGER_S = 0.05  # how long the thread keeps gathering entries after the first (a crash loses at most this more)


@dataclass
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


_STOP = object()


def hash_value(value: object) -> str:
    """The sha256 hex digest of ``str(value)``.

    >>> hash_value("de")[:16]
    '959a45d44e6fcf58'
    """
    return hashlib.sha256(str(value).encode("utf-8")).hexdigest()


class ExposureLogger:
    """Queue records from requests and write them through ``writer`` on a background thread."""

    def __init__(self, writer: EventWriter, *, max_queue: int = 10_000, sensitive: Iterable[str] = (),
                 on_drop: DropHook | None = None, linger_s: float = LINGER_S) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {max_queue}.")
        self.writer = writer
        self.linger_s = linger_s
        self.sensitive = frozenset(sensitive)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._on_drop = on_drop
        self._dropped = 0
        self._count_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="loopline-exposures", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Records dropped so far (queue full, or refused or failed by the writer)."""
        with self._count_lock:
            return self._dropped

    @property
    def depth(self) -> int:
        """Requests whose records wait in the queue."""
        return self._queue.qsize()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closed

    def submit(self, kind: EventKind, columns: Mapping[str, Any], rows: int) -> bool:
        """Queue ``rows`` records of ``kind`` without waiting; False (and the rows counted as dropped) if the
        queue is full.

        ``columns`` maps column names to a numpy array or list of ``rows`` values, or to one value for
        every row (a scalar, or None). NaN in a float array is stored as missing.
        """
        if rows < 1:
            return True
        if self._closed:
            self._drop(kind, "closed", rows)
            return False
        try:
            self._queue.put_nowait((kind, columns, rows))
        except queue.Full:
            self._drop(kind, "queue_full", rows)
            return False
        return True

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Write everything submitted before this call; True when done within ``timeout_s``."""
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout_s)
        except queue.Full:
            return False
        return marker.done.wait(timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued and buffered, then stop the thread and close the writer. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            log.error("event log: the exposure queue did not drain within %.0f s at shutdown", timeout_s)
        self._thread.join(timeout_s)
        try:
            self.writer.close()
        except LooplineError as exc:
            log.error("event log: the last flush at shutdown failed: %s", exc)

    def _drop(self, kind: str, reason: str, rows: int) -> None:
        with self._count_lock:
            self._dropped += rows
        if self._on_drop is not None:
            self._on_drop(kind, reason, rows)

    def _run(self) -> None:
        while True:
            entries = self._gather()
            by_kind: dict[str, list[tuple[Mapping[str, Any], int]]] = {}
            flushes: list[_Flush] = []
            stop = False
            for entry in entries:
                if entry is _STOP:
                    stop = True
                elif isinstance(entry, _Flush):
                    flushes.append(entry)
                else:
                    kind, columns, rows = _entry(entry)
                    by_kind.setdefault(kind, []).append((columns, rows))
            for kind, batches in by_kind.items():
                self._append(kind, batches)
            for marker in flushes:
                try:
                    self.writer.flush()
                except LooplineError as exc:
                    log.error("event log: a flush failed (the rows stay buffered and are retried): %s", exc)
                marker.done.set()
            if stop:
                return

    def _gather(self) -> list[object]:
        """The next entries: waits for one, then takes what arrives within ``linger_s`` (up to ``_BATCH``), so
        that under load one Arrow conversion and one wake-up serve many requests; a flush or stop ends it."""
        entries = [self._queue.get()]
        deadline = time.monotonic() + self.linger_s
        while len(entries) < _BATCH and not isinstance(entries[-1], _Flush) and entries[-1] is not _STOP:
            left = deadline - time.monotonic()
            try:
                entries.append(self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return entries

    def _append(self, kind: str, batches: list[tuple[Mapping[str, Any], int]]) -> None:
        rows = sum(n for _, n in batches)
        try:
            try:
                table = self._merged(batches)
            except (pa.ArrowException, TypeError, ValueError):
                table = None
            if table is None:  # columns whose kinds differ between requests: one table each, then promoted
                tables = [self._table(columns, n) for columns, n in batches]
                table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
            self.writer.append(kind, table)  # type: ignore[arg-type]
        except Exception as exc:  # the thread must outlive any bad batch; the loss is counted and logged
            self._drop(kind, "write_failed", rows)
            log.error("event log: %d %s record(s) dropped: %s", rows, kind, exc)

    def _merged(self, batches: list[tuple[Mapping[str, Any], int]]) -> pa.Table | None:
        """One table for many requests' records, each column converted to Arrow once; None when a column is
        an array of one dtype in some requests and anything else in others (then :meth:`_table` per request).

        The same records as :meth:`_table` per request and ``concat_tables``: a scalar stands for every row
        of its request, a column a request lacks is null in its rows."""
        if len(batches) == 1:
            return self._table(*batches[0])
        names: dict[str, None] = {}
        for columns, _ in batches:
            names.update(dict.fromkeys(columns))
        merged: dict[str, Any] = {}
        for name in names:
            pieces = [(columns.get(name), n) for columns, n in batches]
            arrays = [values for values, _ in pieces if isinstance(values, np.ndarray)]
            if arrays:
                dtype = arrays[0].dtype
                if any(a.dtype != dtype for a in arrays):
                    return None
                if len(arrays) < len(pieces):  # a request without this column: missing values of the same dtype
                    if dtype.kind not in "fO" or any(values is not None for values, _ in pieces
                                                     if not isinstance(values, np.ndarray)):
                        return None
                    empty = np.nan if dtype.kind == "f" else None
                    arrays = [v if isinstance(v, np.ndarray) else np.full(n, empty, dtype=dtype) for v, n in pieces]
                merged[name] = np.concatenate(arrays)
                continue
            values: list[Any] = []
            for piece, n in pieces:
                values.extend(piece if isinstance(piece, list | tuple) else [piece] * n)
            merged[name] = values
        return self._table(merged, sum(n for _, n in batches))

    def _table(self, columns: Mapping[str, Any], rows: int) -> pa.Table:
        arrays: dict[str, pa.Array] = {}
        for name, values in columns.items():
            if name in self.sensitive:
                values = _hashed(values, rows)
            arrays[name] = _arrow(values, rows)
        return pa.table(arrays)


def _entry(entry: object) -> tuple[str, Mapping[str, Any], int]:
    if not isinstance(entry, tuple) or len(entry) != 3:
        raise TypeError(f"not a queued batch: {type(entry).__name__}")
    kind, columns, rows = entry
    return str(kind), columns, int(rows)


def _hashed(values: Any, rows: int) -> list[str | None]:
    items = values.tolist() if isinstance(values, np.ndarray) else values
    if not isinstance(items, list | tuple):
        items = [items] * rows
    return [None if _missing(v) else hash_value(v) for v in items]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _arrow(values: Any, rows: int) -> pa.Array:
    if isinstance(values, np.ndarray):
        array = pa.array(values, from_pandas=True)
        if pa.types.is_timestamp(array.type) and array.type.tz is None:
            array = array.cast(pa.timestamp(array.type.unit, tz="UTC"))  # checked timestamps are UTC
        return array
    if isinstance(values, list | tuple):
        return pa.array(values, from_pandas=True)
    if values is None:
        return pa.nulls(rows)
    return pa.repeat(pa.scalar(values), rows)


class ShadowRunner:
    """Run shadow scorings off the request path: one background thread, at most ``max_pending`` waiting.

    A job submitted while ``max_pending`` jobs wait is skipped and reported through ``on_skip`` (its
    shadow exposures are then missing, and counted as dropped), so shadows never slow or block the
    served answer. Exceptions inside a job are passed to ``on_error`` and never reach a caller.
    """

    def __init__(self, *, max_pending: int = 1_000, on_skip: Callable[[], None] | None = None,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=max_pending)
        self._on_skip = on_skip
        self._on_error = on_error
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="loopline-shadows", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> bool:
        if self._closed:
            return False
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            if self._on_skip is not None:
                self._on_skip()
            return False
        return True

    def wait(self, timeout_s: float = 30.0) -> bool:
        """Whether every job submitted so far finished within ``timeout_s`` (for shutdown and tests)."""
        done = threading.Event()
        try:
            self._jobs.put(done.set, timeout=timeout_s)
        except queue.Full:
            return False
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        """Finish the waiting jobs, then stop the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._jobs.put(None, timeout=timeout_s)
        except queue.Full:
            log.error("shadow scoring: the queue did not drain within %.0f s at shutdown", timeout_s)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception as exc:  # a shadow's failure is logged and counted, never raised to a caller
                if self._on_error is not None:
                    self._on_error(exc)
                else:
                    log.warning("shadow scoring failed: %s", exc)
