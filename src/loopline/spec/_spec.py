"""``ProblemSpec``: the problem framed once, read from ``loopline.yaml``.

Every later stage reads its settings from here. The models are strict: unknown keys, wrong types and
inconsistent combinations are refused with the key path, the value given and the fix.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from loopline._errors import SpecError
from loopline._names import check_name
from loopline.spec._duration import Duration, format_duration
from loopline.spec._metrics import DEFAULT_PRIMARY, METRICS, Task, at_k
from loopline.spec._metrics_spec import MetricsSpec
from loopline.spec._monitoring import MonitoringSpec
from loopline.spec._retrain import RetrainSpec
from loopline.spec._serving_spec import ServingSpec

ColumnType = Literal["numeric", "categorical", "boolean", "timestamp", "text"]
ModelKind = Literal["linear", "lightgbm"]
HASH_EXCLUDED = ("monitoring", "retrain")
"""Top-level keys that do not change the trained model, so :meth:`ProblemSpec.spec_hash` leaves them out."""
UNHASHED_AT_DEFAULT: tuple[tuple[str, str, object], ...] = (
    ("features", "fixed_at_serving", {}),
    ("features", "reviewed", []),
    ("features", "native_max_levels", 1000),
    ("label", "drop_missing", False),
    ("metrics", "other_k", []),
    ("metrics", "gain", "exponential"),
    ("metrics", "relevant_at", None),
    ("", "timezone", "UTC"),
)
"""Settings added after specs were first hashed, as (block, key, default; block "" for a top-level key): left out
of the hash while they hold their default, so older specs keep theirs, and in it once set."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Strict):
    """Where the training table comes from: a path or glob, or a DuckDB query over named tables."""

    source: str | list[str] | None = None
    sql: str | None = None
    tables: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if (self.source is None) == (self.sql is None):
            raise ValueError(
                "give exactly one of 'source' (a CSV/Parquet path or glob) or 'sql' (a DuckDB query "
                "over the names in 'tables')"
            )
        if self.tables and self.sql is None:
            raise ValueError("'tables' names inputs for 'sql'; add a 'sql' query or remove 'tables'")
        return self


class EventLabelSpec(_Strict):
    """A label built from an event log: an outcome event within a window after each exposure."""

    feedback: str
    event: str = "click"
    window: Duration
    on: list[str] = Field(default_factory=lambda: ["request_id", "item_id"], min_length=1)
    feedback_time: str = "ts"
    aggregate: Literal["any", "count", "sum"] = "any"


class LabelSpec(_Strict):
    """The target: a column of the table, or built from feedback events (``from_events``).

    ``drop_missing`` says what to do with rows whose label column is empty. By default such rows stop the data
    stage: a missing label is often an outcome not known yet (the newest rows) or a broken join, and dropping those
    rows quietly would move the time split and the label rate without anyone deciding it. ``drop_missing: true``
    drops them, and the validation report says how many.
    """

    column: str | None = None
    from_events: EventLabelSpec | None = None
    name: str = "label"
    positive: str | int | float | bool | None = None
    drop_missing: bool = False

    @model_validator(mode="after")
    def _one_label(self) -> LabelSpec:
        if (self.column is None) == (self.from_events is None):
            raise ValueError(
                "give exactly one of 'column' (the label column of the table) or 'from_events' "
                "(an outcome event within a window after each exposure)"
            )
        if self.drop_missing and self.from_events is not None:
            raise ValueError(
                "drop_missing applies to a label column; a label built from events is never missing (exposures "
                "whose window has not closed are dropped and counted as censored). Remove drop_missing"
            )
        return self

    @property
    def target(self) -> str:
        """The column that holds the label once data is loaded."""
        return self.column if self.column is not None else self.name


