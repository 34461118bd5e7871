"""The exposure logger: off the request path, bounded, never losing a record silently."""

from __future__ import annotations

import doctest
import hashlib
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loopline import EventLogError
from loopline.events import EventLog, EventWriter
from loopline.serving import _exposures
from loopline.serving._exposures import ExposureLogger, ShadowRunner, hash_value

TS = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _exposure(n: int, **extra: Any) -> dict[str, Any]:
    return {"ts": TS, "deployment": "churn", "request_id": "r1", "unit_id": [f"u{i}" for i in range(n)],
            "item_id": None, "arm": "champion", "model_version": "1", "score": np.linspace(0.1, 0.9, n),
            "served": True, "position": None, "latency_ms": 1.5, **extra}


def test_doctests() -> None:
    assert doctest.testmod(_exposures).failed == 0


def test_records_are_written_with_scalars_broadcast_missing_values_kept_and_sensitive_columns_hashed(
    tmp_path: Path,
) -> None:
    log = EventLog(tmp_path / "events")
    logger = ExposureLogger(EventWriter(log, max_interval_s=60), sensitive=["country", "age"])
    country = np.array(["de", None, "fr"], dtype=object)
    stamps = np.array(["2024-01-01T10:00", "NaT", "2024-02-01"], dtype="datetime64[ns]")
    assert logger.submit("exposures", _exposure(3, country=country, age=np.array([31.0, np.nan, 40.0]),
                                                tenure=np.array([1.0, np.nan, 3.0]), signup=stamps), 3)
    assert logger.submit("assignments", {"ts": TS, "deployment": "churn", "experiment": "e1", "unit_id": "u0",
                                         "arm": "treatment"}, 1)
    logger.close()

    frame = log.read("exposures")
    assert frame["unit_id"].tolist() == ["u0", "u1", "u2"]
    assert frame["request_id"].tolist() == ["r1"] * 3 and frame["served"].tolist() == [True] * 3
    assert frame["score"].tolist() == pytest.approx([0.1, 0.5, 0.9])
    assert frame["item_id"].isna().all() and frame["position"].isna().all()
    country_logged = [None if pd.isna(v) else v for v in frame["country"]]
    assert country_logged == [hashlib.sha256(b"de").hexdigest(), None, hashlib.sha256(b"fr").hexdigest()]
    age_logged = [None if pd.isna(v) else v for v in frame["age"]]
    assert age_logged == [hash_value(31.0), None, hash_value(40.0)]
    assert hash_value(31.0) == hashlib.sha256(b"31.0").hexdigest()
    assert frame["tenure"].isna().tolist() == [False, True, False]  # NaN is stored as missing
    assert str(frame["signup"].dtype) == "datetime64[ns, UTC]" and frame["signup"].isna().tolist() == [False, True,
                                                                                                        False]
    assignments = log.read("assignments")
    assert assignments[["experiment", "unit_id", "arm"]].to_dict("records") == [
        {"experiment": "e1", "unit_id": "u0", "arm": "treatment"}]
    assert logger.dropped == 0


