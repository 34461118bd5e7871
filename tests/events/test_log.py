"""``EventLog``: round trips, UTC date partitions, pruned reads, atomic and concurrent segment writes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loopline import EventLogError
from loopline.events import EXPOSURE, EventLog
from loopline.workspace import Workspace
from tests.events.helpers import exposures, feedback_rows


def test_round_trip_keeps_values_and_contract_types(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    frame = exposures(4, country=["de", "us", "de", "fr"])
    log.write("exposures", frame)
    back = log.read("exposures")
    assert list(back.columns) == [*EXPOSURE.names, "country"]
    assert str(back["ts"].dtype) == "datetime64[us, UTC]"
    assert str(back["position"].dtype) == "int32"
    assert back["served"].dtype == bool
    assert back["score"].dtype == "float64"
    pd.testing.assert_series_equal(back["ts"], pd.Series(frame["ts"]).astype("datetime64[us, UTC]"))
    for column in ("request_id", "unit_id", "item_id", "country"):
        assert back[column].tolist() == frame[column].tolist()
    assert back["position"].tolist() == [0, 1, 2, 3]
    assert back["score"].tolist() == frame["score"].tolist()
    assert log.kinds() == ["exposures"]


def test_for_workspace_uses_the_workspace_events_root(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", env={"LOOPLINE_EVENTS_ROOT": str(tmp_path / "elsewhere")})
    log = EventLog.for_workspace(ws)
    assert log.root == tmp_path / "elsewhere"
    log.write("feedback", feedback_rows())
    assert log.glob("feedback") == str(tmp_path / "elsewhere" / "feedback" / "*" / "*.parquet")
    assert len(log.read("feedback")) == 2


def test_segments_are_partitioned_by_the_utc_date(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    frame = exposures(2)
    # 23:59 at UTC-05:00 on 1 January is 04:59 UTC on 2 January; 00:30 UTC stays on its own date.
    frame["ts"] = [pd.Timestamp("2026-01-01T23:59:00-05:00"), pd.Timestamp("2026-01-01T00:30:00Z")]
    paths = log.write("exposures", frame)
    assert sorted(p.parent.name for p in paths) == ["date=2026-01-01", "date=2026-01-02"]
    late = pq.read_table(next(p for p in paths if p.parent.name == "date=2026-01-02"))
    assert late.column("request_id").to_pylist() == ["r0"]
    assert late.column("ts").to_pylist()[0] == datetime(2026, 1, 2, 4, 59, tzinfo=UTC)


def test_a_time_range_reads_only_the_overlapping_date_folders(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    days = [datetime(2026, 1, d, 12, tzinfo=UTC) for d in (1, 2, 3, 4)]
    for i, day in enumerate(days):
        log.write("exposures", exposures(3, start=day, prefix=f"d{i}-"))
    # A broken segment on 4 January: any read that opens that folder fails, so a read that works
    # while excluding it proves the folder was never opened.
    (tmp_path / "exposures" / "date=2026-01-04" / "part-zzz.parquet").write_bytes(b"not parquet")
    with pytest.raises(duckdb.Error, match=r"(?i)parquet"):
        log.read("exposures")
    start, end = datetime(2026, 1, 2, 12, 1, tzinfo=UTC), datetime(2026, 1, 4, tzinfo=UTC)
    assert {p.parent.name for p in log.segments("exposures", start=start, end=end)} == {
        "date=2026-01-02", "date=2026-01-03"}
    got = log.read("exposures", start=start, end=end)
    # start is inclusive, end exclusive: 2 January from 12:01, all of 3 January.
    assert got["request_id"].tolist() == ["d1-1", "d1-2", "d2-0", "d2-1", "d2-2"]
    # Bounds in another zone mean the same instants.
    eastern = timezone(timedelta(hours=-5))
    same = log.read("exposures", start=start.astimezone(eastern), end=end.astimezone(eastern))
    assert same["request_id"].tolist() == got["request_id"].tolist()


def test_naive_bounds_and_unknown_columns_are_refused(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.write("exposures", exposures(2))
    with pytest.raises(EventLogError, match="start=2026-01-01T00:00:00 has no time zone"):
        log.read("exposures", start=datetime(2026, 1, 1))
    with pytest.raises(EventLogError, match=r"no column 'colour' in the event log .* available: ts, deployment"):
        log.read("exposures", columns=["request_id", "colour"])
    with pytest.raises(EventLogError, match=r"columns=\[\] selects nothing"):
        log.read("exposures", columns=[])


def test_an_empty_log_reads_as_an_empty_frame_with_contract_columns(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    empty = log.read("feedback")
    assert empty.empty and list(empty.columns) == ["ts", "deployment", "request_id", "unit_id", "item_id",
                                                  "event", "value"]
    assert str(empty["ts"].dtype) == "datetime64[us, UTC]"
    assert log.kinds() == []
    assert log.write("feedback", feedback_rows(2).iloc[:0]) == []


def test_segments_with_different_extra_columns_read_as_one_table(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.write("exposures", exposures(2, prefix="a", country=["de", "us"]))
    log.write("exposures", exposures(2, prefix="b", spend_7d=[3.5, 4.0]))
    back = log.read("exposures").sort_values("request_id").reset_index(drop=True)
    assert back["request_id"].tolist() == ["a0", "a1", "b0", "b1"]
    assert back["country"].tolist()[:2] == ["de", "us"] and back["country"].isna().tolist()[2:] == [True, True]
    assert back["spend_7d"].isna().tolist()[:2] == [True, True] and back["spend_7d"].tolist()[2:] == [3.5, 4.0]


def test_a_leftover_temporary_file_is_never_read(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    (path,) = log.write("exposures", exposures(2))
    # What a writer killed mid-write leaves behind: a hidden temporary file next to the segments.
    (path.parent / f".{path.name}.tmp").write_bytes(b"PAR1 half a segment")
    assert len(log.read("exposures")) == 2
    assert log.segments("exposures") == [path]


def test_concurrent_writes_from_threads_lose_nothing(tmp_path: Path) -> None:
    log = EventLog(tmp_path)

    def write(worker: int) -> list[Path]:
        paths: list[Path] = []
        for batch in range(5):
            paths += log.write("exposures", exposures(3, prefix=f"w{worker}-b{batch}-"))
        return paths

    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = [p for chunk in pool.map(write, range(8)) for p in chunk]
    assert len(set(paths)) == 40  # every write got its own segment
    back = log.read("exposures")
    assert len(back) == 8 * 5 * 3
    assert back["request_id"].nunique() == 120


_CHILD = textwrap.dedent("""
    import sys
    from datetime import datetime, timedelta, timezone
    import pyarrow as pa
    from loopline.events import EventLog
    log, name = EventLog(sys.argv[1]), sys.argv[2]
    t0 = datetime(2026, 3, 1, 23, 59, 59, tzinfo=timezone.utc)
    for b in range(20):
        n = 50
        log.write("feedback", pa.table({
            "ts": [t0 + timedelta(microseconds=i) for i in range(n)], "deployment": ["api"] * n,
            "request_id": [f"{name}-{b}-{i}" for i in range(n)], "unit_id": ["u"] * n, "item_id": ["p"] * n,
            "event": ["click"] * n, "value": [1.0] * n}))
""")


def test_concurrent_writes_from_two_processes_lose_nothing(tmp_path: Path) -> None:
    children = [subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path), name], stderr=subprocess.PIPE)
                for name in ("a", "b")]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err.decode()
    back = EventLog(tmp_path).read("feedback", columns=["request_id"])
    assert len(back) == 2 * 20 * 50
    assert back["request_id"].nunique() == 2000
    assert len(list((tmp_path / "feedback" / "date=2026-03-01").glob("part-*.parquet"))) == 40


def test_pyarrow_tables_and_bad_inputs(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    table = pa.Table.from_pandas(exposures(2), preserve_index=False)
    (path,) = log.write("exposures", table.replace_schema_metadata({b"pandas": b"{}"}))
    assert pq.read_schema(path).metadata is None  # no stale pandas metadata in segments
    with pytest.raises(EventLogError, match=r"exposures: expected a pyarrow.Table or pandas.DataFrame, got list"):
        log.write("exposures", [1, 2])  # type: ignore[arg-type]
    mixed = exposures(2)
    mixed["country"] = ["de", 3]
    with pytest.raises(EventLogError, match="cannot be converted to Arrow"):
        log.write("exposures", mixed)
