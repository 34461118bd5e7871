"""The contract check: missing, mistyped and null columns are refused with a message naming them."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pyarrow as pa
import pytest

from loopline import EventLogError
from loopline.events import EXPOSURE, FEEDBACK, SCHEMAS, conform
from tests.events.helpers import assignment_row, exposures, feedback_rows


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def test_contract_columns_come_first_with_contract_types_and_extras_are_kept() -> None:
    frame = exposures(3, country=["de", "us", "de"], spend_7d=[1.0, 2.5, None])
    out = conform("exposures", _arrow(frame[["country", *frame.columns[:-2], "spend_7d"]]))
    assert out.column_names == [*EXPOSURE.names, "country", "spend_7d"]
    assert out.schema.field("position").type == pa.int32()  # int64 cast down losslessly
    assert out.schema.field("ts").type == pa.timestamp("us", tz="UTC")  # ns -> us
    assert pa.schema(list(out.schema)[: len(EXPOSURE)]) == EXPOSURE
    assert out.column("country").to_pylist() == ["de", "us", "de"]


@pytest.mark.parametrize("kind", ["exposures", "feedback", "assignments"])
def test_a_missing_contract_column_is_named_with_its_kind(kind: str) -> None:
    table = SCHEMAS[kind].empty_table().drop_columns(["deployment"])
    with pytest.raises(EventLogError, match=rf"^{kind}: contract column 'deployment' \(string\) is missing"):
        conform(kind, table)  # type: ignore[arg-type]


def test_a_wrong_type_is_refused_with_the_expected_type() -> None:
    frame = exposures(2)
    frame["position"] = ["top", "second"]
    with pytest.raises(EventLogError, match=r"'position' must be an integer \(int32\), got (large_)?string"):
        conform("exposures", _arrow(frame))


def test_a_lossy_cast_is_refused() -> None:
    frame = exposures(2)
    frame["position"] = [0.0, 1.5]
    with pytest.raises(EventLogError, match="'position' cannot be cast from double to int32 without losing values"):
        conform("exposures", _arrow(frame))
    frame["position"] = [0.0, 1.0]  # whole numbers cast fine
    assert conform("exposures", _arrow(frame)).column("position").to_pylist() == [0, 1]


def test_timestamps_must_be_timezone_aware_and_microsecond_exact() -> None:
    naive = exposures(1)
    naive["ts"] = [datetime(2026, 1, 1)]
    with pytest.raises(EventLogError, match="'ts' is a timestamp without a time zone"):
        conform("exposures", _arrow(naive))
    text = exposures(1)
    text["ts"] = ["2026-01-01T00:00:00Z"]
    with pytest.raises(EventLogError, match=r"'ts' must be a UTC timestamp .* pd.to_datetime"):
        conform("exposures", _arrow(text))
    nanos = exposures(1)
    nanos["ts"] = pd.to_datetime(["2026-01-01T00:00:00.000000001Z"])
    with pytest.raises(EventLogError, match=r"'ts' cannot be stored as timestamp.* without losing precision"):
        conform("exposures", _arrow(nanos))


def test_a_non_utc_zone_is_converted_to_the_same_instant_in_utc() -> None:
    frame = exposures(1)
    frame["ts"] = pd.to_datetime(["2026-01-01T23:59:00-05:00"]).tz_convert("America/New_York")
    out = conform("exposures", _arrow(frame)).column("ts").to_pylist()
    assert out[0].isoformat() == "2026-01-02T04:59:00+00:00"


@pytest.mark.parametrize(("kind", "column"), [
    ("exposures", "ts"), ("exposures", "deployment"), ("exposures", "request_id"), ("exposures", "unit_id"),
    ("feedback", "event"), ("assignments", "experiment"), ("assignments", "arm"),
])
def test_required_ids_may_not_be_null(kind: str, column: str) -> None:
    frame = {"exposures": exposures(3), "feedback": feedback_rows(3),
             "assignments": pd.DataFrame([assignment_row(i) for i in range(3)])}[kind]
    table = _arrow(frame)
    index = table.column_names.index(column)
    values = table.column(column).to_pylist()
    values[1] = None
    table = table.set_column(index, column, pa.array(values, table.schema.field(column).type))
    with pytest.raises(EventLogError, match=rf"^{kind}: contract column '{column}' has 1 null value\(s\) "
                                            r"\(first at row 1\)"):
        conform(kind, table)  # type: ignore[arg-type]


def test_nullable_contract_columns_may_hold_nulls() -> None:
    frame = exposures(2)
    frame["item_id"] = [None, None]  # a plain prediction has no item
    frame["score"] = [None, 0.3]
    out = conform("exposures", _arrow(frame))
    assert out.column("item_id").type == pa.string()
    assert out.column("item_id").null_count == 2


def test_feedback_must_name_its_exposure() -> None:
    frame = feedback_rows(3)
    frame["request_id"] = [None, "r1", None]
    frame["item_id"] = ["p0", "p1", None]
    with pytest.raises(EventLogError, match=r"feedback: 1 row\(s\) have neither a 'request_id' nor both "
                                            r"'unit_id' and 'item_id' \(first at row 2\)"):
        conform("feedback", _arrow(frame))
    frame["item_id"] = ["p0", "p1", "p2"]  # (unit_id, item_id) is enough without a request id
    assert conform("feedback", _arrow(frame)).schema.names == FEEDBACK.names


def test_an_all_null_column_takes_the_contract_type() -> None:
    frame = exposures(2)
    table = _arrow(frame).set_column(4, "item_id", pa.nulls(2))
    assert conform("exposures", table).schema.field("item_id").type == pa.string()


def test_duplicated_columns_and_unknown_kinds_are_refused() -> None:
    table = _arrow(exposures(1))
    doubled = table.append_column("arm", pa.array(["x"]))
    with pytest.raises(EventLogError, match="column 'arm' appears more than once"):
        conform("exposures", doubled)
    from loopline.events._conform import check_kind

    with pytest.raises(EventLogError, match=r"unknown event kind 'exposure'.*did you mean 'exposures'"):
        check_kind("exposure")