class _StuckWriter:
    """A writer whose appends wait until released (a slow disk), recording what it got."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.rows = 0

    def append(self, kind: str, table: pa.Table) -> None:
        self.entered.set()
        self.release.wait(10)
        self.rows += table.num_rows

    def flush(self) -> list[Path]:
        return []

    def close(self) -> None:
        return None


def test_a_full_queue_drops_and_counts_records_without_blocking_the_caller() -> None:
    writer = _StuckWriter()
    drops: list[tuple[str, str, int]] = []
    logger = ExposureLogger(cast(EventWriter, writer), max_queue=2, on_drop=lambda *a: drops.append(a))
    assert logger.submit("exposures", _exposure(4), 4)
    assert writer.entered.wait(5)  # the thread holds the first batch; the queue (2 entries) fills next
    assert logger.submit("exposures", _exposure(4), 4) and logger.submit("exposures", _exposure(4), 4)

    started = time.perf_counter()
    accepted = logger.submit("exposures", _exposure(5), 5)
    elapsed = time.perf_counter() - started

    assert not accepted and elapsed < 0.05
    assert logger.dropped == 5 and drops == [("exposures", "queue_full", 5)]
    writer.release.set()
    logger.close()
    assert writer.rows == 12  # everything accepted was written


def test_a_batch_the_writer_refuses_is_counted_and_the_thread_goes_on(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events")
    drops: list[tuple[str, str, int]] = []
    logger = ExposureLogger(EventWriter(log, max_interval_s=60), on_drop=lambda *a: drops.append(a))
    bad = _exposure(2)
    del bad["request_id"]  # a contract column missing: the writer refuses the batch
    assert logger.submit("exposures", bad, 2)
    assert logger.flush(10)
    assert logger.submit("exposures", _exposure(3), 3)
    assert logger.flush(10)

    assert drops == [("exposures", "write_failed", 2)] and logger.dropped == 2
    assert logger.alive
    assert len(log.read("exposures")) == 3  # flushed: durable before close
    logger.close()
    assert not logger.alive
    assert not logger.submit("exposures", _exposure(1), 1) and drops[-1] == ("exposures", "closed", 1)


def test_records_wait_for_the_interval_and_a_close_writes_them(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events")
    logger = ExposureLogger(EventWriter(log, max_interval_s=60, max_rows=1_000))
    logger.submit("exposures", _exposure(3), 3)
    time.sleep(0.2)
    assert len(log.read("exposures")) == 0  # buffered: a hard crash now would lose them (the documented bound)
    logger.close()
    assert len(log.read("exposures")) == 3


def test_the_shadow_runner_skips_when_busy_and_keeps_failures_to_itself() -> None:
    gate, running = threading.Event(), threading.Event()
    skipped: list[int] = []
    errors: list[BaseException] = []
    done: list[int] = []
    runner = ShadowRunner(max_pending=1, on_skip=lambda: skipped.append(1), on_error=errors.append)

    def slow() -> None:
        running.set()
        gate.wait(10)
        done.append(1)

    def failing() -> None:
        raise EventLogError("boom")

    assert runner.submit(slow)
    assert running.wait(10)  # the first job runs; one more may wait
    assert runner.submit(failing)
    assert not runner.submit(lambda: done.append(3))
    assert skipped == [1]
    gate.set()
    assert runner.wait(10)
    runner.close()
    assert done == [1] and [str(e) for e in errors] == ["boom"]


def test_records_of_many_requests_gathered_together_are_the_records_of_each(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events")
    logger = ExposureLogger(EventWriter(log, max_interval_s=60), linger_s=5.0, sensitive=["country"])
    requests = [
        (_exposure(3, country=np.array(["de", None, "fr"], dtype=object), tenure=np.array([1.0, np.nan, 3.0])), 3),
        (_exposure(1, unit_id="solo", item_id=["i9"], country=np.array(["jp"], dtype=object)), 1),
        (_exposure(2, tenure=np.array([5.0, 6.0]), experiment="e1"), 2),
        # position an int64 array here and missing above: the batch falls back to a table per request, promoted
        (_exposure(2, position=np.array([0, 1]), item_id=["a", "b"]), 2),
    ]
    assert logger._merged(requests[:3]) is not None and logger._merged(requests) is None
    for columns, rows in requests[:3]:
        assert logger.submit("exposures", columns, rows)
    assert logger.flush(10)  # one gather: a flush ends it
    for columns, rows in requests:
        assert logger.submit("exposures", columns, rows)
    assert logger.flush(10)
    logger.close()

    one_each = pa.concat_tables([logger._table(c, n) for c, n in requests[:3]], promote_options="permissive")
    want = one_each.to_pandas()
    got = log.read("exposures")
    assert len(got) == 3 + 1 + 2 + 3 + 1 + 2 + 2 and logger.dropped == 0
    for name in want.columns:
        expected = [None if pd.isna(v) else v for v in want[name]]
        assert [None if pd.isna(v) else v for v in got[name][:6]] == expected, name
    assert [None if pd.isna(v) else v for v in got["position"][6:]] == [None] * 6 + [0, 1]
    assert got["country"][3] == hashlib.sha256(b"jp").hexdigest()
