"""``EventWriter``: when it flushes, what a crash can lose, and that a retried flush never duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from loopline import EventLogError
from loopline.events import EventLog, EventWriter
from loopline.events import _writer as writer_module
from tests.events.helpers import T0, assignment_row


def _wait_until(condition: object, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_flushes_when_max_rows_is_reached(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    with EventWriter(log, max_rows=5, max_interval_s=3600) as writer:
        writer.append("assignments", [assignment_row(i) for i in range(4)])
        assert writer.buffered == 4 and log.read("assignments").empty
        writer.append("assignments", [assignment_row(4)])
        assert writer.buffered == 0
        assert len(writer.written) == 1
        assert log.read("assignments")["unit_id"].tolist() == [f"u{i}" for i in range(5)]


def test_flushes_in_the_background_after_max_interval(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    writer = EventWriter(log, max_rows=1000, max_interval_s=0.05)
    try:
        writer.append("assignments", [assignment_row(0)])
        # No further append or flush: the background thread must write the row on its own.
        assert _wait_until(lambda: writer.buffered == 0)
        assert len(log.read("assignments")) == 1
    finally:
        writer.close()


def test_flush_and_close_write_everything_and_close_is_idempotent(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    writer = EventWriter(log, max_rows=1000, max_interval_s=3600)
    writer.append("assignments", [assignment_row(0)])
    writer.append("assignments", [assignment_row(1, ts=T0 + timedelta(days=1))])  # a second UTC date
    (first, second) = writer.flush()
    assert (first.parent.name, second.parent.name) == ("date=2026-03-01", "date=2026-03-02")
    writer.append("assignments", [assignment_row(2)])
    writer.close()
    writer.close()
    assert sorted(log.read("assignments")["unit_id"]) == ["u0", "u1", "u2"]
    with pytest.raises(EventLogError, match=r"append\(\) on a closed EventWriter"):
        writer.append("assignments", [assignment_row(3)])


def test_rows_with_different_keys_keep_every_column(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    with EventWriter(log) as writer:
        writer.append("assignments", [assignment_row(0), {**assignment_row(1), "country": "de"}])
    back = log.read("assignments")
    assert back["country"].isna().tolist() == [True, False]
    assert back["country"].tolist()[1] == "de"


def test_a_bad_append_raises_and_buffers_nothing(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    with EventWriter(log) as writer:
        writer.append("assignments", [assignment_row(0)])
        bad = {**assignment_row(1)}
        del bad["arm"]
        with pytest.raises(EventLogError, match=r"assignments: contract column 'arm' \(string\) is missing"):
            writer.append("assignments", [bad])
        with pytest.raises(EventLogError, match="contract column 'unit_id' has 1 null value"):
            writer.append("assignments", [assignment_row(2), {**assignment_row(3), "unit_id": None}])
        assert writer.buffered == 1


def test_an_extra_column_that_changes_type_is_refused_at_append(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    with EventWriter(log) as writer:
        writer.append("assignments", [{**assignment_row(0), "score": 1}])
        writer.append("assignments", [{**assignment_row(1), "score": 2.5}])  # int then float: promoted
        with pytest.raises(EventLogError, match="column 'score' is string here but double in rows already buffered"):
            writer.append("assignments", [{**assignment_row(2), "score": "high"}])
        assert writer.buffered == 2
    assert log.read("assignments")["score"].tolist() == [1.0, 2.5]


def test_a_failed_flush_keeps_unwritten_rows_and_a_retry_writes_each_row_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = EventLog(tmp_path)
    real = writer_module.write_segment
    calls = {"n": 0}

    def flaky(folder: Path, table: pa.Table) -> Path:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(folder, table)

    monkeypatch.setattr(writer_module, "write_segment", flaky)
    writer = EventWriter(log, max_rows=1000, max_interval_s=3600)
    rows = [assignment_row(i, ts=T0 + timedelta(days=i % 3)) for i in range(9)]  # three UTC dates
    writer.append("assignments", rows)
    with pytest.raises(EventLogError, match=r"cannot write a segment to .*date=2026-03-02 .*No space left on device.*"
                                            r"6 row\(s\) stay buffered"):
        writer.flush()
    assert writer.buffered == 6
    assert len(writer.flush()) == 2
    writer.close()
    back = log.read("assignments")
    assert sorted(back["unit_id"]) == sorted(f"u{i}" for i in range(9))


def test_a_failed_background_flush_is_raised_by_the_next_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = EventLog(tmp_path)

    def broken(folder: Path, table: pa.Table) -> Path:
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(writer_module, "write_segment", broken)
    writer = EventWriter(log, max_rows=1000, max_interval_s=0.02)
    writer.append("assignments", [assignment_row(0)])
    assert _wait_until(lambda: writer._error is not None)
    with pytest.raises(EventLogError, match=r"a background flush of the event log failed: .*Permission denied"):
        writer.append("assignments", [assignment_row(1)])
    monkeypatch.undo()
    writer.close()  # the rows kept through the failure are written now
    assert log.read("assignments")["unit_id"].tolist() == ["u0"]


def test_appends_from_many_threads_lose_nothing(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    writer = EventWriter(log, max_rows=37, max_interval_s=0.01)

    def work(worker: int) -> None:
        for i in range(50):
            writer.append("assignments", [{**assignment_row(i), "unit_id": f"w{worker}-{i}"}])

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    back = log.read("assignments")
    assert len(back) == 400 and back["unit_id"].nunique() == 400


def test_invalid_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EventLogError, match="max_rows must be at least 1, got 0"):
        EventWriter(EventLog(tmp_path), max_rows=0)
    with pytest.raises(EventLogError, match="max_interval_s must be a positive number of seconds, got -1"):
        EventWriter(EventLog(tmp_path), max_interval_s=-1)


_CRASH = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime, timezone
    from loopline.events import EventLog, EventWriter
    writer = EventWriter(EventLog(sys.argv[1]), max_rows=10_000, max_interval_s=3600)
    row = lambda i: {"ts": datetime(2026, 1, 1, tzinfo=timezone.utc), "deployment": "api",
                     "experiment": "e", "unit_id": f"u{i}", "arm": "a"}
    writer.append("assignments", [row(i) for i in range(100)])
    writer.flush()  # acknowledged: durable
    writer.append("assignments", [row(i) for i in range(100, 150)])  # buffered only
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    # a normal exit without close(): the exit hook flushes
""")


@pytest.mark.parametrize(("how", "expected"), [("kill", 100), ("exit", 150)])
def test_what_survives_a_crash_and_a_normal_exit(tmp_path: Path, how: str, expected: int) -> None:
    child = subprocess.run([sys.executable, "-c", _CRASH, str(tmp_path), how], capture_output=True, timeout=120,
                           check=False)
    assert child.returncode == (-signal.SIGKILL if how == "kill" else 0), child.stderr.decode()
    back = EventLog(tmp_path).read("assignments")
    assert len(back) == expected  # acknowledged rows always; the unflushed tail only on a clean exit
    assert back["unit_id"].tolist() == [f"u{i}" for i in range(expected)]
    names = os.listdir(tmp_path / "assignments" / "date=2026-01-01")
    assert all(n.startswith("part-") and n.endswith(".parquet") for n in names)  # no temporary files left
