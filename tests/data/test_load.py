"""Reading sources through DuckDB, and the errors a user sees for unreadable ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from loopline import DataError
from loopline.data import fingerprint, load, load_table
from loopline.spec import ProblemSpec


def _spec(tmp_path: Path, data: dict[str, object]) -> ProblemSpec:
    return ProblemSpec.from_dict({"name": "t", "task": "binary", "data": data, "event_time": "ts",
                                  "label": {"column": "y"}}, base_dir=tmp_path)


def _frame(n: int = 5, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
                         "x": range(offset, offset + n), "y": [0, 1] * (n // 2) + [0] * (n % 2)})


def test_csv_parquet_and_globs_read_the_same_rows(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "a.csv", index=False)
    _frame(5, 5).to_csv(tmp_path / "b.csv", index=False)
    _frame().to_parquet(tmp_path / "a.parquet")
    assert len(load(_spec(tmp_path, {"source": "a.csv"}))) == 5
    assert sorted(load(_spec(tmp_path, {"source": "*.csv"}))["x"]) == list(range(10))
    assert load_table(str(tmp_path / "a.parquet"))["x"].tolist() == list(range(5))


def test_sql_over_named_tables(tmp_path: Path) -> None:
    _frame(6).to_parquet(tmp_path / "events.parquet")
    spec = _spec(tmp_path, {"sql": "SELECT * FROM ev WHERE x >= 2", "tables": {"ev": "events.parquet"}})
    assert load(spec)["x"].tolist() == [2, 3, 4, 5]


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere\.csv: no such file"):
        load(_spec(tmp_path, {"source": "nowhere.csv"}))
    with pytest.raises(DataError, match="no file matches this glob"):
        load(_spec(tmp_path, {"source": "logs/*.parquet"}))


def test_empty_table_and_bad_sql_are_named(tmp_path: Path) -> None:
    _frame().head(0).to_csv(tmp_path / "empty.csv", index=False)
    with pytest.raises(DataError, match="is empty"):
        load(_spec(tmp_path, {"source": "empty.csv"}))
    _frame().to_parquet(tmp_path / "e.parquet")
    with pytest.raises(DataError, match=r"data\.sql .* failed in DuckDB"):
        load(_spec(tmp_path, {"sql": "SELECT nope FROM ev", "tables": {"ev": "e.parquet"}}))


def test_mixed_formats_are_refused(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "a.csv", index=False)
    _frame().to_parquet(tmp_path / "a.parquet")
    with pytest.raises(DataError, match="all of one format"):
        load(_spec(tmp_path, {"source": ["a.csv", "a.parquet"]}))


def test_fingerprint_follows_content_not_paths() -> None:
    a, b = _frame(), _frame()
    assert fingerprint(a) == fingerprint(b)
    b.loc[2, "x"] = 99
    assert fingerprint(a) != fingerprint(b)
