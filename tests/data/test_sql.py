"""The SQL sandbox: a spec's query or rule sees only the tables it is given and cannot touch files or settings."""

from __future__ import annotations

import doctest
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loopline import DataError, ModelError
from loopline.data import _sql as sql
from loopline.data import check_expression, check_select, evaluate_expression, referenced_columns, run_query


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret.csv"
    path.parent.mkdir()
    path.write_text("token\nhunter2\n", encoding="utf-8")
    return path


def _tables() -> dict[str, pa.Table]:
    return {"users": pa.table({"id": [1, 2, 3], "country": ["de", "fr", "de"]}),
            "orders": pa.table({"user_id": [1, 1, 3], "amount": [10.0, 5.0, 7.5]})}


def test_the_examples_in_the_docstring_run() -> None:
    result = doctest.testmod(sql)
    assert result.failed == 0 and result.attempted > 0


def test_a_join_over_the_given_tables_with_parameters_and_a_semicolon_in_a_string() -> None:
    query = """
        SELECT u.id, u.country, sum(o.amount) AS spend, 'a;b' AS note
        FROM users u JOIN orders o ON o.user_id = u.id
        WHERE o.amount >= ? GROUP BY ALL ORDER BY u.id;
    """
    found = run_query(query, _tables(), key="data.sql", parameters=[6.0])
    assert found.to_dict("list") == {"id": [1, 3], "country": ["de", "de"], "spend": [10.0, 7.5],
                                     "note": ["a;b", "a;b"]}
    named = run_query("SELECT count(*) AS n FROM orders WHERE amount < $cap", _tables(), key="data.sql",
                      parameters={"cap": 8.0})
    assert named["n"].tolist() == [2]


@pytest.mark.parametrize("reader", ["read_csv('{p}')", "read_text('{p}')", "read_blob('{p}')", "glob('{d}/*')",
                                    "'{p}'", "sniff_csv('{p}')"])
def test_reading_a_file_is_refused(secret: Path, reader: str) -> None:
    query = f"SELECT * FROM users, (SELECT count(*) FROM {reader.format(p=secret, d=secret.parent)})"
    with pytest.raises(DataError, match=r"data\.sql is refused: reading or writing files is not allowed") as info:
        run_query(query, _tables(), key="data.sql")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("statement", [
    "COPY (SELECT 1) TO '{out}'", "ATTACH '{out}' AS x", "INSTALL httpfs", "LOAD httpfs", "SET threads = 1",
    "RESET threads", "SET enable_external_access = true", "CREATE TABLE t AS SELECT 1", "EXPORT DATABASE '{out}'",
    "PRAGMA enable_profiling", "CALL pragma_version()", "EXPLAIN SELECT 1", "PIVOT users ON country",
])
def test_anything_but_one_select_is_refused(tmp_path: Path, statement: str) -> None:
    out = tmp_path / "written"
    with pytest.raises(DataError, match=r"data\.sql: only a SELECT query is allowed, got an? [A-Z_]+ statement"):
        run_query(statement.format(out=out), _tables(), key="data.sql")
    assert not out.exists()


def test_several_statements_are_refused_before_any_runs(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    with pytest.raises(DataError, match=r"exactly one statement is allowed, got 2 \(SELECT, COPY\)"):
        run_query(f"SELECT * FROM users; COPY users TO '{out}'", _tables(), key="data.sql")
    assert not out.exists()
    with pytest.raises(DataError, match="not valid SQL"):
        check_select("SELEC 1", key="data.sql")
    with pytest.raises(DataError, match="got 0"):
        check_select(" ; ", key="data.sql")


def test_the_connection_is_locked_after_the_tables_are_registered(tmp_path: Path) -> None:
    con = sql.sandboxed_connection(_tables())
    try:
        assert con.execute("SELECT count(*) FROM users").fetchone() == (3,)
        for statement in ("SET enable_external_access = true", "RESET enable_external_access",
                          "SET autoinstall_known_extensions = true", "SET lock_configuration = false"):
            with pytest.raises(duckdb.InvalidInputException, match="configuration has been locked"):
                con.execute(statement)
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"ATTACH '{tmp_path / 'x.db'}'")
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"COPY users TO '{tmp_path / 'x.csv'}'")
        names = ["enable_external_access", "autoload_known_extensions", "autoinstall_known_extensions",
                 "lock_configuration", "python_enable_replacements"]
        settings = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE list_contains(?, name)",
                                    [names]).fetchall())
        assert settings == {"enable_external_access": "false", "autoload_known_extensions": "false",
                            "autoinstall_known_extensions": "false", "lock_configuration": "true",
                            "python_enable_replacements": "false"}
    finally:
        con.close()
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "x.csv").exists()