class FeaturesSpec(_Strict):
    """Which columns become features and how they are typed and encoded.

    ``fixed_at_serving`` maps columns the models train on but never see as they are when predicting: each is held
    at the given value for every prediction, offline and online (a request need not send it). The feed position is
    the usual one: a click depends on where the item was shown, which the ranking decides; trained with the logged
    position and scored at position 0, the model ranks by the engagement it expects at the top of the feed,
    without learning the old ranking's choices as if they were the items' appeal.
    """

    include: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    types: dict[str, ColumnType] = Field(default_factory=dict)
    known_after: list[str] = Field(default_factory=list)
    high_cardinality: int = Field(default=50, ge=2)
    """Linear models: a categorical with more values than this is target-encoded or hashed instead of one-hot."""
    native_max_levels: int = Field(default=1000, ge=2)
    """Tree models (LightGBM): a categorical with at most this many values (and training rows to match: 20 per
    value on average) is given as native category codes, with more it is target-encoded or hashed (see
    ``loopline.features._plan``)."""
    high_cardinality_encoding: Literal["target", "hash"] = "target"
    hash_buckets: int = Field(default=256, ge=8)
    fixed_at_serving: dict[str, float | int | str | bool] = Field(default_factory=dict)
    reviewed: list[str] = Field(default_factory=list)
    """Features whose leak warning was checked and accepted (known at prediction time after all): still reported,
    no longer blocking ``--promote``."""

    @model_validator(mode="after")
    def _fixed_columns_are_features(self) -> FeaturesSpec:
        for name, value in self.fixed_at_serving.items():
            if name in self.exclude or name in self.known_after:
                where = "exclude" if name in self.exclude else "known_after"
                raise ValueError(f"fixed_at_serving names '{name}', which features.{where} also lists; a column held "
                                 f"fixed at serving is a training feature: remove it from {where}")
            if isinstance(value, float) and value != value:
                raise ValueError(f"fixed_at_serving.{name}: give the value to hold it at, not NaN")
        if self.include is not None:
            absent = sorted(set(self.fixed_at_serving) - set(self.include))
            if absent:
                raise ValueError(f"fixed_at_serving names {absent}, which features.include does not list; add them")
        return self

    @model_validator(mode="after")
    def _known_after_never_included(self) -> FeaturesSpec:
        clash = sorted(set(self.known_after) & set(self.include or []))
        if clash:
            raise ValueError(
                f"{clash} are listed in both 'include' and 'known_after'; a column recorded after "
                "the event can never be a feature. Remove them from 'include'"
            )
        return self


class FeatureTableSpec(_Strict):
    """A table joined point-in-time: each event gets the latest value known before its time."""

    name: str
    source: str
    key: str | list[str]
    time: str
    max_age: Duration | None = None
    columns: list[str] | None = None
    tie_break: str | None = None

    @property
    def keys(self) -> list[str]:
        return [self.key] if isinstance(self.key, str) else list(self.key)


class SplitSpec(_Strict):
    """A time-based train/validation/test split, by cut dates or by fractions of time-ordered rows."""

    by: Literal["time"] = "time"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    valid_start: datetime | date | None = None
    test_start: datetime | date | None = None
    group_by_entity: bool = False
    gap: Duration = timedelta(0)

    @model_validator(mode="after")
    def _consistent(self) -> SplitSpec:
        if any(f <= 0 for f in self.fractions) or abs(sum(self.fractions) - 1.0) > 1e-6:
            raise ValueError(f"fractions must be three positive numbers summing to 1, got {self.fractions}")
        if (self.valid_start is None) != (self.test_start is None):
            raise ValueError("give both 'valid_start' and 'test_start' (cut dates), or neither")
        if (self.valid_start is not None and self.test_start is not None
                and _as_datetime(self.valid_start) >= _as_datetime(self.test_start)):
            raise ValueError(
                f"valid_start ({self.valid_start}) must come before test_start ({self.test_start})"
            )
        return self


class DecisionSpec(_Strict):
    """How the decision threshold is set: by the costs of errors, or by a recall or precision floor."""

    false_positive_cost: float = Field(default=1.0, gt=0)
    false_negative_cost: float = Field(default=1.0, gt=0)
    recall_floor: float | None = Field(default=None, gt=0, le=1)
    precision_floor: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _one_floor(self) -> DecisionSpec:
        if self.recall_floor is not None and self.precision_floor is not None:
            raise ValueError("give at most one of 'recall_floor' and 'precision_floor'")
        return self


class BaselineSpec(_Strict):
    """A heuristic baseline: a DuckDB SQL expression over columns; larger means more likely positive."""

    rule: str | None = None


