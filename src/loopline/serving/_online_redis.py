"""The Redis online store (``pip install 'loopline[redis]'``): the same lookups as the snapshot, for several replicas.

:func:`write_redis` (called by ``materialize(..., store="redis")``) writes one hash per key,
``<prefix>:<spec>:t:<table>:<key as JSON>``, whose fields are the table's columns (a missing value is an
absent field) and ``:time`` (when the value became known, ns since the epoch), in pipelined
transactions of 500 keys, each key's hash replaced whole; the keys that left the table are deleted (a set
per table remembers them) and the manifest (``<prefix>:<spec>:manifest``) is written last.
:class:`RedisStore` reads the manifest once and answers :meth:`~RedisStore.lookup` in one pipelined round
trip, each value typed back by its column's kind. The address is ``LOOPLINE_REDIS_URL``, read only by
:func:`redis_url`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from loopline._errors import MissingExtraError, ServingError
from loopline.serving._online import NULL, TIME_FIELD, FeatureColumns, Snapshot, as_array, fresh, keys_for, take

ENV_REDIS_URL = "LOOPLINE_REDIS_URL"
_BATCH = 500


def redis_url(env: Mapping[str, str] | None = None) -> str:
    """The Redis address: ``LOOPLINE_REDIS_URL`` (the one place loopline reads it)."""
    url = (os.environ if env is None else env).get(ENV_REDIS_URL, "")
    if not url:
        raise ServingError(f"{ENV_REDIS_URL} is not set: give the Redis address of the online store, e.g. "
                           "redis://127.0.0.1:6379/0.")
    return url


def redis_module() -> Any:
    """The ``redis`` package, or :class:`~loopline.MissingExtraError` saying how to install it."""
    try:
        import redis
    except ImportError:
        raise MissingExtraError("the Redis online store", "redis", "redis") from None
    return redis


def _masked(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", url)


class RedisStore:
    """Online features in Redis (one hash per key), for several replicas; the same ``lookup`` as :class:`Snapshot`.

    ``url`` defaults to ``LOOPLINE_REDIS_URL``; keys are ``<prefix>:<spec>:t:<table>:<key as JSON>``. The
    tables' layout is read once, here; a materialisation that changes it needs the replicas restarted.
    """

    def __init__(self, spec: str, *, url: str | None = None, prefix: str = "loopline") -> None:
        module = redis_module()
        self.spec, self.prefix = spec, prefix
        self.url = url or redis_url()
        self._client = module.Redis.from_url(self.url)
        self._error: type[Exception] = module.RedisError
        try:
            raw = self._client.get(_manifest_key(prefix, spec))
        except module.RedisError as exc:
            raise ServingError(f"the Redis online store at {_masked(self.url)} cannot be read ({exc}); check "
                               f"{ENV_REDIS_URL} and that the server runs.") from exc
        if raw is None:
            raise ServingError(f"Redis at {_masked(self.url)} holds no online features for '{spec}' (prefix "
                               f"'{prefix}'). Write them with 'loopline materialize --spec loopline.yaml -w WS "
                               "--store redis'.")
        self.manifest: dict[str, Any] = json.loads(raw)
        self.tables: tuple[FeatureColumns, ...] = tuple(FeatureColumns.from_json(t) for t in self.manifest["tables"])
        self.as_of = datetime.fromisoformat(self.manifest["as_of"])

    def __repr__(self) -> str:
        return f"RedisStore({self.spec!r}, url={_masked(self.url)!r}, prefix={self.prefix!r})"

    def close(self) -> None:
        self._client.close()

    def lookup(self, keys: Mapping[str, Any], *, at: datetime | None = None,
               tables: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """As :meth:`Snapshot.lookup`: one pipelined round trip, each distinct key read once."""
        wanted = [(t, g) for t in self.tables if (g := keys_for(t, keys, tables)) is not None]
        pipe = self._client.pipeline(transaction=False)
        plans = []
        for table, given in wanted:
            distinct = list(dict.fromkeys(k for k in given if k is not None))
            fields = [*table.columns, TIME_FIELD]
            for key in distinct:
                pipe.hmget(_hash_key(self.prefix, self.spec, table.name, key), fields)
            plans.append((table, given, distinct))
        try:
            answers = iter(pipe.execute()) if plans else iter(())
        except self._error as exc:  # answered 503 by the server, with this text
            raise ServingError(f"the Redis online store at {_masked(self.url)} did not answer ({exc}); the "
                               "request's features could not be read. Retry, or send the features inline.") from exc
        out: dict[str, np.ndarray] = {}
        for table, given, distinct in plans:
            rows: dict[Any, int] = {}
            present: list[list[bytes | None]] = []
            for key in distinct:
                answer = next(answers)
                if answer[-1] is not None:  # every stored key has its feature time
                    rows[key] = len(present)
                    present.append(answer)
            positions = np.fromiter((-1 if k is None else rows.get(k, -1) for k in given), np.int64, len(given))
            times = np.asarray([int(a[-1] or b"0") for a in present], dtype=np.int64)
            positions = fresh(table, positions, times, at)
            for j, column in enumerate(table.columns):
                kind = table.kinds[column]
                decoded = as_array(kind, [_decode(kind, a[j]) for a in present])
                out[column] = take(decoded, kind, positions)
        return out


def _manifest_key(prefix: str, spec: str) -> str:
    return f"{prefix}:{spec}:manifest"


def _members_key(prefix: str, spec: str, table: str) -> str:
    return f"{prefix}:{spec}:keys:{table}"


def _hash_key(prefix: str, spec: str, table: str, key: Any) -> str:
    return f"{prefix}:{spec}:t:{table}:{_key_text(key)}"


def _key_text(key: Any) -> str:
    return json.dumps(list(key) if isinstance(key, tuple) else [key], separators=(",", ":"))


def _encode(kind: str, value: Any) -> str | None:
    if value is None or (kind == "number" and np.isnan(value)) or (kind == "time" and np.isnat(value)):
        return None
    if kind == "number":
        return repr(float(value))
    if kind == "boolean":
        return "1" if value else "0"
    if kind == "time":
        return str(int(np.datetime64(value, "ns").astype(np.int64)))
    return str(value)


def _decode(kind: str, raw: bytes | None) -> Any:
    if raw is None:
        return NULL[kind]
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        return raw == b"1"
    if kind == "time":
        return np.datetime64(int(raw), "ns")
    return raw.decode("utf-8")


def write_redis(snapshot: Snapshot, url: str | None, prefix: str) -> None:
    """Replace what Redis holds for ``snapshot.spec`` under ``prefix`` with ``snapshot`` (see the module docstring)."""
    module = redis_module()
    client = module.Redis.from_url(url or redis_url())
    spec = snapshot.spec
    try:
        for table in snapshot.tables:
            index, times, values = snapshot.arrays(table.name)
            members = _members_key(prefix, spec, table.name)
            staged = members + ":new"
            client.delete(staged)
            keys = list(index)
            for start in range(0, len(keys), _BATCH):
                pipe = client.pipeline(transaction=True)  # each key's hash is replaced whole: no mix of old and new
                for key in keys[start:start + _BATCH]:
                    row = index[key]
                    mapping = {c: v for c in table.columns
                               if (v := _encode(table.kinds[c], values[c][row])) is not None}
                    name = _hash_key(prefix, spec, table.name, key)
                    pipe.delete(name)
                    pipe.hset(name, mapping={**mapping, TIME_FIELD: str(int(times[row]))})
                    pipe.sadd(staged, _key_text(key))
                pipe.execute()
            gone = [m.decode("utf-8") for m in client.sdiff(members, staged)]
            base = f"{prefix}:{spec}:t:{table.name}:"
            for start in range(0, len(gone), _BATCH):
                client.delete(*(base + g for g in gone[start:start + _BATCH]))
            if keys:
                client.rename(staged, members)
            else:
                client.delete(members)
        client.set(_manifest_key(prefix, spec), json.dumps(snapshot.manifest))
    except module.RedisError as exc:
        raise ServingError(f"writing online features to Redis at {_masked(url or redis_url())} failed ({exc}); "
                           f"check {ENV_REDIS_URL} and run 'loopline materialize --store redis' again.") from exc
    finally:
        client.close()
