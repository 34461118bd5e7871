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


def _declared(tmp_path: Path) -> Path:
    """A project folder with two declared tables, and a secret file outside it."""
    project = tmp_path / "project"
    project.mkdir()
    _frame(6).to_parquet(project / "events.parquet")
    pd.DataFrame({"x": range(6), "plan": ["basic", "pro;max"] * 3}).to_csv(project / "plans.csv", index=False)
    (tmp_path / "secret.csv").write_text("token\nhunter2\n", encoding="utf-8")
    return project


def _sql_spec(project: Path, sql: str) -> ProblemSpec:
    return _spec(project, {"sql": sql, "tables": {"ev": "events.parquet", "plans": "plans.csv"}})


def test_sql_joins_declared_csv_and_parquet_tables_in_the_sandbox(tmp_path: Path) -> None:
    project = _declared(tmp_path)
    query = ("SELECT ev.*, plans.plan FROM ev JOIN plans USING (x) -- keep the paid plans; all of them\n"
             "WHERE plans.plan = 'pro;max' ORDER BY x;")
    found = load(_sql_spec(project, query))
    assert found["x"].tolist() == [1, 3, 5] and set(found["plan"]) == {"pro;max"}
    assert str(found["ts"].dt.tz) == "UTC"


@pytest.mark.parametrize("reader", ["read_csv('{s}')", "read_text('{s}')", "glob('{d}/*')", "'{s}'",
                                    "read_csv('{d}/project/plans.csv')"])
def test_sql_cannot_read_a_file(tmp_path: Path, reader: str) -> None:
    project = _declared(tmp_path)
    source = reader.format(s=tmp_path / "secret.csv", d=tmp_path)
    with pytest.raises(DataError, match=r"data\.sql in loopline\.yaml is refused: reading or writing files is not "
                                        r"allowed") as info:
        load(_sql_spec(project, f"SELECT ev.* FROM ev, (SELECT count(*) FROM {source})"))
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("statement", [
    "SELECT * FROM ev; COPY (SELECT * FROM ev) TO '{out}'",
    "COPY (SELECT * FROM ev) TO '{out}'",
    "ATTACH '{out}' AS stolen",
    "SELECT * FROM ev; ATTACH '{out}' AS stolen; SELECT * FROM ev",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SELECT * FROM ev; SET enable_external_access = true; SELECT * FROM read_csv('{out}')",
    "RESET lock_configuration",
])
def test_sql_is_one_select_and_writes_nothing(tmp_path: Path, statement: str) -> None:
    project = _declared(tmp_path)
    out = tmp_path / "written"
    with pytest.raises(DataError, match=r"data\.sql in loopline\.yaml: (only a SELECT query|exactly one statement) "
                                        r"is allowed.*not allowed"):
        load(_sql_spec(project, statement.format(out=out)))
    assert not out.exists()