def test_python_variables_are_not_scanned_by_name() -> None:
    hidden = pd.DataFrame({"password": ["hunter2"]})
    assert len(hidden) == 1  # a frame in the caller's scope, which DuckDB would otherwise find by its name
    with pytest.raises(DataError, match=r"Table with name hidden does not exist.*tables \['orders', 'users'\]"):
        run_query("SELECT * FROM hidden", _tables(), key="data.sql")


def test_an_expression_is_evaluated_per_row_with_sql_semantics() -> None:
    frame = pd.DataFrame({"x": [0.0, 3.0, np.nan], "plan": ["pro", "a;b", "basic"], "other": [1, 2, 3]})
    found = evaluate_expression("ln(1 + x) + CASE WHEN plan = 'a;b' THEN 10 ELSE 0 END", frame, key="baseline.rule")
    assert np.allclose(found, [0.0, np.log(4.0) + 10, np.nan], equal_nan=True)
    reversed_view = frame.iloc[::-1]
    assert np.allclose(evaluate_expression("x * 2", reversed_view, key="r"), [np.nan, 6.0, 0.0], equal_nan=True)
    assert evaluate_expression("1", frame, key="r").tolist() == [1.0, 1.0, 1.0]
    assert referenced_columns("plan = 'other' AND \"x\" > 1", list(frame.columns)) == ("x", "plan")


@pytest.mark.parametrize("rule", [
    "1) AS DOUBLE) AS score FROM frame; COPY (SELECT 1) TO '{out}'; SELECT CAST((1",
    "1) AS DOUBLE) AS score FROM frame; ATTACH '{out}'; SELECT CAST((1",
    "1) AS DOUBLE) AS score FROM frame UNION ALL SELECT (1",
    "x; SET threads = 1",
    "x AS DOUBLE); INSTALL httpfs; SELECT (1",
])
def test_a_rule_is_one_expression(tmp_path: Path, rule: str) -> None:
    out = tmp_path / "written"
    with pytest.raises(ModelError, match=r"baseline\.rule .* is not one SQL expression"):
        evaluate_expression(rule.format(out=out), pd.DataFrame({"x": [1.0]}), key="baseline.rule", error=ModelError)
    assert not out.exists()
    with pytest.raises(ModelError, match="is empty"):
        check_expression("  ", key="baseline.rule", error=ModelError)


def test_a_rule_that_reads_a_file_is_refused(secret: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    for rule in (f"(SELECT count(*) FROM read_csv('{secret}'))", f"length((SELECT content FROM read_text('{secret}')))",
                 f"(SELECT count(*) FROM glob('{secret.parent}/*'))"):
        with pytest.raises(ModelError, match=r"baseline\.rule .* is refused: reading or writing files is not allowed"):
            evaluate_expression(rule, frame, key="baseline.rule", error=ModelError)


def test_a_rule_with_several_values_per_row_is_refused() -> None:
    with pytest.raises(DataError, match="gave 4 values for 2 rows"):
        evaluate_expression("unnest([x, x])", pd.DataFrame({"x": [1.0, 2.0]}), key="baseline.rule")


def test_an_unknown_column_gets_a_suggestion() -> None:
    frame = pd.DataFrame({"country": ["de"], "followers": [3]})
    with pytest.raises(DataError, match=r'"contry" not found.*did you mean \'country\'\?'):
        evaluate_expression("CASE WHEN contry = 'de' THEN followers ELSE 0 END", frame, key="baseline.rule")