class TuneSpec(_Strict):
    """A search over LightGBM's parameters: at most ``trials`` parameter sets (the untuned one first), within
    ``budget``. ``trials`` alone has no time limit, so the same spec and data choose the same parameters; with
    neither, the budget is two minutes (``tune: {}`` hashes as it did before ``budget`` could be left out)."""

    budget: Duration | None = None
    trials: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _default_budget(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("budget") is None and data.get("trials") is None:
            return {**data, "budget": timedelta(minutes=2)}
        return data


class ModelsSpec(_Strict):
    candidates: list[ModelKind] = Field(default_factory=lambda: _default_candidates(), min_length=1)
    calibration: Literal["auto", "isotonic", "platt", "none"] = "auto"
    early_stopping_rounds: int = Field(default=50, ge=1)
    lightgbm: dict[str, Any] = Field(default_factory=dict)
    tune: TuneSpec | None = None


class SamplingSpec(_Strict):
    """Negative downsampling of the training split (corrected for in calibration) and a row cap."""

    negative_rate: float | None = Field(default=None, gt=0, le=1)
    max_rows: int | None = Field(default=None, ge=100)


class ProblemSpec(_Strict):
    """The problem, framed once. Load it with :meth:`ProblemSpec.load`."""

    name: str
    task: Task
    description: str = ""
    data: DataSpec
    event_time: str
    entity: str | None = None
    unit: str | None = None
    group: str | None = None
    label: LabelSpec
    features: FeaturesSpec = Field(default_factory=FeaturesSpec)
    feature_tables: list[FeatureTableSpec] = Field(default_factory=list)
    split: SplitSpec = Field(default_factory=SplitSpec)
    metrics: MetricsSpec = Field(default_factory=MetricsSpec)
    decision: DecisionSpec = Field(default_factory=DecisionSpec)
    slices: list[str] = Field(default_factory=list)
    sensitive: list[str] = Field(default_factory=list)
    baseline: BaselineSpec = Field(default_factory=BaselineSpec)
    models: ModelsSpec = Field(default_factory=ModelsSpec)
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    retrain: RetrainSpec = Field(default_factory=RetrainSpec)
    timezone: str = "UTC"
    """The IANA time zone (``Europe/Paris``) the spec's dates without an offset are read in (``split.valid_start:
    2013-09-01`` is midnight there) and split boundaries are printed in; times are stored and compared in UTC."""
    seed: int = 0

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str = PrivateAttr(default="loopline.yaml")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:  # the one name rule (loopline._names): it becomes folder names
        return check_name(value, what="the spec's", error=SpecError)

    @model_validator(mode="after")
    def _consistent(self) -> ProblemSpec:
        if self.task == "ranking" and self.group is None:
            raise ValueError(
                "task 'ranking' needs 'group': the column that identifies one query or request "
                "(e.g. request_id), so items are ranked within it"
            )
        if self.split.group_by_entity and self.entity is None:
            raise ValueError("split.group_by_entity needs 'entity': the column that identifies one entity")
        allowed = (*METRICS[self.task], *(f"ndcg@{k}" for k in self.metrics.other_k))
        self._ranking_settings()
        for where, name in [("metrics.primary", self.metrics.primary), *(
            (f"metrics.report[{i}]", m) for i, m in enumerate(self.metrics.report)
        )]:
            if name is not None and name not in allowed:
                same = " (NDCG at the primary k is 'ndcg')" if name == f"ndcg@{self.metrics.k}" else ""
                raise ValueError(
                    f"{where}: '{name}' is not a {self.task} metric{same}; choose one of {', '.join(allowed)}"
                    + (" (ndcg@<k> needs k in metrics.k)" if at_k(name) is not None and not same else "")
                )
        decay = self.retrain.triggers.decay
        if decay is not None and decay.metric not in METRICS[self.task]:  # monitoring measures these (not ndcg@5)
            raise ValueError(f"retrain.triggers.decay.metric: '{decay.metric}' is not a {self.task} metric; choose one "
                             f"of {', '.join(METRICS[self.task])}")
        self._retrain_fits_the_label()
        reserved = {self.event_time, self.label.target}
        leaked = sorted(reserved & set(self.features.include or []))
        if leaked:
            raise ValueError(f"features.include lists {leaked}, which is the event time or the label")
        return self

    def _ranking_settings(self) -> None:
        """metrics.gain, relevant_at and a list of k measure rankings; refused on other tasks, where they do nothing."""
        if self.task == "ranking":
            return
        given = [key for key, default in (("gain", "exponential"), ("relevant_at", None), ("other_k", ()))
                 if getattr(self.metrics, key) != default]
        if given:
            key = "k (a list)" if given[0] == "other_k" else given[0]
            raise ValueError(f"metrics.{key} applies to ranking, but the task is {self.task}; remove it"
                             + (" or give one k" if given[0] == "other_k" else ""))

    def _retrain_fits_the_label(self) -> None:
        """The loop's windows against the label's: a test split that the label window empties, a decay trigger that
        never sees a closed label, a shadow gate or decay trigger without labels from events."""
        retrain = self.retrain
        if not retrain.triggers.any():
            return
        events = self.label.from_events
        if events is None:
            if retrain.triggers.decay is not None or retrain.gates.shadow is not None:
                used = "retrain.triggers.decay" if retrain.triggers.decay is not None else "retrain.gates.shadow"
                raise ValueError(f"{used} measures the served model on labels from the feedback log, but the label "
                                 f"is the column '{self.label.column}'; give label.from_events, or remove {used}")
            return
        closed = retrain.judge.window - events.window - self.split.gap
        if closed <= timedelta(0):
            raise ValueError(f"retrain.judge.window ({format_duration(retrain.judge.window)}) leaves no labelled row "
                             f"to judge on: the last label.from_events.window ({format_duration(events.window)}) of "
                             f"it is censored and split.gap ({format_duration(self.split.gap)}) dropped; lengthen it")
        if retrain.triggers.decay is not None and self.monitoring.window <= events.window:
            raise ValueError(f"retrain.triggers.decay reads labels over monitoring.window "
                             f"({format_duration(self.monitoring.window)}), no longer than the label window "
                             f"({format_duration(events.window)}), so none is ever closed; widen monitoring.window")

    # -- derived values -------------------------------------------------------------------------

    @property
    def primary_metric(self) -> str:
        return self.metrics.primary or DEFAULT_PRIMARY[self.task]

    @property
    def randomization_unit(self) -> str | None:
        return self.unit or self.entity

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the spec are resolved against (the spec file's folder)."""
        return self._base_dir

    @property
    def source_name(self) -> str:
        """The file the spec was read from, for error messages."""
        return self._source

    def resolve(self, path: str) -> str:
        """An input path or glob from the spec, made absolute against the spec's folder."""
        p = Path(path).expanduser()
        return str(p if p.is_absolute() else self._base_dir / p)

    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of the spec: equal specs have equal hashes. ``monitoring`` and ``retrain``
        are left out: they do not change the trained model (and specs written before they existed keep their hash);
        so are settings added later while they hold their default (``features.fixed_at_serving`` empty,
        ``label.drop_missing`` false, ``metrics.gain`` exponential, no ``metrics.relevant_at``, one ``metrics.k``):
        see :data:`UNHASHED_AT_DEFAULT`."""
        data = self.model_dump(mode="json", exclude=set(HASH_EXCLUDED))
        for block, key, default in UNHASHED_AT_DEFAULT:
            holder = data[block] if block else data
            if holder[key] == default:
                del holder[key]
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def with_base_dir(self, base_dir: Path, source: str | None = None) -> ProblemSpec:
        """The same spec, resolving relative paths against ``base_dir``."""
        copy = self.model_copy()
        copy._base_dir = Path(base_dir).resolve()
        copy._source = source or self._source
        return copy

    @classmethod
    def load(cls, path: str | Path) -> ProblemSpec:
        """Read and validate ``loopline.yaml``; errors name the key path and the fix."""
        from loopline.spec._load import load_spec

        return load_spec(Path(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base_dir: Path | None = None,
                  source: str = "loopline.yaml") -> ProblemSpec:
        """Validate a spec given as a mapping (the parsed YAML)."""
        from loopline.spec._load import spec_from_dict

        return spec_from_dict(data, base_dir=base_dir or Path.cwd(), source=source)


def _default_candidates() -> list[ModelKind]:
    return ["linear", "lightgbm"]


def check_timezone(value: str) -> str:
    """``value`` when it names an IANA time zone; else a message with the closest names."""
    import difflib
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(value, sorted(zoneinfo.available_timezones()), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else \
            " (an IANA name such as 'UTC', 'Europe/Paris' or 'America/New_York')"
        raise ValueError(f"'{value}' is not a time zone{hint}") from None
    return value


def _as_datetime(value: datetime | date) -> datetime:
    return value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
