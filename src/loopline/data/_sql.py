"""Running a spec's SQL (``data.sql``, ``baseline.rule``) as untrusted code, in a DuckDB sandbox.

The SQL in a spec travels: ``baseline.rule`` is stored in ``model.json`` and runs again at every
prediction. So it runs on a connection of its own where:

1. the tables it may use are registered first, from memory (Arrow), never from files;
2. then file access is switched off (``enable_external_access``; no ``read_csv``, ``glob``, ``COPY``,
   ``ATTACH`` of a file, ``INSTALL``), extensions are neither autoloaded nor autoinstalled, Python
   variables are not scanned by name, and the configuration is locked (no ``SET`` / ``RESET``);
3. the text must parse, with DuckDB's own parser, as exactly one ``SELECT`` (a query) or one
   expression (a rule, run as ``SELECT CAST((<rule>) AS DOUBLE) FROM frame``).

Values loopline itself puts into a query are passed as parameters, never spliced into the text.

>>> import pyarrow as pa
>>> run_query("SELECT x * ? AS y FROM t WHERE note <> ';'", {"t": pa.table({"x": [1, 2], "note": ["a", ";"]})},
...           key="data.sql", parameters=[10])["y"].tolist()
[10]
>>> run_query("SELECT 1; COPY t TO 'out.csv'", {"t": pa.table({"x": [1]})}, key="data.sql")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
loopline._errors.DataError: data.sql: exactly one statement is allowed, got 2 (SELECT, COPY). ...
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from loopline._errors import DataError, LooplineError
from loopline.data._arrow import to_frame

Tables = Mapping[str, pa.Table | pa.RecordBatchReader | pd.DataFrame]
Parameters = Sequence[object] | Mapping[str, object] | None

LOCKDOWN = (
    "SET python_enable_replacements = false",
    "SET enable_external_access = false",
    "SET autoload_known_extensions = false",
    "SET autoinstall_known_extensions = false",
    "SET lock_configuration = true",
)
EXPRESSION_TABLE = "frame"
NOT_ALLOWED = ("reading or writing files (read_csv, read_text, glob, COPY, ATTACH, ...), installing or loading "
               "extensions, and changing settings are not allowed")

_IDENTIFIER = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_]*)')
_STRING = re.compile(r"'(?:[^']|'')*'")
_MISSING_COLUMN = re.compile(r'Referenced column "((?:[^"]|"")+)" not found')


def sandboxed_connection(tables: Tables) -> duckdb.DuckDBPyConnection:
    """A new in-memory connection holding ``tables`` (by name), then locked down (see the module docstring).

    The caller closes it. Nothing registered after this call can come from a file. A
    ``pyarrow.RecordBatchReader`` (such as a file streamed by another connection) is registered as a
    stream: queries read it once, so a table scanned twice must be given as a ``pyarrow.Table``.
    """
    con = duckdb.connect()
    try:
        for name, table in tables.items():
            arrow = (table if isinstance(table, pa.Table | pa.RecordBatchReader)
                     else pa.Table.from_pandas(table, preserve_index=False))
            con.register(name, arrow)
        for statement in LOCKDOWN:
            con.execute(statement)
    except BaseException:
        con.close()
        raise
    return con


def run_query(sql: str, tables: Tables, *, key: str, parameters: Parameters = None,
              error: type[LooplineError] = DataError) -> pd.DataFrame:
    """The result of one ``SELECT`` over ``tables`` in the sandbox, as a frame (instants labelled UTC).

    ``key`` names the spec key in errors (``data.sql``); ``error`` is the error class raised.
    """
    check_select(sql, key=key, error=error)
    con = sandboxed_connection(tables)
    try:
        return to_frame(con.sql(sql, params=parameters))
    except duckdb.Error as exc:
        raise error(f"{key} {_explain(exc, 'failed in DuckDB: ')}. {_uses(tables)}") from exc
    finally:
        con.close()


def evaluate_expression(expression: str, frame: pd.DataFrame, *, key: str,
                        error: type[LooplineError] = DataError) -> np.ndarray:
    """The value of the SQL ``expression`` for each row of ``frame`` as float64 (NaN where it is null).

    Only the columns the expression mentions are handed to DuckDB, as an Arrow table named ``frame``
    (which also accepts pandas views with reversed or strided rows).
    """
    columns = [str(c) for c in frame.columns]
    statement = check_expression(expression, key=key, error=error)
    used = list(referenced_columns(expression, columns))
    table = pa.Table.from_pandas(frame[used] if used else pd.DataFrame({"_row": np.zeros(len(frame))}),
                                 preserve_index=False)
    con = sandboxed_connection({EXPRESSION_TABLE: table})
    try:
        found = con.execute(statement).fetchnumpy()
    except duckdb.Error as exc:
        problem = _explain(exc, "cannot be evaluated: ") + _did_you_mean(exc, columns)
        problem += "" if problem.endswith("?") else "."
        raise error(f"{key} {expression!r} {problem} It must be a DuckDB SQL expression that gives a number per row, "
                    f"over the columns {columns}.") from exc
    finally:
        con.close()
    score = found["score"]
    if len(score) != len(frame):
        raise error(f"{key} {expression!r} gave {len(score)} values for {len(frame)} rows; it must be one expression "
                    "with one value per row (no set-returning functions such as unnest).")
    values: np.ndarray = np.ma.filled(np.ma.asarray(score, dtype=np.float64), np.nan)
    return values


def check_select(sql: str, *, key: str, error: type[LooplineError] = DataError) -> None:
    """Refuse ``sql`` unless DuckDB's parser reads it as exactly one ``SELECT`` statement."""
    try:
        kinds = _statement_kinds(sql)
    except duckdb.Error as exc:
        raise error(f"{key}: not valid SQL: {_first_line(exc)}. Give one SELECT query.") from exc
    if len(kinds) != 1:
        raise error(f"{key}: exactly one statement is allowed, got {len(kinds)}"
                    f"{' (' + ', '.join(kinds) + ')' if kinds else ''}. Give one SELECT query; {NOT_ALLOWED}.")
    if kinds[0] != "SELECT":
        article = "an" if kinds[0][:1] in "AEIOU" else "a"
        raise error(f"{key}: only a SELECT query is allowed, got {article} {kinds[0]} statement. Give one SELECT "
                    f"query; {NOT_ALLOWED}.")


