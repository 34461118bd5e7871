"""The problem spec: task, data, label, features, split, metrics, decision costs, slices, serving.

>>> spec = ProblemSpec.from_dict({
...     "name": "churn", "task": "binary", "data": {"source": "customers.csv"},
...     "event_time": "signup_at", "label": {"column": "churned"}})
>>> spec.primary_metric
'log_loss'
"""

from __future__ import annotations

from loopline.spec._duration import format_duration, parse_duration
from loopline.spec._metrics import DEFAULT_PRIMARY, LOWER_IS_BETTER, METRICS, Task, higher_is_better
from loopline.spec._spec import (
    BaselineSpec,
    ColumnType,
    DataSpec,
    DecisionSpec,
    EventLabelSpec,
    FeaturesSpec,
    FeatureTableSpec,
    LabelSpec,
    MetricsSpec,
    ModelKind,
    ModelsSpec,
    ProblemSpec,
    SamplingSpec,
    ServingSpec,
    SplitSpec,
    TuneSpec,
)

__all__ = [
    "DEFAULT_PRIMARY",
    "LOWER_IS_BETTER",
    "METRICS",
    "BaselineSpec",
    "ColumnType",
    "DataSpec",
    "DecisionSpec",
    "EventLabelSpec",
    "FeatureTableSpec",
    "FeaturesSpec",
    "LabelSpec",
    "MetricsSpec",
    "ModelKind",
    "ModelsSpec",
    "ProblemSpec",
    "SamplingSpec",
    "ServingSpec",
    "SplitSpec",
    "Task",
    "TuneSpec",
    "format_duration",
    "higher_is_better",
    "parse_duration",
]
