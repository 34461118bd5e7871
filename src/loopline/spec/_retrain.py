"""The spec's ``retrain:`` block: when the loop retrains, on what data, how a challenger is judged, and the gates.

```yaml
retrain:
  deployment: feed            # the deployment whose champion the loop looks after; the gates run in it
  triggers:
    schedule: 7d              # retrain when the champion's training data ends this long before now
    drift: true               # ... when monitoring finds the dataset drifted over monitoring.window
    drift_ignore: [item_id]   #     (features whose drift does not count)
    decay: {metric: roc_auc, drop: 0.02}   # ... when the realised metric falls this far below the champion's
  mode: full                  # full: retrain on the sliding window; warm_start: continue the champion's booster
                              # (its encoders kept: a category new since the champion stays unknown to it)
  window: 28d                 # the training data: this long before now (null: all of it)
  min_interval: 1d            # never start a retrain sooner than this after the last one
  judge: {window: 2d, valid: 2d, min_improvement: 0.0, significant: true}
  gates:
    shadow: {duration: 1d, min_rows: 1000, max_loss_increase: 0.0}
    canary: {share: 0.05, duration: 1d, min_requests: 200, max_error_rate: 0.02, max_p99_ms: 100}
    ab: {share: 0.5, min_duration: 1d, max_duration: 14d, primary: ctr}
```

The newest ``judge.window`` of labelled data is held out: the challenger is fitted on what comes before it (the
``judge.valid`` just before it is its validation split) and judged against the champion on it, by the spec's
primary metric. A block without a trigger is off. A gate set to ``null`` is skipped; with every gate skipped a
challenger that passes the judge is promoted at once (no deployment needed). None of the block changes the
trained model, so :meth:`ProblemSpec.spec_hash` leaves it out.

>>> block = RetrainSpec.model_validate({"deployment": "feed", "triggers": {"schedule": "7d"},
...                                     "gates": {"canary": None}})
>>> block.triggers.schedule, block.gates.order()
(datetime.timedelta(days=7), ['shadow', 'ab'])
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loopline._errors import SpecError
from loopline._names import check_name
from loopline.spec._duration import Duration, format_duration

RetrainMode = Literal["full", "warm_start"]
GATES = ("shadow", "canary", "ab")
"""The gates in the order a challenger passes them."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _positive(value: timedelta | None, *, what: str) -> timedelta | None:
    if value is not None and value <= timedelta(0):
        raise ValueError(f"{what} must be longer than 0, got {format_duration(value)!r}; give e.g. '1d'.")
    return value


class DecayTrigger(_Strict):
    """Retrain when the realised ``metric`` (over ``monitoring.window``, from the labels known by now) is worse by more
    than ``drop`` (in the metric's own units, in its bad direction) than the champion's own realised value over its
    first full window of serving (its test-split value while it has served none)."""

    metric: str
    drop: float = Field(gt=0, allow_inf_nan=False)


class TriggersSpec(_Strict):
    """``drift_ignore`` lists features whose drift does not count (ids of ever-new items, say, which drift by
    construction); the dataset drifts when ``monitoring.drift.dataset_share`` of the others do."""

    schedule: Duration | None = None
    drift: bool = False
    drift_ignore: list[str] = Field(default_factory=list)
    decay: DecayTrigger | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: timedelta | None) -> timedelta | None:
        return _positive(value, what="triggers.schedule")

    def any(self) -> bool:
        return self.schedule is not None or self.drift or self.decay is not None


class JudgeSpec(_Strict):
    """The freshest ``window`` of labelled data is the challenger's test split, the ``valid`` before it its
    validation split; the challenger passes when it beats the champion there by more than ``min_improvement``
    (primary metric units) and beats every baseline. With ``significant`` (the default) the whole 95% paired
    bootstrap interval of the improvement (``n_boot`` resamples) must lie above ``min_improvement``, not only the
    point estimate."""

    window: Duration = timedelta(days=2)
    valid: Duration = timedelta(days=2)
    min_improvement: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    significant: bool = True
    n_boot: int = Field(default=200, ge=0)

    @field_validator("n_boot")
    @classmethod
    def _resamples(cls, value: int) -> int:
        if 0 < value < 20:
            raise ValueError(f"judge.n_boot must be 0 (no interval) or at least 20 resamples, got {value}")
        return value

    @field_validator("window", "valid")
    @classmethod
    def _spans(cls, value: timedelta) -> timedelta:
        _positive(value, what="judge.window and judge.valid")
        return value