def check_expression(expression: str, *, key: str, error: type[LooplineError] = DataError) -> str:
    """The ``SELECT`` that evaluates ``expression`` over ``frame``; refused unless it is one SQL expression.

    The expression stands on lines of its own, so a trailing ``-- comment`` cannot swallow the wrapper.
    """
    if not expression.strip():
        raise error(f"{key}: the rule is empty. Give a DuckDB SQL expression over the columns, e.g. 'ln(1 + x)'.")
    statement = f"SELECT CAST((\n{expression}\n) AS DOUBLE) AS score FROM {EXPRESSION_TABLE}"
    try:
        duckdb.SQLExpression(expression)
        kinds = _statement_kinds(statement)
        problem = None if kinds == ["SELECT"] else f"it reads as {len(kinds)} statements ({', '.join(kinds)})"
    except duckdb.Error as exc:
        problem = _first_line(exc)
    if problem is not None:
        raise error(f"{key} {expression!r} is not one SQL expression: {problem}. A rule is a single expression over "
                    f"the columns, such as 'ln(1 + followers) + quality'; statements, ';' and {NOT_ALLOWED}.")
    return statement


def _statement_kinds(sql: str) -> list[str]:
    """The type of each statement DuckDB's parser finds in ``sql`` (parsing runs nothing)."""
    return [s.type.name for s in duckdb.extract_statements(sql)]


def referenced_columns(expression: str, columns: Sequence[str]) -> tuple[str, ...]:
    """The names in ``columns`` that ``expression`` mentions (bare or double-quoted), in ``columns`` order.

    String literals are ignored, so ``plan = 'pro'`` references ``plan`` but not a column ``pro``.

    >>> referenced_columns('ln(1 + followers) + "quality" * 2', ["followers", "quality", "other"])
    ('followers', 'quality')
    """
    text = _STRING.sub("''", expression)
    named = {quoted.replace('""', '"') if quoted else bare for quoted, bare in _IDENTIFIER.findall(text)}
    lowered = {n.lower() for n in named}
    return tuple(c for c in columns if c in named or c.lower() in lowered)


def _explain(exc: duckdb.Error, failed: str) -> str:
    """What went wrong: a refusal by the sandbox says what is not allowed; anything else is DuckDB's message."""
    message = _first_line(exc).rstrip(".!")
    if isinstance(exc, duckdb.PermissionException):
        what = "loading extensions" if "extension" in message.lower() else "reading or writing files"
        return f"is refused: {what} is not allowed ({message}); {NOT_ALLOWED}"
    if "configuration has been locked" in message:
        return f"is refused: changing settings is not allowed ({message}); {NOT_ALLOWED}"
    return failed + message


def _did_you_mean(exc: duckdb.Error, columns: Sequence[str]) -> str:
    """A suggestion for a column DuckDB could not find (it only sees the columns the expression names)."""
    missing = _MISSING_COLUMN.search(str(exc))
    if missing is None:
        return ""
    hint = close_match(missing.group(1), columns)
    return f"; did you mean '{hint}'?" if hint else ""


def close_match(name: str, names: Sequence[str]) -> str | None:
    """The entry of ``names`` that ``name`` most likely misspells (ignoring case first), or None."""
    for candidate in names:
        if candidate.lower() == name.lower():
            return candidate
    found = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return found[0] if found else None


def _uses(tables: Tables) -> str:
    return f"The query can use the tables {sorted(tables)}."


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
