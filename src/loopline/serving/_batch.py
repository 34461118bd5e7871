"""Batch prediction: a table scored in chunks into one Parquet file, in constant memory.

``predict_table(scorer, "events/*.parquet", "scores.parquet", keep=["event_id"])`` streams the input
through DuckDB (CSV or Parquet files or globs, all of one format) in record batches of at most
``chunk_rows`` rows; ``"sql:SELECT ..."`` with ``tables={"events": "events/*.parquet"}`` runs one
``SELECT`` in the data stage's SQL sandbox over those files, each streamed in (so each may be
scanned once). Every chunk goes through :meth:`Scorer.check`, the validation online requests get
(an :class:`~loopline.InputError` names the column and the row, counted from 0 over the whole
input), is scored and appended to the output as one row group.

The output holds the ``keep`` columns as read, then ``score`` (binary, regression, ranking) and
``decision`` (binary, ``score >= threshold``), or ``score_<class>`` per class (multiclass). It is
written to a temporary file renamed into place at the end: on any error no output appears and an
older file of that name is left as it was.
"""

from __future__ import annotations

import glob as globbing
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from loopline import _atomic as atomic
from loopline._errors import DataError, InputError
from loopline._progress import SILENT, Progress
from loopline.data import check_select, sandboxed_connection
from loopline.serving._scorer import Scorer

SQL_PREFIX = "sql:"
KEY = "--input"
_READERS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class BatchResult:
    """What :func:`predict_table` wrote."""

    output: Path
    rows: int
    chunks: int
    columns: tuple[str, ...]
    seconds: float


def score_columns(scorer: Scorer) -> tuple[str, ...]:
    """The names of the output's score columns for ``scorer``'s task."""
    if scorer.task == "multiclass":
        return tuple(f"score_{c}" for c in scorer.classes or ())
    return ("score", "decision") if scorer.task == "binary" and scorer.threshold is not None else ("score",)


def predict_table(scorer: Scorer, source: str | Path | Sequence[str | Path], output: str | Path, *,
                  keep: Sequence[str] = (), tables: Mapping[str, str | Path | Sequence[str | Path]] | None = None,
                  chunk_rows: int = 100_000, progress: Progress = SILENT) -> BatchResult:
    """Score every row of ``source`` into the Parquet file ``output`` (see the module docstring)."""
    if chunk_rows < 1:
        raise DataError(f"chunk_rows must be at least 1, got {chunk_rows}")
    keep = list(dict.fromkeys(keep))
    clash = sorted(set(keep) & set(score_columns(scorer)))
    if clash:
        raise DataError(f"--keep {clash}: the output's score columns have these names; rename the input columns "
                        "with a sql: query")
    clock = time.perf_counter()
    rows = chunks = 0
    with _Input(source, tables, chunk_rows) as (reader, total):
        _require(reader.schema, keep)
        schema = _output_schema(scorer, reader.schema, keep)
        progress.start(f"scoring with {scorer.name or scorer.family}", total=total)
        try:
            with atomic.writing(output) as handle, pq.ParquetWriter(handle, schema) as writer:
                for batch in _chunks(reader, chunk_rows):
                    columns = scorer.check(batch, offset=rows)
                    scores = scorer.score_checked(columns, batch.num_rows)
                    writer.write_table(_output(scorer, batch, keep, scores, schema))
                    rows += batch.num_rows
                    chunks += 1
                    progress.advance(batch.num_rows)
        finally:
            progress.finish()
    return BatchResult(Path(output), rows, chunks, tuple(schema.names), time.perf_counter() - clock)