class ShadowGate(_Strict):
    """The challenger scores every request beside the champion, unseen, for ``duration``. It passes with at least
    ``min_rows`` scored exposures and, on the served items whose labels are known, a primary metric no worse than the
    champion's on the same items by more than ``max_loss_increase``."""

    duration: Duration = timedelta(days=1)
    min_rows: int = Field(default=1000, ge=1)
    max_loss_increase: float = Field(default=0.0, ge=0, allow_inf_nan=False)

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: timedelta) -> timedelta:
        _positive(value, what="gates.shadow.duration")
        return value


class CanaryGate(_Strict):
    """The challenger serves ``share`` of units for ``duration``; the server takes it out at once past
    ``max_error_rate`` or ``max_p99_ms`` over ``window_s``; the gate passes when it is still in after ``duration``
    with at least ``min_requests`` requests and a p99 latency within ``max_p99_ms``."""

    share: float = Field(default=0.05, gt=0, lt=1)
    duration: Duration = timedelta(days=1)
    min_requests: int = Field(default=200, ge=1)
    max_error_rate: float = Field(default=0.02, gt=0, le=1)
    max_p99_ms: float = Field(default=100.0, gt=0, allow_inf_nan=False)
    window_s: float = Field(default=60.0, gt=0, allow_inf_nan=False)

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: timedelta) -> timedelta:
        _positive(value, what="gates.canary.duration")
        return value


class AbGate(_Strict):
    """An A/B test of champion (control) against challenger (treatment, ``share`` of units), analysed by
    ``loopline.experiments`` (always-valid by default, so it may be read at every run). It is read from
    ``min_duration`` on: "ship" promotes, "do not ship" rolls back, and still undecided at ``max_duration`` rolls back.
    ``experiment`` holds further experiment settings (metrics, guardrails, cuped, alpha, ...), as an experiment
    YAML would."""

    share: float = Field(default=0.5, gt=0, lt=1)
    min_duration: Duration = timedelta(days=1)
    max_duration: Duration = timedelta(days=14)
    primary: str = "ctr"
    experiment: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _spans(self) -> AbGate:
        _positive(self.min_duration, what="gates.ab.min_duration")
        if self.max_duration < self.min_duration:
            raise ValueError(f"gates.ab.max_duration ({format_duration(self.max_duration)}) must be at least "
                             f"min_duration ({format_duration(self.min_duration)})")
        taken = sorted({"name", "arms", "control", "deployment", "primary", "start"} & set(self.experiment))
        if taken:
            raise ValueError(f"gates.ab.experiment may not set {taken}: the loop sets them (the primary metric is "
                             "gates.ab.primary)")
        return self


class GatesSpec(_Strict):
    shadow: ShadowGate | None = Field(default_factory=ShadowGate)
    canary: CanaryGate | None = Field(default_factory=CanaryGate)
    ab: AbGate | None = Field(default_factory=AbGate)

    def order(self) -> list[str]:
        """The gates that are on, in the order a challenger passes them."""
        return [g for g in GATES if getattr(self, g) is not None]


class RetrainSpec(_Strict):
    deployment: str | None = None
    triggers: TriggersSpec = Field(default_factory=TriggersSpec)
    mode: RetrainMode = "full"
    window: Duration | None = timedelta(days=28)
    min_interval: Duration = timedelta(days=1)
    warm_start_rounds: int = Field(default=100, ge=1)
    judge: JudgeSpec = Field(default_factory=JudgeSpec)
    gates: GatesSpec = Field(default_factory=GatesSpec)

    @field_validator("deployment")
    @classmethod
    def _deployment(cls, value: str | None) -> str | None:
        if value is not None:
            check_name(value, what="retrain.deployment", error=SpecError, example="feed")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RetrainSpec:
        _positive(self.window, what="retrain.window")
        if self.window is not None and self.window <= self.judge.window + self.judge.valid:
            raise ValueError(
                f"retrain.window ({format_duration(self.window)}) must be longer than judge.window + judge.valid "
                f"({format_duration(self.judge.window + self.judge.valid)}): what is left before them is the "
                "training split")
        if self.triggers.any() and self.gates.order() and self.deployment is None:
            raise ValueError(
                f"the gates {self.gates.order()} run in a deployment: set retrain.deployment (e.g. 'feed'), or turn "
                "every gate off (gates: {shadow: null, canary: null, ab: null}) to promote on the judge alone")
        return self

    def gate_time(self) -> timedelta:
        """The least time the gates take: each gate's duration (the A/B test's minimum)."""
        g = self.gates
        return sum((x for x in (g.shadow and g.shadow.duration, g.canary and g.canary.duration,
                                g.ab and g.ab.min_duration) if x), timedelta(0))
