"""Reading tables through DuckDB: CSV and Parquet files or globs, or a SQL query over named inputs."""

from __future__ import annotations

import glob as globbing
import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from loopline._errors import DataError
from loopline.data._arrow import to_frame
from loopline.data._sql import run_query
from loopline.spec import ProblemSpec

_READERS = {".csv": "read_csv", ".tsv": "read_csv", ".txt": "read_csv", ".parquet": "read_parquet",
            ".pq": "read_parquet"}


def load(spec: ProblemSpec, *, connection: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """The spec's training table (``data.source`` or ``data.sql``) as a pandas frame.

    Relative paths resolve against the spec's folder. Errors name the file or query and the fix.
    ``data.sql`` is user code: the files in ``data.tables`` are read first (on ``connection``), then the
    query runs in the sandbox of :mod:`loopline.data._sql` over those tables only, as one ``SELECT``.
    """
    con = connection or duckdb.connect()
    data = spec.data
    if data.sql is None:
        assert data.source is not None
        sources = [data.source] if isinstance(data.source, str) else list(data.source)
        return load_table([spec.resolve(s) for s in sources], what="data.source", connection=con)
    tables = {name: _arrow(con, spec.resolve(path), what=f"data.tables.{name}") for name, path in data.tables.items()}
    frame = run_query(data.sql, tables, key=f"data.sql in {spec.source_name}")
    return _non_empty(frame, "the result of data.sql")


def load_table(paths: str | list[str], *, what: str = "data.source",
               connection: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """Read one or more CSV/Parquet paths or globs (all of one format) into a frame."""
    con = connection or duckdb.connect()
    listed = [paths] if isinstance(paths, str) else list(paths)
    frame = to_frame(_relation(con, listed, what=what))
    return _non_empty(frame, f"{what} ({', '.join(listed)})")


def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a frame (column names, dtypes and every value), independent of file paths."""
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(str(len(frame)).encode())
    if len(frame.columns):
        hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
        digest.update(hashed.tobytes())
    return digest.hexdigest()


def _arrow(con: duckdb.DuckDBPyConnection, path: str, *, what: str) -> pa.Table:
    """One declared table read whole into Arrow, so the sandbox never needs file access."""
    try:
        return _relation(con, [path], what=what).to_arrow_table()
    except duckdb.Error as exc:
        raise DataError(f"{what}: cannot read {path}: {_first_line(exc)}") from exc


def _relation(con: duckdb.DuckDBPyConnection, paths: list[str], *, what: str) -> duckdb.DuckDBPyRelation:
    files: list[str] = []
    for path in paths:
        matched = sorted(globbing.glob(path)) if globbing.has_magic(path) else ([path] if Path(path).exists() else [])
        if not matched:
            hint = "no file matches this glob" if globbing.has_magic(path) else "no such file"
            raise DataError(f"{what}: {path}: {hint}. Check the path (relative paths are read from the "
                            "spec's folder).")
        files.extend(matched)
    suffixes = {Path(f).suffix.lower() for f in files}
    readers = {_READERS.get(s) for s in suffixes}
    if None in readers or len(readers) != 1:
        raise DataError(f"{what}: cannot read {sorted(suffixes)} files together; give CSV (.csv, .tsv) or "
                        "Parquet (.parquet) files, all of one format.")
    reader = readers.pop()
    try:
        if reader == "read_parquet":
            return con.read_parquet(files, union_by_name=True, hive_partitioning=False)
        if len(files) > 1:
            return con.read_csv(files, union_by_name=True)
        return con.read_csv(files[0])
    except duckdb.Error as exc:
        raise DataError(f"{what}: cannot read {files[0]}{' and others' if len(files) > 1 else ''}: "
                        f"{_first_line(exc)}") from exc


def _non_empty(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    if frame.empty:
        raise DataError(f"{what} is empty (0 rows). Point the spec at a table with data.")
    return frame


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
