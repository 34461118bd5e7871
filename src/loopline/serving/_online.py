"""Online features: the latest value per entity from the spec's feature tables, for requests that carry ids only.

:func:`materialize` reduces each of the spec's ``feature_tables`` to one row per key as of a moment
(now by default) with the training join itself (:func:`loopline.data.asof_join`: an event at that
moment for every key), so the tie-break rule and ``max_age`` are those of training. Columns are named
as training names them (``<table>__<column>`` when a column of the table clashes with the data's
or an earlier table's). It writes

- ``<workspace>/online/<spec name>/``: one Parquet file per table and ``manifest.json`` (``as_of``,
  tables, keys, columns and their kinds, row counts, sha256s), each written atomically, the manifest
  last (a reader sees the old snapshot or the new one; the files of the previous snapshot are kept for
  readers that were loading it); or, with ``store="redis"``,
- Redis (``pip install 'loopline[redis]'``, address in ``LOOPLINE_REDIS_URL``): one hash per key,
  written in pipelined transactions, keys that left the table deleted, the manifest last.

:class:`Snapshot` (loaded into a dict key -> row and one numpy array per column) and ``RedisStore``
(:mod:`loopline.serving._online_redis`) answer the same :meth:`~Snapshot.lookup`: for a batch of key
values, each column as an array, missing (NaN, None or NaT) for a key with no value, exactly as the training join
gives nulls. ``lookup(..., at=t)`` applies each table's ``max_age`` again at ``t`` (the server passes
the request's time), so a value too old for training is missing online too.

Column kinds: ``number`` (float64, NaN), ``boolean`` and ``text`` (object arrays, None), ``time``
(datetime64[ns] in UTC, NaT). Keys are integers, floats, text or times; a request's key is read in
the table's kind (``"12"`` for an integer key is 12, 12 for a text key is ``"12"``).

>>> t = FeatureColumns(name="usage", keys=("user",), key_kinds=("integer",), columns=("spend",),
...                    kinds={"spend": "number"}, max_age=None)
>>> snap = Snapshot.from_arrays("shop", pd.Timestamp("2024-03-01", tz="UTC"), {t: (
...     [(7,), (9,)], np.array([0, 0]), {"spend": np.array([5.0, 6.5])})})
>>> snap.lookup({"user": [9, "7", 8, None]})["spend"].tolist()
[6.5, 5.0, nan, nan]
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopline._atomic import write_bytes, write_text
from loopline._errors import DataError, InputError, IntegrityError, ServingError
from loopline.data import asof_join, load, load_table
from loopline.data._columns import to_utc
from loopline.data._load import _relation
from loopline.spec import FeatureTableSpec, ProblemSpec
from loopline.workspace import Workspace

ONLINE_DIR = "online"
MANIFEST = "manifest.json"
FORMAT = 1
Row = dict[str, Any]
Store = Literal["snapshot", "redis"]
TIME_FIELD = ":time"  # the column (Parquet) or hash field (Redis) holding the feature time, ns since the epoch
NULL: dict[str, Any] = {"number": np.nan, "boolean": None, "text": None, "time": np.datetime64("NaT", "ns")}


@dataclass(frozen=True, eq=False)
class FeatureColumns:
    """What one feature table contributes online: its key(s), its columns (named as in training), their kinds."""

    name: str
    keys: tuple[str, ...]
    key_kinds: tuple[str, ...]
    columns: tuple[str, ...]
    kinds: Mapping[str, str]
    max_age: timedelta | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "keys": list(self.keys), "key_kinds": list(self.key_kinds),
                "columns": [{"name": c, "kind": self.kinds[c]} for c in self.columns],
                "max_age_s": None if self.max_age is None else self.max_age.total_seconds()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureColumns:
        age = data.get("max_age_s")
        return cls(name=str(data["name"]), keys=tuple(data["keys"]), key_kinds=tuple(data["key_kinds"]),
                   columns=tuple(c["name"] for c in data["columns"]),
                   kinds={c["name"]: c["kind"] for c in data["columns"]},
                   max_age=None if age is None else timedelta(seconds=float(age)))


class OnlineStore(Protocol):
    """What the server needs of an online store: :class:`Snapshot`, ``serving._online_redis.RedisStore``."""

    @property
    def tables(self) -> tuple[FeatureColumns, ...]: ...

    def lookup(self, keys: Mapping[str, Any], *, at: datetime | None = None,
               tables: Sequence[str] | None = None) -> dict[str, np.ndarray]: ...


# -- the embedded snapshot ----------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Arrays:
    index: dict[Any, int]      # normalised key (a tuple for composite keys) -> row
    times: np.ndarray          # int64 ns: when each row's value became known
    values: dict[str, np.ndarray]


class Snapshot:
    """The latest feature values per key, in memory: a dict key -> row index and one array per column."""

    def __init__(self, spec: str, as_of: datetime, data: Mapping[FeatureColumns, _Arrays], *,
                 path: Path | None = None, manifest: Mapping[str, Any] | None = None) -> None:
        self.spec = spec
        self.as_of = as_of
        self.path = path
        self.manifest = dict(manifest or {})
        self._data = dict(data)
        self.tables: tuple[FeatureColumns, ...] = tuple(data)

    def __repr__(self) -> str:
        rows = {t.name: len(a.times) for t, a in self._data.items()}
        return f"Snapshot({self.spec!r}, as_of={self.as_of.isoformat()}, rows={rows})"

    @classmethod
    def from_arrays(cls, spec: str, as_of: datetime, tables: Mapping[FeatureColumns, tuple[
            Sequence[tuple[Any, ...]], np.ndarray, Mapping[str, np.ndarray]]]) -> Snapshot:
        """A snapshot from, per table, its rows' key tuples, feature times (ns) and column arrays."""
        data = {}
        for table, (keys, times, values) in tables.items():
            normal = [_normal_key(table, k) for k in keys]
            data[table] = _Arrays(index={k: i for i, k in enumerate(normal)}, times=np.asarray(times, np.int64),
                                  values={c: as_array(table.kinds[c], values[c]) for c in table.columns})
        return cls(spec, as_of, data)

    @classmethod
    def load(cls, workspace: Workspace, spec: str) -> Snapshot:
        """The snapshot :func:`materialize` last wrote for ``spec``, every file checked against its sha256."""
        folder = snapshot_dir(workspace, spec)
        manifest = _read_manifest(folder)
        if manifest is None:
            raise ServingError(f"no online feature snapshot for '{spec}': {folder / MANIFEST} does not exist. "
                               f"Write one with 'loopline materialize --spec loopline.yaml -w {workspace.root}'.")
        data: dict[FeatureColumns, _Arrays] = {}
        for entry in manifest["tables"]:
            table = FeatureColumns.from_json(entry)
            data[table] = _read_table(folder, entry, table)
        return cls(spec, datetime.fromisoformat(manifest["as_of"]), data, path=folder, manifest=manifest)

    @staticmethod
    def exists(workspace: Workspace, spec: str) -> bool:
        return (snapshot_dir(workspace, spec) / MANIFEST).is_file()

    def arrays(self, table: str) -> tuple[dict[Any, int], np.ndarray, dict[str, np.ndarray]]:
        """The index, feature times and column arrays of ``table`` (to index them directly)."""
        for t, a in self._data.items():
            if t.name == table:
                return a.index, a.times, a.values
        raise ServingError(f"the online snapshot of '{self.spec}' has no table '{table}'; it has "
                           f"{[t.name for t in self.tables]}.")

    def lookup(self, keys: Mapping[str, Any], *, at: datetime | None = None,
               tables: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """The columns of each table whose key column(s) are all in ``keys`` (of those named in ``tables``, when
        given), one value per given key: missing for an unknown key, a missing key value, or (with ``at``) a
        value older than the table's ``max_age`` at ``at``."""
        out: dict[str, np.ndarray] = {}
        for table, arrays in self._data.items():
            given = keys_for(table, keys, tables)
            if given is None:
                continue
            index = arrays.index
            positions = np.fromiter((-1 if k is None else index.get(k, -1) for k in given), np.int64, len(given))
            positions = fresh(table, positions, arrays.times, at)
            for column in table.columns:
                out[column] = take(arrays.values[column], table.kinds[column], positions)
        return out


def snapshot_dir(workspace: Workspace, spec: str) -> Path:
    return workspace.root / ONLINE_DIR / spec


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ServingError(f"{path} cannot be read ({exc}); write the snapshot again with 'loopline "
                           "materialize'.") from exc
    if manifest.get("format") != FORMAT:
        raise ServingError(f"{path} has format {manifest.get('format')!r}, this loopline reads format {FORMAT}; "
                           "write the snapshot again with 'loopline materialize'.")
    return manifest


def _read_table(folder: Path, entry: Mapping[str, Any], table: FeatureColumns) -> _Arrays:
    name = str(entry["file"])
    path = (folder / name).resolve()
    if Path(name).name != name or path.parent != folder.resolve():
        raise ServingError(f"{folder / MANIFEST} names the file {name!r} outside its folder; refusing to read it. "
                           "Write the snapshot again with 'loopline materialize'.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ServingError(f"online snapshot file {path} cannot be read ({exc.strerror}); write the snapshot "
                           "again with 'loopline materialize'.") from exc
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise IntegrityError(f"online snapshot file {path} does not match the sha256 in {folder / MANIFEST}: it "
                             "changed after it was written. Write the snapshot again with 'loopline materialize'.")
    frame = pq.read_table(io.BytesIO(data))
    keys = zip(*(frame.column(f"key{i}").to_pylist() for i in range(len(table.keys))), strict=True)
    times = frame.column(TIME_FIELD).to_numpy()
    values = {c: _from_arrow(table.kinds[c], frame.column(c)) for c in table.columns}
    normal = [_normal_key(table, k) for k in keys]
    return _Arrays(index={k: i for i, k in enumerate(normal)}, times=np.asarray(times, np.int64), values=values)


# -- materialising --------------------------------------------------------------------------------

def materialize(spec: ProblemSpec, workspace: Workspace, *, as_of: datetime | str | None = None,
                store: Store = "snapshot", redis_url: str | None = None, prefix: str = "loopline") -> Snapshot:
    """The latest row per key of each of the spec's feature tables as of ``as_of`` (default now), written to
    ``<workspace>/online/<spec name>/`` (``store="snapshot"``) or to Redis (``store="redis"``; ``redis_url``
    defaults to ``LOOPLINE_REDIS_URL``, keys start with ``prefix``). Returns the snapshot, loaded."""
    if store not in ("snapshot", "redis"):
        raise ServingError(f"materialize: store must be 'snapshot' or 'redis', got {store!r}.")
    if not spec.feature_tables:
        raise ServingError(f"{spec.source_name} declares no feature_tables: there is nothing to serve online. "
                           "Requests must carry every feature inline.")
    if store == "redis":
        from loopline.serving._online_redis import redis_module, write_redis

        redis_module()  # a missing extra fails before any work
    moment = _as_of(as_of)
    con = duckdb.connect()
    try:
        taken = _data_columns(spec, con)
        built: dict[FeatureColumns, tuple[pa.Table, _Arrays]] = {}
        for table_spec in spec.feature_tables:
            frame = load_table(spec.resolve(table_spec.source), what=f"feature_tables.{table_spec.name}",
                               connection=con)
            table, arrow, arrays = _latest(table_spec, frame, moment, taken, con)
            taken |= set(table.columns)
            built[table] = (arrow, arrays)
    finally:
        con.close()
    manifest: dict[str, Any] = {"format": FORMAT, "spec": spec.name, "spec_hash": spec.spec_hash(),
                                "as_of": moment.isoformat(), "created": datetime.now(UTC).isoformat(), "tables": []}
    files: dict[str, bytes] = {}
    for table, (arrow, _) in built.items():
        sink = io.BytesIO()
        pq.write_table(arrow, sink)
        data = sink.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        name = f"{table.name}-{digest[:16]}.parquet"
        files[name] = data
        manifest["tables"].append({**table.to_json(), "source": next(t.source for t in spec.feature_tables
                                                                     if t.name == table.name),
                                   "file": name, "rows": arrow.num_rows, "sha256": digest})
    snapshot = Snapshot(spec.name, moment, {t: a for t, (_, a) in built.items()}, manifest=manifest)
    if store == "redis":
        for entry in manifest["tables"]:
            del entry["file"], entry["sha256"]
        write_redis(snapshot, redis_url, prefix)
        return snapshot
    folder = snapshot_dir(workspace, spec.name)
    try:
        previous = _read_manifest(folder)
    except ServingError:  # an unreadable old manifest is replaced; its files are pruned below
        previous = None
    for name, data in files.items():
        if not (folder / name).is_file():  # the name holds the content's hash: an existing file is this one
            write_bytes(folder / name, data)
    write_text(folder / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    keep = set(files) | {str(t["file"]) for t in (previous or {}).get("tables", [])}
    for old in folder.glob("*.parquet"):
        if old.name not in keep:
            old.unlink(missing_ok=True)
    return Snapshot(spec.name, moment, snapshot._data, path=folder, manifest=manifest)


def _as_of(value: datetime | str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ServingError(f"materialize: as_of must be a time such as '2024-03-01T00:00:00Z', got {value!r}.") \
            from exc
    if pd.isna(stamp):
        raise ServingError(f"materialize: as_of must be a time such as '2024-03-01T00:00:00Z', got {value!r}.")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    moment: datetime = stamp.to_pydatetime()
    return moment


def _data_columns(spec: ProblemSpec, con: duckdb.DuckDBPyConnection) -> set[str]:
    """The columns the training table has before the feature tables are joined (they decide the prefixes)."""
    if spec.data.source is not None:
        sources = [spec.data.source] if isinstance(spec.data.source, str) else list(spec.data.source)
        columns = set(_relation(con, [spec.resolve(s) for s in sources], what="data.source").columns)
    else:
        columns = {str(c) for c in load(spec, connection=con).columns}
    if spec.label.from_events is not None:
        columns.add(spec.label.name)
    return columns


def _latest(spec: FeatureTableSpec, frame: pd.DataFrame, moment: datetime, taken: set[str],
            con: duckdb.DuckDBPyConnection) -> tuple[FeatureColumns, pa.Table, _Arrays]:
    """One table's latest row per key at ``moment``, chosen by the training join (an event per key at ``moment``)."""
    where = f"feature table '{spec.name}' ({spec.source})"
    wanted = spec.columns if spec.columns is not None else [
        str(c) for c in frame.columns if c not in {*spec.keys, spec.time, spec.tie_break}]
    prefix = f"{spec.name}__" if any(c in taken for c in wanted) else ""
    row, at = "__loopline_row", "__loopline_as_of"
    events = frame[spec.keys].dropna().drop_duplicates().reset_index(drop=True)
    events[at] = pd.Timestamp(moment)
    positions = asof_join(events, frame.assign(**{row: np.arange(len(frame))}), keys=spec.keys, event_time=at,
                          feature_time=spec.time, max_age=spec.max_age, columns=[row], tie_break=spec.tie_break,
                          connection=con, where=where)[row]
    chosen = positions[positions.notna()].to_numpy(dtype=np.int64)
    latest = frame.iloc[chosen].reset_index(drop=True)
    key_kinds = tuple(_key_kind(latest[k], k, where) for k in spec.keys)
    times = to_utc(latest[spec.time], column=spec.time, where=where).dt.tz_localize(None)
    time_ns = np.asarray(times).astype("datetime64[ns]").view(np.int64)
    kinds, values = {}, {}
    for column in wanted:
        name = f"{prefix}{column}"
        kinds[name], values[name] = _column(latest[column], column, where)
    if TIME_FIELD in kinds:
        raise DataError(f"{where}: a column named '{TIME_FIELD}' is reserved for the feature time online; rename it.")
    table = FeatureColumns(name=spec.name, keys=tuple(spec.keys), key_kinds=key_kinds, columns=tuple(kinds),
                           kinds=kinds, max_age=spec.max_age)
    key_tuples = list(zip(*(latest[k].tolist() for k in spec.keys), strict=True))
    normal = [_normal_key(table, k) for k in key_tuples]
    arrays = _Arrays(index={k: i for i, k in enumerate(normal)}, times=time_ns, values=values)
    arrow = pa.table({**{f"key{i}": _key_arrow(kind, [k[i] if isinstance(k, tuple) else k for k in normal])
                         for i, kind in enumerate(key_kinds)},
                      TIME_FIELD: pa.array(time_ns, pa.int64()),
                      **{c: _to_arrow(kinds[c], values[c]) for c in kinds}})
    return table, arrow, arrays


# -- kinds, keys and arrays -------------------------------------------------------------------------

def _key_kind(values: pd.Series, column: str, where: str) -> str:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        pass
    elif pd.api.types.is_integer_dtype(dtype):
        return "integer"
    elif pd.api.types.is_float_dtype(dtype):
        return "float"
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        return "time"
    elif all(isinstance(v, str) for v in values):
        return "text"
    raise DataError(f"{where}: key column '{column}' holds {dtype} values; online keys must be integers, numbers, "
                    f"text or times. Cast it in the source, e.g. CAST({column} AS VARCHAR).")


def _normal_key(table: FeatureColumns, key: Sequence[Any]) -> Any:
    """A key as the index holds it (a scalar, or a tuple for composite keys); None when a part is missing."""
    parts = []
    for name, kind, value in zip(table.keys, table.key_kinds, key, strict=True):
        part = _key_part(kind, value, name)
        if part is None:
            return None
        parts.append(part)
    return parts[0] if len(parts) == 1 else tuple(parts)


def _key_part(kind: str, value: Any, name: str) -> Any:
    if value is None or value is pd.NaT or (isinstance(value, float | np.floating) and np.isnan(value)):
        return None
    try:
        if kind == "text":
            if isinstance(value, str):
                return value
            if isinstance(value, int | np.integer) and not isinstance(value, bool):
                return str(value)
        elif kind == "integer" and not isinstance(value, bool | np.bool_):
            number = float(value) if isinstance(value, str) and "." in value else value
            if isinstance(number, float | np.floating):
                return int(number) if float(number).is_integer() else None
            return int(number)
        elif kind == "float" and not isinstance(value, bool | np.bool_):
            return float(value)
        elif kind == "time":
            stamp = pd.Timestamp(value)
            stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
            return int(stamp.as_unit("ns").value)
    except (ValueError, TypeError, OverflowError):
        pass
    expected = {"text": "a string", "integer": "an integer", "float": "a number", "time": "an ISO 8601 time"}[kind]
    raise InputError(f"key '{name}' of the online features is {kind} but the request gives {value!r} "
                     f"({type(value).__name__}); send {expected}.", field=name)


def keys_for(table: FeatureColumns, keys: Mapping[str, Any], tables: Sequence[str] | None) -> list[Any] | None:
    """The normalised keys for ``table`` from the columns in ``keys``, or None when the table does not apply."""
    if (tables is not None and table.name not in tables) or any(k not in keys for k in table.keys):
        return None
    columns = [list(keys[k]) for k in table.keys]
    if len(columns) == 1:  # the common case, fast: values already of the key's type pass as they are
        name, kind = table.keys[0], table.key_kinds[0]
        plain = {"text": str, "integer": int, "float": float}.get(kind)
        return [v if type(v) is plain else _key_part(kind, v, name) for v in columns[0]]
    if len({len(c) for c in columns}) > 1:
        raise InputError(f"the key columns {list(table.keys)} have different lengths; give one value per row.",
                         field=table.keys[0])
    return [_normal_key(table, parts) for parts in zip(*columns, strict=True)]


def fresh(table: FeatureColumns, positions: np.ndarray, times: np.ndarray, at: datetime | None) -> np.ndarray:
    """``positions`` with rows older than the table's ``max_age`` at ``at`` turned to -1 (missing)."""
    if at is None or table.max_age is None or not len(times):
        return positions
    now = pd.Timestamp(at)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    limit = int(pd.Timedelta(table.max_age).value)
    found = positions >= 0
    stale = found & (int(now.as_unit("ns").value) - times[np.where(found, positions, 0)] > limit)
    return np.where(stale, -1, positions)


def take(values: np.ndarray, kind: str, positions: np.ndarray) -> np.ndarray:
    found = positions >= 0
    if not len(values):
        return np.full(len(positions), NULL[kind], dtype=values.dtype)
    out = values[np.where(found, positions, 0)]
    if not found.all():
        out[~found] = NULL[kind]
    return out


def _column(values: pd.Series, column: str, where: str) -> tuple[str, np.ndarray]:
    """A feature column's kind and its array in that kind's form."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean", as_array("boolean", values.tolist())
    if pd.api.types.is_numeric_dtype(dtype):
        return "number", values.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        utc = values.dt.tz_localize("UTC") if getattr(dtype, "tz", None) is None else values.dt.tz_convert("UTC")
        return "time", np.asarray(utc.dt.tz_localize(None)).astype("datetime64[ns]")
    present = [v for v in values.tolist() if v is not None and not (isinstance(v, float) and np.isnan(v))]
    if all(isinstance(v, bool) for v in present) and present:
        return "boolean", as_array("boolean", values.tolist())
    if all(isinstance(v, str) for v in present):
        return "text", as_array("text", values.tolist())
    if all(isinstance(v, int | float) or type(v).__name__ == "Decimal" for v in present):
        return "number", np.asarray([np.nan if v is None else float(v) for v in values.tolist()], np.float64)
    raise DataError(f"{where}: column '{column}' holds {dtype} values that are not numbers, booleans, text or "
                    "times; cast it in the source or leave it out of feature_tables.<name>.columns.")


def as_array(kind: str, values: Any) -> np.ndarray:
    if kind == "number":
        return np.asarray(values, dtype=np.float64)
    if kind == "time":
        return np.asarray(values, dtype="datetime64[ns]")
    out = np.empty(len(values), dtype=object)
    out[:] = [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values]
    return out


def _to_arrow(kind: str, values: np.ndarray) -> pa.Array:
    if kind == "number":
        return pa.array(values, pa.float64())
    if kind == "time":
        return pa.array(values.astype(np.int64), pa.int64(), mask=np.isnat(values)).cast(pa.timestamp("ns", "UTC"))
    return pa.array(values.tolist(), pa.bool_() if kind == "boolean" else pa.string())


def _from_arrow(kind: str, values: pa.ChunkedArray) -> np.ndarray:
    if kind == "number":
        return np.asarray(values.to_numpy(), dtype=np.float64)
    if kind == "time":
        ns = values.cast(pa.int64()).fill_null(np.iinfo(np.int64).min).to_numpy()
        return np.asarray(ns, dtype=np.int64).view("datetime64[ns]")
    return as_array(kind, values.to_pylist())


def _key_arrow(kind: str, values: list[Any]) -> pa.Array:
    typ = {"integer": pa.int64(), "float": pa.float64(), "time": pa.int64(), "text": pa.string()}[kind]
    return pa.array(values, typ)
