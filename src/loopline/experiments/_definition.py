"""``ExperimentSpec``: which arms an A/B test compares, on which metrics, and how its results are read.

Loaded from YAML (:meth:`ExperimentSpec.load`) or a dict (:meth:`ExperimentSpec.from_dict`); unknown
keys, wrong types and inconsistent combinations are refused with an :class:`ExperimentError` naming
the key path and the fix. Arm weights are normalised to shares that sum to 1. The experiment's name
(a folder name in the workspace), its arms and its deployment follow loopline's one name rule
(:mod:`loopline._names`).

>>> spec = ExperimentSpec.from_dict({"name": "exp1", "arms": {"control": 1, "treatment": 1}})
>>> spec.primary, [m.name for m in spec.metrics], spec.shares
('ctr', ['engagement', 'clicks_per_user', 'ctr'], (0.5, 0.5))
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loopline._errors import ExperimentError
from loopline._names import check_name
from loopline.spec import describe_validation, read_yaml

MetricKind = Literal["proportion", "mean", "ratio"]
EXPOSURES = "exposures"
_NAME = r"^[A-Za-z][A-Za-z0-9_.-]*$"

DEFAULT_METRICS: tuple[dict[str, Any], ...] = (
    {"name": "engagement", "kind": "proportion", "event": "click"},
    {"name": "clicks_per_user", "kind": "mean", "event": "click", "value": "count"},
    {"name": "ctr", "kind": "ratio", "event": "click", "denominator": EXPOSURES},
)
DEFAULT_PRIMARY = "ctr"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSpec(_Strict):
    """One metric per randomization unit, built from feedback events matched to the unit's exposures.

    - ``proportion``: the share of units with at least one ``event``;
    - ``mean``: events per unit (``value: count``) or the sum of their ``value`` per unit (``sum``);
    - ``ratio``: ``sum over units of the numerator / sum of the denominator``, the numerator as for a
      mean and the denominator the unit's ``exposures`` or its count of another event.
    """

    name: str = Field(pattern=_NAME)
    kind: MetricKind
    event: str = Field(default="click", min_length=1)
    value: Literal["count", "sum"] = "count"
    denominator: str | None = None
    higher_is_better: bool = True

    @model_validator(mode="before")
    @classmethod
    def _default_denominator(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "ratio" and data.get("denominator") is None:
            return {**data, "denominator": EXPOSURES}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> MetricSpec:
        if self.kind != "ratio" and self.denominator is not None:
            raise ValueError(f"'denominator' applies to ratio metrics only; remove it or set kind: ratio "
                             f"(metric '{self.name}')")
        if self.kind == "proportion" and self.value == "sum":
            raise ValueError(f"a proportion counts units with at least one '{self.event}'; remove 'value: sum' "
                             f"or use kind: mean (metric '{self.name}')")
        return self

    @property
    def events(self) -> tuple[str, ...]:
        """The feedback events this metric reads."""
        extra = () if self.denominator in (None, EXPOSURES) else (str(self.denominator),)
        return (self.event, *(e for e in extra if e != self.event))


class GuardrailSpec(_Strict):
    """The treatment may not be worse than control on ``metric`` by more than ``margin``."""

    metric: str
    margin: float = Field(gt=0, allow_inf_nan=False)
    relative: bool = True


class CupedSpec(_Strict):
    """CUPED with the same metric over the ``pre_days`` days before the experiment's start."""

    pre_days: float = Field(gt=0, allow_inf_nan=False)


