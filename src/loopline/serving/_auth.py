"""API keys for the server: ``loopline-<random>`` bearer tokens, stored hashed, each with scopes.

A key is shown once, when it is created; the workspace keeps only its sha256, in
``<workspace>/serving/api_keys.json`` (written atomically), so reading that file does not reveal a
usable token. Scopes:

- ``predict``: ``/v1/predict``, ``/v1/rank``, ``/v1/feedback``, ``/v1/explain`` and ``/v1/models``;
- ``admin``: operating the server (``/v1/metrics``, and deploy, kill, promote and rollback). An admin
  key may also do everything a ``predict`` key may.

A request without a key, or with an unknown or revoked one, is refused with 401; a known key without
the scope the endpoint needs, with 403. Tokens are compared as hashes with :func:`hmac.compare_digest`.
Revoking a key takes effect in a running server at its next request (the file is re-read when it changes).

>>> import tempfile
>>> keys = ApiKeys(Path(tempfile.mkdtemp()) / "api_keys.json")
>>> key, token = keys.create("ci", scopes=["predict"])
>>> token.reveal().startswith("loopline-"), keys.verify(token.reveal(), scope="predict").name
(True, 'ci')
>>> keys.verify(token.reveal(), scope="admin")
Traceback (most recent call last):
...
loopline.serving._auth.AuthError: API key 'ci' lacks the 'admin' scope this endpoint needs (it has: predict). \
Use a key created with --scope admin.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from loopline import _atomic
from loopline._errors import ServingError
from loopline._names import check_name
from loopline.workspace import Secret, Workspace

Scope = Literal["predict", "admin"]
SCOPES: tuple[Scope, ...] = ("predict", "admin")
TOKEN_PREFIX = "loopline-"
_FORMAT = 1


class AuthError(ServingError):
    """A request's API key is missing or unknown (``status`` 401) or lacks the needed scope (403)."""

    def __init__(self, message: str, *, status: Literal[401, 403]) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ApiKey:
    """One stored key: never the token itself, only its sha256."""

    key_id: str
    name: str
    scopes: tuple[Scope, ...]
    sha256: str
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def keys_path(workspace: Workspace) -> Path:
    """Where a workspace keeps its API keys."""
    return workspace.root / "serving" / "api_keys.json"


class ApiKeys:
    """The API keys in one JSON file: create, list, revoke, and verify a presented token."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._cached: builtins.list[ApiKey] = []

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> ApiKeys:
        return cls(keys_path(workspace))

    def create(self, name: str, *, scopes: Iterable[str] = ("predict",)) -> tuple[ApiKey, Secret]:
        """Store a new key named ``name``; return it and its token (shown this once, never stored)."""
        check_name(name, what="API key", error=ServingError, example="ci-bot")
        chosen = _scopes(scopes)
        keys = self._read()
        if any(k.name == name and k.revoked_at is None for k in keys):
            raise ServingError(
                f"an API key named {name!r} already exists in {self.path}. Revoke it first "
                f"('loopline keys revoke {name}') or choose another name."
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(key_id=secrets.token_hex(6), name=name, scopes=chosen, sha256=_digest(token),
                     created_at=datetime.now(UTC))
        self._write([*keys, key])
        return key, Secret(token)

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        """The stored keys, oldest first."""
        return [k for k in self._read() if include_revoked or k.revoked_at is None]

    def revoke(self, name_or_id: str) -> ApiKey:
        """Revoke the active key with this name or id; it stays listed (with ``revoked_at``) for the record."""
        keys = self._read()
        for i, key in enumerate(keys):
            if key.revoked_at is None and name_or_id in (key.name, key.key_id):
                revoked = ApiKey(key.key_id, key.name, key.scopes, key.sha256, key.created_at, datetime.now(UTC))
                keys[i] = revoked
                self._write(keys)
                return revoked
        active = ", ".join(k.name for k in keys if k.revoked_at is None) or "none"
        raise ServingError(f"no active API key named {name_or_id!r} in {self.path} (active keys: {active}).")

    def verify(self, token: str | None, *, scope: Scope) -> ApiKey:
        """The key ``token`` belongs to, if it may use ``scope``; else :class:`AuthError` (401 or 403)."""
        if not token:
            raise AuthError("this endpoint needs an API key: send the header 'Authorization: Bearer loopline-...'. "
                            "Create a key with 'loopline keys create NAME'.", status=401)
        digest = _digest(token)
        found: ApiKey | None = None
        for key in self._active():
            if hmac.compare_digest(digest, key.sha256):  # every key is compared: no early exit on a match
                found = key
        if found is None:
            raise AuthError("the API key sent is not valid (unknown or revoked). Send a key from "
                            "'loopline keys create NAME'.", status=401)
        if not found.allows(scope):
            raise AuthError(f"API key {found.name!r} lacks the {scope!r} scope this endpoint needs "
                            f"(it has: {', '.join(found.scopes)}). Use a key created with --scope {scope}.",
                            status=403)
        return found

    def _active(self) -> builtins.list[ApiKey]:
        """The active keys, re-read only when the file changed (one ``stat`` per request otherwise)."""
        try:
            info = os.stat(self.path)
            stamp: tuple[int, int, int] | None = (info.st_ino, info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp or stamp is None:
                self._cached = [k for k in self._read() if k.revoked_at is None]
                self._stamp = stamp
            return self._cached

    def _read(self) -> builtins.list[ApiKey]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        try:
            data = json.loads(text)
            if data.get("format") != _FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            return [_from_json(item) for item in data["keys"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ServingError(
                f"{self.path} is not a loopline API key file ({exc}). Restore it from a backup, or move it away "
                "and create the keys again with 'loopline keys create NAME'."
            ) from None

    def _write(self, keys: builtins.list[ApiKey]) -> None:
        data = {"format": _FORMAT, "keys": [_to_json(k) for k in keys]}
        _atomic.write_text(self.path, json.dumps(data, indent=2) + "\n")
        os.chmod(self.path, 0o600)  # hashes only, but nobody else needs to read them


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _scopes(scopes: Iterable[str]) -> tuple[Scope, ...]:
    chosen = tuple(dict.fromkeys(scopes))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown or not chosen:
        raise ServingError(f"API key scopes: expected one or more of {', '.join(SCOPES)}, got "
                           f"{', '.join(map(repr, chosen)) or 'none'}.")
    return tuple(s for s in SCOPES if s in chosen)


def _to_json(key: ApiKey) -> dict[str, Any]:
    return {"id": key.key_id, "name": key.name, "scopes": list(key.scopes), "sha256": key.sha256,
            "created_at": key.created_at.isoformat(),
            "revoked_at": None if key.revoked_at is None else key.revoked_at.isoformat()}


def _from_json(item: dict[str, Any]) -> ApiKey:
    revoked = item.get("revoked_at")
    return ApiKey(key_id=str(item["id"]), name=str(item["name"]), scopes=_scopes(item["scopes"]),
                  sha256=str(item["sha256"]), created_at=datetime.fromisoformat(item["created_at"]),
                  revoked_at=None if revoked is None else datetime.fromisoformat(revoked))
