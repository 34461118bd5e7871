"""``DeploymentSpec``: which versions of a model serve which units, and the safety nets around them.

A deployment YAML names the model, its arms (the first is control) with the version or alias each
serves and its share of units, the experiment whose name salts the assignment, versions scored in
the shadow, a canary with the limits that roll it back, a permanent holdout served the baseline
order, an exploration share whose rankings are shown in a random order, and whether a ranker's first two
arms are interleaved::

    name: feed
    model: ranker
    experiment: ranker-ab
    arms:
      control:   {version: champion, weight: 0.5}
      treatment: {version: challenger, weight: 0.5}
    shadows: [3]
    canary: {version: 4, share: 0.05, max_error_rate: 0.02, max_p99_ms: 50, window_s: 60, min_requests: 200}
    holdout: 0.02
    explore: 0.01

Units are carved in this order, each split with its own salt (so changing one never reshuffles
another's units): the holdout takes ``holdout`` of all units (salt ``holdout:<name>``); exploration takes
``explore`` of the rest (salt ``explore:<name>``): the control arm's model scores their candidates, but
``/v1/rank`` shows them in an order drawn at random per request (seeded by its id), logged with
``explore=true``, so the log holds clicks by position free of the model's choices (what position-bias
estimates need) at the price of a worse feed for those units; the canary
takes ``canary.share`` of the rest (salt ``canary:<name>``); the experiment's arms share what is left
by weight (salt: the experiment's name). Errors name the file and the key and say how to fix it.

>>> spec = DeploymentSpec.from_dict({"name": "feed", "model": "ranker"})
>>> list(spec.arms), spec.arms["champion"].version, spec.experiment
(['champion'], 'champion', None)
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loopline._errors import ServingError
from loopline._names import check_name
from loopline.events import N_BUCKETS
from loopline.registry import Deployment, Registry
from loopline.spec import describe_validation, read_yaml

VersionRef = int | str
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,99}")
_NUMBER = re.compile(r"[vV]?(\d+)")
HOLDOUT_ARM = "holdout"
EXPLORE_ARM = "explore"
CANARY_ARM = "canary"
DEFAULT_ARM = "champion"
MIN_SHARE = 1 / N_BUCKETS
"""The smallest share of units a split can give: assignment hashes units into 10,000 buckets."""


def _version_ref(value: Any) -> VersionRef:
    """A version number (``3``, ``"3"``, ``"v3"`` -> 3) or an alias such as ``champion``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected a version number like 3 or an alias like 'champion', got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"version numbers start at 1, got {value}")
        return value
    match = _NUMBER.fullmatch(value.strip())
    if match:
        return _version_ref(int(match.group(1)))
    if not _ALIAS.fullmatch(value):
        raise ValueError(f"expected a version number like 3 or an alias like 'champion' (letters, digits, '_', "
                         f"'.', '-'), got {value!r}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArmSpec(_Strict):
    """An arm: the version (or alias) it serves and its share of the experiment's units."""

    version: VersionRef
    weight: float = Field(ge=MIN_SHARE, le=1, allow_inf_nan=False)

    @field_validator("version", mode="before")
    @classmethod
    def _ref(cls, version: Any) -> VersionRef:
        return _version_ref(version)


class CanarySpec(_Strict):
    """A new version on a share of units, rolled back when over ``window_s`` seconds (once it has seen
    ``min_requests`` requests) its error rate passes ``max_error_rate`` or its p99 latency ``max_p99_ms``."""

    version: VersionRef
    share: float = Field(ge=MIN_SHARE, lt=1, allow_inf_nan=False)
    max_error_rate: float = Field(default=0.01, ge=0, lt=1, allow_inf_nan=False)
    max_p99_ms: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    window_s: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    min_requests: int = Field(default=100, ge=1)

    @field_validator("version", mode="before")
    @classmethod
    def _ref(cls, version: Any) -> VersionRef:
        return _version_ref(version)


class DeploymentSpec(_Strict):
    """A deployment (see the module docstring); ``arms`` in order, control first."""

    name: str
    model: str
    arms: dict[str, ArmSpec] = Field(default_factory=lambda: {DEFAULT_ARM: ArmSpec(version="champion", weight=1)})
    experiment: str | None = None
    shadows: tuple[VersionRef, ...] = ()
    canary: CanarySpec | None = None
    holdout: float = Field(default=0.0, ge=0, lt=1, allow_inf_nan=False)
    explore: float = Field(default=0.0, ge=0, lt=1, allow_inf_nan=False)
    interleave: bool = False

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        return check_name(name, what="deployment", error=ServingError, example="feed")

    @field_validator("model")
    @classmethod
    def _plain_model(cls, model: str) -> str:
        return check_name(model, what="model", error=ServingError, example="ranker")

    @field_validator("experiment")
    @classmethod
    def _plain_experiment(cls, experiment: str | None) -> str | None:
        return None if experiment is None else check_name(experiment, what="experiment", error=ServingError,
                                                          example="ranker-ab")

    @field_validator("holdout", "explore")
    @classmethod
    def _share(cls, share: float) -> float:
        if 0 < share < MIN_SHARE:
            raise ValueError(f"a share of units is at least {MIN_SHARE} (assignment has {N_BUCKETS} buckets), or 0 "
                             f"for none; got {share}")
        return share

    @field_validator("shadows", mode="before")
    @classmethod
    def _refs(cls, shadows: Any) -> Any:
        if not isinstance(shadows, list | tuple):
            raise ValueError(f"expected a list of versions or aliases, e.g. [3, challenger], got {shadows!r}")
        refs = [_version_ref(s) for s in shadows]
        twice = sorted({str(r) for r in refs if refs.count(r) > 1})
        if twice:
            raise ValueError(f"{twice[0]!r} is listed twice; list each shadow once")
        return refs

    @field_validator("arms")
    @classmethod
    def _arms(cls, arms: dict[str, ArmSpec]) -> dict[str, ArmSpec]:
        if not arms:
            raise ValueError("give at least one arm, e.g. {champion: {version: champion, weight: 1}}")
        for arm in arms:
            check_name(arm, what="arm", error=ServingError, example="treatment")
            if arm in (HOLDOUT_ARM, CANARY_ARM):
                raise ValueError(f"'{arm}' is the name of the deployment's own {arm} route; name the arm otherwise")
        total = math.fsum(a.weight for a in arms.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            weights = ", ".join(f"{arm}: {a.weight:g}" for arm, a in arms.items())
            raise ValueError(f"the weights must sum to 1, got {total:.6g} ({weights}); they are the shares of units "
                             "each arm serves")
        return arms

    @model_validator(mode="after")
    def _consistent(self) -> DeploymentSpec:
        if len(self.arms) > 1 and self.experiment is None:
            raise ValueError("experiment: required when there are several arms; name the experiment (it salts the "
                             "assignment, and 'loopline experiment analyze' finds the arms by it)")
        if len(self.arms) == 1 and self.experiment is not None:
            raise ValueError("experiment: an experiment compares at least two arms; add an arm or remove "
                             "'experiment'")
        if self.interleave and len(self.arms) != 2:
            raise ValueError(f"interleave: team-draft interleaving merges the rankings of two arms, got "
                             f"{len(self.arms)} ({', '.join(self.arms)}); give exactly two arms or set "
                             "interleave: false")
        if self.experiment is not None and self.experiment == self.holdout_experiment:
            raise ValueError(f"experiment: '{self.experiment}' is the name of the deployment's holdout; choose "
                             "another experiment name")
        return self

    @property
    def control(self) -> str:
        """The control arm: the first one."""
        return next(iter(self.arms))

    @property
    def holdout_experiment(self) -> str:
        """The name assignments to the holdout are logged under: ``<name>.holdout``."""
        return f"{self.name}.{HOLDOUT_ARM}"

    @property
    def holdout_salt(self) -> str:
        return f"{HOLDOUT_ARM}:{self.name}"

    @property
    def explore_salt(self) -> str:
        return f"{EXPLORE_ARM}:{self.name}"

    @property
    def canary_salt(self) -> str:
        return f"{CANARY_ARM}:{self.name}"

    @property
    def weights(self) -> dict[str, float]:
        return {arm: a.weight for arm, a in self.arms.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, as the registry stores them (and :meth:`from_dict` reads them back)."""
        return self.model_dump(mode="json")

    @classmethod
    def for_model(cls, model: str) -> DeploymentSpec:
        """The deployment a bare model name stands for: its champion serves every unit."""
        return cls.from_dict({"name": model, "model": model}, source=f"model {model!r}")

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "deployment") -> DeploymentSpec:
        """Validate ``data``; failures raise :class:`~loopline.ServingError` naming ``source`` and the key."""
        if not isinstance(data, dict):
            raise ServingError(f"{source}: expected a mapping of keys (name, model, arms, ...), got "
                               f"{type(data).__name__}.")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ServingError(describe_validation(exc, source=source, root=DeploymentSpec, add_to="")) from None

    @classmethod
    def load(cls, path: str | Path) -> DeploymentSpec:
        """Read a deployment from a YAML file."""
        path = Path(path)
        data = read_yaml(path, error=ServingError, missing="no such deployment file. Check the path, or write one "
                                                           "with at least 'name:' and 'model:'.")
        return cls.from_dict(data, source=str(path))


def deploy(registry: Registry, source: str | Path | DeploymentSpec, *, actor: str = "cli",
           reason: str = "deployed") -> Deployment:
    """Validate a deployment (a YAML path or a spec) and store it as its next revision in ``registry``.

    Serving workers following it pick it up within a second (see ``loopline.serving.Controls``).
    """
    spec = source if isinstance(source, DeploymentSpec) else DeploymentSpec.load(source)
    return registry.deploy(spec.to_dict(), actor=actor, reason=reason)