class ExperimentSpec(_Strict):
    """An A/B test: arms and their configured split, metrics, primary, guardrails and how to read them.

    With ``sequential`` (the default) the primary metric is read with the always-valid mSPRT, whose
    mixing variance ``tau^2`` must be fixed before the experiment starts: ``mixing_variance`` is the
    ``mixing_variance`` of the design that sized it (``design(..., sequential=True)``, the square of the
    absolute minimum detectable effect ``mde_relative * baseline``), in squared units of the primary
    metric. Left out, the analysis has to fix it from the data it reads.
    """

    name: str
    control: str = "control"
    arms: dict[str, float]
    unit: str = Field(default="unit_id", min_length=1)
    deployment: str | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    metrics: tuple[MetricSpec, ...]
    primary: str
    guardrails: tuple[GuardrailSpec, ...] = ()
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    correction: Literal["holm", "bh"] = "holm"
    cuped: CupedSpec | None = None
    sequential: bool = True
    aa: bool = False
    mde_relative: float = Field(default=0.05, gt=0, allow_inf_nan=False)
    mixing_variance: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "metrics" not in data:
            data["metrics"] = [dict(m) for m in DEFAULT_METRICS]
            data.setdefault("primary", DEFAULT_PRIMARY)
        metrics = data["metrics"]
        if "primary" not in data and isinstance(metrics, list | tuple) and len(metrics) == 1 \
                and isinstance(metrics[0], dict):
            data["primary"] = metrics[0].get("name")
        return data

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        return check_name(name, what="experiment", error=ExperimentError, example="ranker-ab")

    @field_validator("deployment")
    @classmethod
    def _plain_deployment(cls, deployment: str | None) -> str | None:
        return None if deployment is None else check_name(deployment, what="deployment", error=ExperimentError,
                                                          example="feed")

    @field_validator("arms")
    @classmethod
    def _normalise(cls, arms: dict[str, float]) -> dict[str, float]:
        for arm in arms:
            check_name(arm, what="arm", error=ExperimentError, example="treatment")
        if len(arms) < 2:
            raise ValueError(f"an experiment needs a control and at least one treatment arm, got {list(arms)}; "
                             "write e.g. {control: 0.5, treatment: 0.5}")
        bad = {a: w for a, w in arms.items() if not (math.isfinite(w) and w > 0) or not a}
        if bad:
            raise ValueError(f"every arm needs a non-empty name and a positive weight, got {bad}")
        total = math.fsum(arms.values())
        return {a: w / total for a, w in arms.items()}

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        if self.control not in self.arms:
            raise ValueError(f"control: '{self.control}' is not one of the arms {list(self.arms)}; name the control "
                             "arm with 'control:' or add it to 'arms'")
        names = [m.name for m in self.metrics]
        if not names:
            raise ValueError("metrics: give at least one metric, or leave 'metrics' out for the defaults")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"metrics: the name '{twice[0]}' is used twice; give every metric its own name")
        if self.primary not in names:
            raise ValueError(f"primary: '{self.primary}' is not a metric{_hint(self.primary, names)}; "
                             f"choose one of {', '.join(names)}")
        for i, guard in enumerate(self.guardrails):
            if guard.metric not in names:
                raise ValueError(f"guardrails[{i}].metric: '{guard.metric}' is not a metric"
                                 f"{_hint(guard.metric, names)}; choose one of {', '.join(names)}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must come after start ({self.start.isoformat()})")
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "experiment spec") -> ExperimentSpec:
        """Validate ``data``; failures raise :class:`ExperimentError` naming ``source`` and the key path."""
        if not isinstance(data, dict):
            raise ExperimentError(f"{source}: expected a mapping of keys (name, arms, metrics, ...), "
                                  f"got {type(data).__name__}.")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ExperimentError(describe_validation(exc, source=source, root=ExperimentSpec,
                                                      special=_wording)) from None

    @classmethod
    def load(cls, path: str | Path) -> ExperimentSpec:
        """Read an experiment spec from a YAML file."""
        path = Path(path)
        data = read_yaml(path, error=ExperimentError, missing="no such experiment spec file. Check the path, or "
                                                              "write one with at least 'name:' and 'arms:'.")
        return cls.from_dict(data, source=str(path))

    @property
    def arm_names(self) -> tuple[str, ...]:
        """Control first, then the treatment arms in the order configured."""
        return (self.control, *self.treatments)

    @property
    def treatments(self) -> tuple[str, ...]:
        return tuple(a for a in self.arms if a != self.control)

    @property
    def shares(self) -> tuple[float, ...]:
        """The configured share of units per arm, in :attr:`arm_names` order."""
        return tuple(self.arms[a] for a in self.arm_names)

    @property
    def events(self) -> tuple[str, ...]:
        """Every feedback event a metric reads, in metric order."""
        return tuple(dict.fromkeys(e for m in self.metrics for e in m.events))

    def metric(self, name: str) -> MetricSpec:
        for m in self.metrics:
            if m.name == name:
                return m
        raise ExperimentError(f"experiment '{self.name}' has no metric '{name}'; metrics: "
                              f"{', '.join(m.name for m in self.metrics)}.")


def _hint(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _wording(err: Mapping[str, Any], path: str, message: str) -> str | None:
    """What an experiment spec says differently: a missing primary metric, and times without a zone."""
    if err["type"] == "missing" and path == "primary":
        return ("primary: required when several metrics are given. Add 'primary:' naming the metric the decision "
                "rests on.")
    if str(err["type"]).startswith(("timezone", "datetime")):
        return (f"{path}: {message}, got {err.get('input')!r}. Write a UTC time with its zone, e.g. "
                "2026-01-01T00:00:00Z.")
    return None