def _chunks(reader: pa.RecordBatchReader, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    for batch in reader:
        for start in range(0, batch.num_rows, chunk_rows):
            yield batch.slice(start, chunk_rows)


def _output_schema(scorer: Scorer, schema: pa.Schema, keep: list[str]) -> pa.Schema:
    fields = [schema.field(name) for name in keep]
    for name in score_columns(scorer):
        fields.append(pa.field(name, pa.bool_() if name == "decision" else pa.float64()))
    return pa.schema(fields)


def _output(scorer: Scorer, batch: pa.RecordBatch, keep: list[str], scores: np.ndarray,
            schema: pa.Schema) -> pa.Table:
    arrays = [batch.column(name) for name in keep]
    if scorer.task == "multiclass":
        arrays.extend(pa.array(scores[:, k], type=pa.float64()) for k in range(scores.shape[1]))
    else:
        arrays.append(pa.array(scores, type=pa.float64()))
        decided = scorer.decide(scores)
        if decided is not None:
            arrays.append(pa.array(decided, type=pa.bool_()))
    return pa.Table.from_arrays(arrays, schema=schema)


def _require(schema: pa.Schema, keep: list[str]) -> None:
    absent = [name for name in keep if name not in schema.names]
    if absent:
        raise InputError(f"--keep names column(s) {absent} that the input does not have; its columns are "
                         f"{schema.names}", field=absent[0])


# -- reading ------------------------------------------------------------------------------------

class _Input:
    """A record-batch reader over the input and its row count when known cheaply (Parquet), as a context."""

    def __init__(self, source: str | Path | Sequence[str | Path],
                 tables: Mapping[str, str | Path | Sequence[str | Path]] | None, chunk_rows: int) -> None:
        self.source, self.tables, self.chunk_rows = source, tables or {}, chunk_rows
        self.connections: list[duckdb.DuckDBPyConnection] = []

    def __enter__(self) -> tuple[pa.RecordBatchReader, int | None]:
        try:
            if isinstance(self.source, str) and self.source.startswith(SQL_PREFIX):
                return self._query(self.source[len(SQL_PREFIX):]), None
            files, kind = _files(self.source, what=KEY)
            relation = self._relation(files, kind, what=KEY)
            total = sum(pq.ParquetFile(f).metadata.num_rows for f in files) if kind == "parquet" else None
            return relation.to_arrow_reader(self.chunk_rows), total
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for con in self.connections:
            con.close()

    def _relation(self, files: list[str], kind: str, *, what: str) -> duckdb.DuckDBPyRelation:
        con = duckdb.connect()
        self.connections.append(con)
        con.execute("SET enable_progress_bar = false")  # the caller draws progress
        try:
            if kind == "parquet":
                return con.read_parquet(files, union_by_name=True, hive_partitioning=False)
            return con.read_csv(files, union_by_name=True) if len(files) > 1 else con.read_csv(files[0])
        except duckdb.Error as exc:
            raise DataError(f"{what}: cannot read {files[0]}{' and others' if len(files) > 1 else ''}: "
                            f"{_first_line(exc)}") from exc

    def _query(self, sql: str) -> pa.RecordBatchReader:
        key = f"{KEY} {SQL_PREFIX}"
        check_select(sql, key=key)
        if not self.tables:
            raise DataError(f"{key} needs the tables it reads: give each as name=path "
                            "(--table events=events/*.parquet)")
        streams = {}
        for name, paths in self.tables.items():
            files, kind = _files(paths, what=f"--table {name}")
            streams[name] = self._relation(files, kind, what=f"--table {name}").to_arrow_reader(self.chunk_rows)
        con = sandboxed_connection(streams)
        self.connections.append(con)
        try:
            return con.sql(sql).to_arrow_reader(self.chunk_rows)
        except duckdb.Error as exc:
            if isinstance(exc, duckdb.PermissionException):
                problem = (f"is refused: {_first_line(exc)}. The query runs in a sandbox: it reads only the "
                           "tables given with --table, never files, extensions or settings.")
            else:
                once = (" Each table is streamed once; to scan one twice, write it to a file first."
                        if "already been consumed" in str(exc) else "")
                problem = f"failed in DuckDB: {_first_line(exc)}.{once}"
            raise DataError(f"{key} {problem} The query can use the tables {sorted(self.tables)}.") from exc


def _files(source: str | Path | Sequence[str | Path], *, what: str) -> tuple[list[str], str]:
    """The files a path, glob or list of them names, and their one format (``'csv'`` or ``'parquet'``)."""
    listed = [source] if isinstance(source, str | Path) else list(source)
    files: list[str] = []
    for path in (str(p) for p in listed):
        matched = sorted(globbing.glob(path)) if globbing.has_magic(path) else ([path] if Path(path).exists() else [])
        if not matched:
            hint = "no file matches this glob" if globbing.has_magic(path) else "no such file"
            raise DataError(f"{what}: {path}: {hint}. Check the path.")
        files.extend(matched)
    suffixes = sorted({Path(f).suffix.lower() for f in files})
    kinds = {_READERS.get(s, "") for s in suffixes}
    if "" in kinds or len(kinds) != 1:
        raise DataError(f"{what}: cannot read {suffixes} files together; give CSV (.csv, .tsv) or Parquet "
                        "(.parquet) files, all of one format.")
    return files, kinds.pop()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
